"""Pinned requirements per image (``docker/requirements/<image>.txt``), resolved from the
extras in ``pyproject.toml``: each image installs exactly its own dependencies, the same
versions online and offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
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


def _pins(requirement_strings: list[str], *, deps: bool, what: str) -> dict[str, str]:
    if not requirement_strings:
        return {}
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--ignore-installed", "--report", "-", *([] if deps else ["--no-deps"]),
            *requirement_strings,
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


def resolve(project: Path, extra: str) -> list[str]:
    """``name==version`` for every distribution ``.[extra]`` needs (``FILES_ONLY`` ones
    without their dependencies)."""
    wanted = requirements(project, extra)
    files_only = [r for r in wanted if name_of(r) in FILES_ONLY]
    pins = _pins([r for r in wanted if r not in files_only], deps=True, what=f"the {extra} extra")
    pins.update(_pins(files_only, deps=False, what=f"the files of the {extra} extra"))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def write_locks(project: Path) -> list[Path]:
    folder = project / "docker" / "requirements"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for image, extra in IMAGE_EXTRAS.items():
        path = folder / f"{image}.txt"
        header = f"# {image} image: pinned from the [{extra}] extra by `twinshop images lock`\n"
        path.write_text(header + "\n".join(resolve(project, extra)) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_locks(Path(__file__).resolve().parent.parent):
        print(path)
