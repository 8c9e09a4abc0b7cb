"""Build time per image, cold (no cache) and warm (cache, after a one-line code change).

Only behind an explicit option (``twinshop experiment teams --build-images``): it builds from a
throwaway copy of the repository under the tag ``twinshop-teams-probe/<name>`` (never
``twinshop/*:latest``) and removes those images afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lab.compose import PYTHON_BASE
from lab.deployables import DEPLOYABLES, entry

if TYPE_CHECKING:
    from lab.reach import Layout

PROBE = "twinshop-teams-probe"


def _docker(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )


def _base_args() -> list[str]:
    """Build on the offline base when `twinshop images build --offline` made one."""
    if _docker("image", "inspect", PYTHON_BASE, timeout=30).returncode == 0:
        return ["--build-arg", f"PYTHON_IMAGE={PYTHON_BASE}"]
    return []


def _copy(root: Path, files: list[str], target: Path) -> None:
    for name in files:
        source, dest = root / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
    wheels = root / "docker" / "wheels"
    for wheel in wheels.glob("*.whl") if wheels.exists() else []:
        os.link(wheel, target / "docker" / "wheels" / wheel.name)


def _touched(context: Path, dockerfile: str, note: str) -> None:
    """A one-line change in the file the image runs (a comment at its end)."""
    started = entry((context / dockerfile).read_text())
    if started is None:
        return
    path = context / (started if started.endswith(".py") else started.replace(".", "/") + ".py")
    if path.exists():
        path.write_text(path.read_text() + f"\n# {note}\n")


def build_times(root: Path, layout: Layout) -> dict[str, dict[str, Any]]:
    """Seconds per image (catalog, orders, gateway, monolith): cold, then warm."""
    try:
        if _docker("info", timeout=20).returncode != 0:
            return {"error": {"detail": "no Docker engine answers"}}
    except (OSError, subprocess.TimeoutExpired):
        return {"error": {"detail": "no Docker engine here"}}
    results: dict[str, dict[str, Any]] = {}
    base = _base_args()
    with tempfile.TemporaryDirectory(prefix="twinshop-teams-") as tmp:
        context = Path(tmp)
        _copy(root, layout.files, context)
        for item in (d for d in DEPLOYABLES if not d.tooling):
            tag = f"{PROBE}/{item.name}:probe"
            figures: dict[str, Any] = {}
            for kind, extra in (("cold_s", ["--no-cache"]), ("warm_s", [])):
                _touched(context, item.dockerfile, f"teams probe: {kind}")
                started = time.monotonic()
                done = _docker(
                    "build",
                    "-q",
                    "-f",
                    str(context / item.dockerfile),
                    "-t",
                    tag,
                    *extra,
                    *base,
                    str(context),
                )
                if done.returncode != 0:
                    figures["error"] = done.stderr.strip()[-300:]
                    break
                figures[kind] = round(time.monotonic() - started, 1)
            results[item.name] = figures
            _docker("image", "rm", "-f", tag, timeout=60)
    return results
