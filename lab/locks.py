"""Pinned requirements per image (``docker/requirements/<image>.txt``), resolved from the
extras in ``pyproject.toml``: each image installs exactly its own dependencies, the same
versions online and offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from lab.errors import LabError

IMAGE_EXTRAS = {
    "catalog": "catalog",
    "orders": "orders",
    "monolith": "monolith",
    "gateway": "gateway",
    "locust": "loadtest",
    "dashboard": "dashboard",
}


FILES_ONLY = frozenset({"fastapi-offline"})
"""Distributions whose files an image reads and never imports (Swagger UI's, for /docs):
pinned without their dependencies, which the images' ``pip install --no-deps`` then leaves
out, so the gateway's image holds Swagger UI but no FastAPI."""


def name_of(requirement: str) -> str:
    """The normalised distribution name of a requirement string (``Foo_Bar>=1`` -> foo-bar)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if match is None:
        raise LabError(f"not a requirement: {requirement!r}")
    return re.sub(r"[-_.]+", "-", match[1]).lower()


def requirements(project: Path, extra: str) -> list[str]:
    """The shared kernel's dependencies plus those of ``extra``, from pyproject.toml."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return [*meta.get("dependencies", []), *meta["optional-dependencies"][extra]]


def _pins(
    requirement_strings: list[str], *, deps: bool, what: str, constraints: Path | None = None
) -> dict[str, str]:
    if not requirement_strings:
        return {}
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--ignore-installed", "--report", "-", *([] if deps else ["--no-deps"]),
            *(["--constraint", str(constraints)] if constraints else []), *requirement_strings,
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LabError(f"could not resolve {what}: {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    return {
        item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]
    }


def resolve(project: Path, extra: str, constraints: Path | None = None) -> list[str]:
    """``name==version`` for every distribution ``.[extra]`` needs (``FILES_ONLY`` ones
    without their dependencies), within ``constraints`` (a pip constraints file) if given."""
    wanted = requirements(project, extra)
    files_only = [r for r in wanted if name_of(r) in FILES_ONLY]
    pins = _pins(
        [r for r in wanted if r not in files_only],
        deps=True,
        what=f"the {extra} extra",
        constraints=constraints,
    )
    pins.update(_pins(files_only, deps=False, what=f"the files of the {extra} extra"))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def disagreements(locks: dict[str, list[str]]) -> dict[str, set[str]]:
    """The distributions that two images pin at different versions: ``{name: versions}``.
    The wheelhouse downloads every image's pins at once, so they must agree."""
    versions: dict[str, set[str]] = {}
    for pins in locks.values():
        for pin in pins:
            name, _, version = pin.partition("==")
            versions.setdefault(name_of(name), set()).add(version)
    return {name: found for name, found in versions.items() if len(found) > 1}


def write_locks(project: Path) -> list[Path]:
    """Resolve every image's extra; where two images disagree on a version (one image's
    dependencies hold a package back that another image gets at its newest), resolve again
    with the lowest of those versions as a constraint for all."""
    locks = {image: resolve(project, extra) for image, extra in IMAGE_EXTRAS.items()}
    if conflicts := disagreements(locks):
        with tempfile.TemporaryDirectory() as scratch:
            constraints = Path(scratch) / "constraints.txt"
            constraints.write_text(
                "".join(
                    f"{name}=={min(found, key=_version_key)}\n"
                    for name, found in sorted(conflicts.items())
                )
            )
            locks = {
                image: resolve(project, extra, constraints) for image, extra in IMAGE_EXTRAS.items()
            }
        if still := disagreements(locks):
            raise LabError(f"the images' pins still disagree: {still}")
    folder = project / "docker" / "requirements"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for image, extra in IMAGE_EXTRAS.items():
        path = folder / f"{image}.txt"
        header = f"# {image} image: pinned from the [{extra}] extra by `twinshop images lock`\n"
        path.write_text(header + "\n".join(locks[image]) + "\n")
        written.append(path)
    return written


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Enough of PEP 440 to order two releases of one package (1.45.2 < 1.45.10)."""
    return tuple(
        (int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[.+-]", version)
    )


if __name__ == "__main__":
    for path in write_locks(Path(__file__).resolve().parent.parent):
        print(path)
