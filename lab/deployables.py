"""The deployables and what each image contains, read from their Dockerfiles.

One source of truth: the paths a Dockerfile copies into its image (its ``COPY`` sources and
the ``cp -r --parents`` list of its build stage) are the paths that trigger its pipeline
(``lab/pipelines.py``) and the paths whose change rebuilds it (``twinshop experiment teams``).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError


@dataclass(frozen=True)
class Deployable:
    """One image, and the units each architecture runs from it."""

    name: str
    dockerfile: str
    units: dict[str, tuple[str, ...]]  # architecture -> units run from this image

    @property
    def tooling(self) -> bool:
        """Shared by both architectures alike (load generator, dashboard): not compared."""
        return not self.units


DEPLOYABLES: tuple[Deployable, ...] = (
    Deployable("catalog", "services/catalog/Dockerfile", {"micro": ("catalog",)}),
    Deployable("orders", "services/orders/Dockerfile", {"micro": ("orders",)}),
    Deployable("gateway", "services/gateway/Dockerfile", {"micro": ("gateway",), "mono": ("lb",)}),
    Deployable("monolith", "monolith/Dockerfile", {"mono": ("monolith",)}),
    Deployable("dashboard", "lab/dashboard/Dockerfile", {}),
    Deployable("locust", "loadtests/Dockerfile", {}),
)
ARCHES = ("micro", "mono")


def deployable(name: str) -> Deployable:
    for item in DEPLOYABLES:
        if item.name == name:
            return item
    names = ", ".join(d.name for d in DEPLOYABLES)
    raise LabError(f"no deployable {name!r}; choose one of: {names}")


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        parts = line.strip().split(None, 1)
        if parts:
            found.append((parts[0].upper(), parts[1] if len(parts) > 1 else ""))
    return found


def copy_list(text: str) -> list[str]:
    """The repository paths an image contains, in the Dockerfile's order: every ``COPY``
    source from the build context (not ``COPY . …``, which only feeds the build stage, and not
    ``--from=`` stages) and every path of a ``cp -r --parents … DEST`` in a ``RUN``."""
    paths: list[str] = []
    for instruction, args in _instructions(text):
        if instruction == "COPY":
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if any(w.startswith("--from") for w in shlex.split(args)) or len(words) < 2:
                continue
            paths += [w for w in words[:-1] if w not in (".", "./")]
        elif instruction == "RUN":
            for command in re.split(r"&&|;|\|\|", args):
                words = command.split()
                if words[:1] == ["cp"] and "--parents" in words:
                    paths += [w for w in words[1:-1] if not w.startswith("-")]
    return [path.rstrip("/") + ("/" if path.endswith("/") else "") for path in paths]


def entry(text: str) -> str | None:
    """What the image runs: a module (``services.catalog.app``) or a file
    (``loadtests/locustfile.py``), read from its ``CMD``."""
    for instruction, args in reversed(_instructions(text)):
        if instruction != "CMD":
            continue
        words = re.findall(r'"([^"]*)"', args) or args.split()
        for word in words:
            if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", word):
                return word.split(":")[0]
        for word in words:
            if word.endswith(".py"):
                return word.removeprefix("/opt/").removeprefix("app/")
    return None


def image_paths(root: Path, item: Deployable) -> list[str]:
    """The Dockerfile itself, then everything it copies into the image."""
    dockerfile = root / item.dockerfile
    if not dockerfile.exists():
        raise LabError(f"{item.dockerfile} is missing: cannot tell what {item.name}'s image holds")
    return [item.dockerfile, *copy_list(dockerfile.read_text())]


def contains(paths: list[str], file: str) -> bool:
    """Does an image with these copied ``paths`` hold ``file`` (a repository path)?
    A path copies a file, or a folder and everything below it."""
    for path in paths:
        bare = path.rstrip("/")
        if file == bare or file.startswith(bare + "/"):
            return True
    return False
