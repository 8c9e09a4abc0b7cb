"""Structure and flexibility rows: what each deployable is made of.

No load here: code size, dependencies and image size per deployable, the stack each image
carries, and who owns it (CODEOWNERS). The team and development rows are measured from the
repository's history by ``lab/experiments/teams.py``."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lab import codeowners
from lab.compose import project_root
from lab.deployables import contains, copy_list
from lab.experiments.model import ExperimentResult, Row
from lab.imports import repo_files

DEPLOYABLES = {
    "catalog": ("micro", "services/catalog/Dockerfile", "docker/requirements/catalog.txt"),
    "orders": ("micro", "services/orders/Dockerfile", "docker/requirements/orders.txt"),
    "gateway": ("both", "services/gateway/Dockerfile", "docker/requirements/gateway.txt"),
    "monolith": ("mono", "monolith/Dockerfile", "docker/requirements/monolith.txt"),
}
STACK = ("fastapi", "sqlalchemy", "psycopg", "httpx", "tenacity", "aiohttp", "uvicorn", "pydantic")


def code_paths(dockerfile: Path) -> list[str]:
    """The files and folders a Dockerfile copies into its image."""
    return copy_list(dockerfile.read_text())


def lines_of_code(root: Path, paths: list[str]) -> tuple[int, int]:
    """(files, non-blank lines) of Python under ``paths``."""
    files = lines = 0
    for path in paths:
        target = root / path
        for source in [target] if target.is_file() else sorted(target.rglob("*.py")):
            if source.suffix != ".py" or "__pycache__" in source.parts:
                continue
            files += 1
            lines += sum(1 for line in source.read_text().splitlines() if line.strip())
    return files, lines


def owners(root: Path, paths: list[str]) -> list[str]:
    """Teams owning the files of those paths, by CODEOWNERS (last matching rule wins)."""
    rules = codeowners.load(root)
    files = repo_files(root)
    return sorted(codeowners.teams(rules, (f for f in files if contains(paths, f))))


def image_size_mb(image: str) -> float | None:
    try:
        probe = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", image],
            capture_output=True, text=True, check=False, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return round(int(probe.stdout.strip()) / 1e6) if probe.returncode == 0 else None


def run() -> ExperimentResult:
    root = project_root()
    units: dict[str, dict[str, Any]] = {}
    for unit, (arch, dockerfile, lock) in DEPLOYABLES.items():
        paths = code_paths(root / dockerfile)
        files, lines = lines_of_code(root, paths)
        pins = [
            line.split("==")[0] for line in (root / lock).read_text().splitlines() if "==" in line
        ]
        units[unit] = {
            "arch": arch,
            "files": files,
            "lines": lines,
            "dependencies": len(pins),
            "stack": [p for p in STACK if p in pins],
            "image_mb": image_size_mb(f"twinshop/{unit}:latest"),
            "owners": owners(root, paths),
        }
    micro = {u: d for u, d in units.items() if d["arch"] == "micro"}
    mono = units["monolith"]

    def each(key: str, fmt: str = "{}") -> str:
        return ", ".join(f"{u} {fmt.format(d[key])}" for u, d in micro.items())

    def image(d: dict[str, Any]) -> str:
        return "not built" if d["image_mb"] is None else f"{d['image_mb']} MB"

    images = [d["image_mb"] for d in micro.values()]
    image_row = "images " + ", ".join(f"{u} {image(d)}" for u, d in micro.items())
    if None in images or mono["image_mb"] is None:
        sizes = "image sizes: build the images to measure them (twinshop images build)"
    else:
        sizes = (
            f"the services' images weigh {sum(images):.0f} MB together vs the monolith's "
            f"{mono['image_mb']} MB"
        )
    rows = [
        Row(
            "Structure",
            "lines of Python, pinned dependencies and size of each deployable's image",
            f"{each('lines')} lines; {each('dependencies')} deps; {image_row}",
            f"monolith {mono['lines']} lines; {mono['dependencies']} deps; image {image(mono)}",
            f"each service holds {min(d['lines'] for d in micro.values())}–"
            f"{max(d['lines'] for d in micro.values())} lines vs the monolith's {mono['lines']}; "
            f"in total micro ships {sum(d['lines'] for d in micro.values())} lines "
            f"(the kernel is copied into each); {sizes}",
        ),
        Row(
            "Technological flexibility",
            "the Python stack each image carries (docker/requirements/*.txt)",
            "; ".join(f"{u}: {'+'.join(d['stack'])}" for u, d in micro.items()),
            "monolith: " + "+".join(mono["stack"]),
            "each service carries only what it uses (orders alone has httpx and tenacity); "
            "all are still Python — the freedom is there, this shop does not use it",
        ),
    ]
    return ExperimentResult("structure", rows, data={"deployables": units})
