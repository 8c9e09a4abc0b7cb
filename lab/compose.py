"""Driving the compose stack: which compose command this machine has, and where the
project's ``docker-compose.yml`` is. Works with ``docker compose`` (v2) and with Debian's
``docker-compose`` 1.29."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from lab.errors import LabError

DEFAULT_PROJECT = "twinshop"
PYTHON_BASE = "twinshop/python-base:bookworm"
POSTGRES_BASE = "twinshop/postgres-base:15-bookworm"


def project_name() -> str:
    """The compose project, the same however the clone's folder is named:
    ``$COMPOSE_PROJECT_NAME``, else the committed ``.env``'s, else ``twinshop``."""
    if name := os.environ.get("COMPOSE_PROJECT_NAME"):
        return name
    try:
        return env_file_settings(project_root() / ".env").get(
            "COMPOSE_PROJECT_NAME", DEFAULT_PROJECT
        )
    except LabError:
        return DEFAULT_PROJECT


def env_file_settings(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of a compose ``.env`` file (comments and blanks skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def update_env_file(path: Path, settings: dict[str, str], *, comment: str = "") -> None:
    """Set ``settings`` in a compose ``.env`` file, keeping every other line (such as
    ``COMPOSE_PROJECT_NAME``)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        lines = []
    kept = [line for line in lines if line.split("=", 1)[0].strip() not in settings]
    if comment and f"# {comment}" not in kept:
        kept.append(f"# {comment}")
    kept += [f"{key}={value}" for key, value in settings.items()]
    path.write_text("\n".join(kept) + "\n")


def project_root() -> Path:
    """The folder with docker-compose.yml: this checkout (the lab is installed editable)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "docker-compose.yml").exists():
        raise LabError(
            f"no docker-compose.yml next to {root}: the docker runtime needs a clone of "
            "twinshop installed with `pip install -e`"
        )
    return root


@lru_cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` when the v2 plugin is there, else ``docker-compose``."""
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return ("docker", "compose")
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    raise LabError(
        "neither `docker compose` nor `docker-compose` is installed "
        "(Debian: apt-get install -y docker.io docker-compose)"
    )


def compose_env() -> dict[str, str]:
    """The environment for compose: the caller's, plus the offline base images when they
    exist (``twinshop images build --offline`` makes them), so nothing is pulled."""
    env = dict(os.environ)
    env.setdefault("TWINSHOP_PYTHON_IMAGE", PYTHON_BASE if image_exists(PYTHON_BASE) else "")
    env.setdefault("TWINSHOP_POSTGRES_IMAGE", POSTGRES_BASE if image_exists(POSTGRES_BASE) else "")
    for name in ("TWINSHOP_PYTHON_IMAGE", "TWINSHOP_POSTGRES_IMAGE"):
        if not env[name]:
            del env[name]  # compose falls back to the official images
    return env


def image_exists(tag: str) -> bool:
    probe = subprocess.run(
        ["docker", "image", "inspect", tag], capture_output=True, text=True, check=False
    )
    return probe.returncode == 0


def compose(
    project: str, *args: str, capture: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one compose command for ``project``; a failure becomes a ``LabError``."""
    root = project_root()
    cmd = [*compose_command(), "-p", project, "-f", str(root / "docker-compose.yml"), *args]
    result = subprocess.run(
        cmd,
        cwd=root,
        env={**compose_env(), **(env or {})},
        capture_output=capture,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-3:] if capture else []
        raise LabError(
            f"`{' '.join(cmd[len(compose_command()) :])}` failed"
            + (": " + " / ".join(detail) if detail else " (see its output above)")
        )
    return result
