"""Structure, flexibility, development and team rows: what each deployable is made of.

No load here: code size, dependencies and image size per deployable, the stack each image
carries, unit test time per deployable, and who owns it (CODEOWNERS)."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from lab.compose import project_root
from lab.experiments.model import ExperimentResult, Row

DEPLOYABLES = {
    "catalog": ("micro", "services/catalog/Dockerfile", "docker/requirements/catalog.txt"),
    "orders": ("micro", "services/orders/Dockerfile", "docker/requirements/orders.txt"),
    "gateway": ("both", "services/gateway/Dockerfile", "docker/requirements/gateway.txt"),
    "monolith": ("mono", "monolith/Dockerfile", "docker/requirements/monolith.txt"),
}
# Which unit tests exercise which deployable's code.
TESTS = {
    "catalog": ["test_catalog_rules.py", "test_discovery.py"],
    "orders": ["test_checkout.py", "test_idempotency.py", "test_catalog_over_http.py"],
    "gateway": ["test_edge_*.py", "test_discovery.py"],
    "monolith": ["test_catalog_rules.py", "test_checkout.py", "test_idempotency.py"],
}
STACK = ("fastapi", "sqlalchemy", "psycopg", "httpx", "tenacity", "aiohttp", "uvicorn", "pydantic")


def code_paths(dockerfile: Path) -> list[str]:
    """The files and folders a Dockerfile copies into its image (its `cp --parents` list)."""
    text = dockerfile.read_text().replace("\\\n", " ")
    match = re.search(r"cp -r --parents (.+?) /opt/app/", text)
    return match.group(1).split() if match else []


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
    """Teams owning those paths, by CODEOWNERS (last matching rule wins, as on GitHub)."""
    rules = []
    codeowners = root / ".github" / "CODEOWNERS"
    for line in codeowners.read_text().splitlines() if codeowners.exists() else []:
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, *teams = line.split()
            rules.append((pattern.strip("/"), teams))
    found: set[str] = set()
    for path in paths:
        owned: list[str] = []
        for pattern, teams in rules:
            if path.startswith(pattern) or fnmatch.fnmatch(path, pattern):
                owned = teams
        found.update(owned)
    return sorted(found)


def image_size_mb(image: str) -> float | None:
    try:
        probe = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", image],
            capture_output=True, text=True, check=False, timeout=20,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return round(int(probe.stdout.strip()) / 1e6) if probe.returncode == 0 else None


def unit_test_seconds(root: Path) -> dict[str, float]:
    """Run the unit tests once; attribute each test's time to the deployables it covers."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider",
             f"--junitxml={report}"],
            cwd=root, capture_output=True, check=False, timeout=300,
        )  # fmt: skip
        if not report.exists():
            return {}
        cases = ET.parse(report).getroot().iter("testcase")
        per_file: dict[str, float] = {}
        for case in cases:
            name = case.get("classname", "").split(".")[-1] + ".py"
            per_file[name] = per_file.get(name, 0.0) + float(case.get("time", 0))
    return {
        unit: round(
            sum(t for f, t in per_file.items() if any(fnmatch.fnmatch(f, g) for g in globs)), 2
        )
        for unit, globs in TESTS.items()
    }


def run() -> ExperimentResult:
    root = project_root()
    tests = unit_test_seconds(root)
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
            "unit_test_s": tests.get(unit),
            "owners": owners(root, paths),
        }
    micro = {u: d for u, d in units.items() if d["arch"] == "micro"}
    mono = units["monolith"]

    def each(key: str, fmt: str = "{}") -> str:
        return ", ".join(f"{u} {fmt.format(d[key])}" for u, d in micro.items())

    images = [d["image_mb"] for d in micro.values()]
    image_row = "n/a (no docker images)" if None in images else each("image_mb", "{} MB")
    rows = [
        Row(
            "Structure",
            "lines of Python, files and pinned dependencies in each deployable's image",
            f"{each('lines')} lines; {each('dependencies')} deps",
            f"monolith {mono['lines']} lines; {mono['dependencies']} deps",
            f"each service holds {min(d['lines'] for d in micro.values())}–"
            f"{max(d['lines'] for d in micro.values())} lines vs the monolith's {mono['lines']}; "
            f"in total micro ships {sum(d['lines'] for d in micro.values())} lines "
            "(the kernel is copied into each)",
        ),
        Row(
            "Technological flexibility",
            "the Python stack each image carries (docker/requirements/*.txt)",
            "; ".join(f"{u}: {'+'.join(d['stack'])}" for u, d in micro.items()),
            "monolith: " + "+".join(mono["stack"]),
            "each service carries only what it uses (orders alone has httpx and tenacity); "
            "all are still Python — the freedom is there, this shop does not use it",
        ),
        Row(
            "Development and maintenance",
            "unit test time per deployable (its tests, one run) and image size",
            f"{each('unit_test_s', '{} s')}; {image_row}",
            f"monolith {mono['unit_test_s']} s; "
            + (f"{mono['image_mb']} MB" if mono["image_mb"] else "n/a"),
            "tests are fast for both; a service's suite is a subset of the monolith's",
        ),
        Row(
            "Team structure",
            "owners from .github/CODEOWNERS of the code in each deployable",
            "; ".join(f"{u}: {' '.join(d['owners'])}" for u, d in micro.items()),
            "monolith: " + " ".join(mono["owners"]),
            f"each service has {max(len(d['owners']) for d in micro.values())} owning teams at "
            f"most; the monolith needs all {len(mono['owners'])} to agree on a release",
        ),
    ]
    return ExperimentResult("structure", rows, data={"deployables": units})
