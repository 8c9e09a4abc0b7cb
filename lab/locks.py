"""Pinned requirements per image (``docker/requirements/<image>.txt``), resolved from the
extras in ``pyproject.toml``: each image installs exactly its own dependencies, the same
versions online and offline."""

from __future__ import annotations

import json
import subprocess
import sys
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


def resolve(project: Path, extra: str) -> list[str]:
    """``name==version`` for every distribution ``.[extra]`` needs, twinshop excluded."""
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--ignore-installed", "--report", "-", f"{project}[{extra}]",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise LabError(f"could not resolve the {extra} extra: {result.stderr.strip()[-500:]}")
    report = json.loads(result.stdout)
    pins = {
        item["metadata"]["name"].lower(): item["metadata"]["version"]
        for item in report["install"]
        if item["metadata"]["name"].lower() != "twinshop"
    }
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
