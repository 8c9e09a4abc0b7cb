"""Run WORKSHOP.md's commands as written, in order, on the process runtime — once per test
session: the workshop test checks every command, the experiments test reads the report its
`twinshop report --quick` wrote (so the quick report runs once, not twice).

As an attendee would: ``twinshop up`` in one folder, every later command from a second
terminal in another folder (the state folder is per user: here ``$XDG_STATE_HOME`` points
into the test's folder, with no ``--home`` and no ``TWINSHOP_HOME``), in an environment that
has only ``pip install -e '.[lab]'`` (WORKSHOP.md §0), not the dev tools: a virtual
environment cached in ``~/.cache/twinshop`` (made once per checkout, kept while pyproject.toml
does not change). Where it cannot be made (no network, no pip cache), the commands run with this
interpreter and ``WorkshopRun.environment`` says so.

Runs: every ``twinshop …`` line and every ``python3 -m …`` line except the install; not
the curl lines nor the compose ones. Only the ports differ from the text (free ones, via
the environment). `twinshop dashboard` runs in the background until its page answers."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.runtime.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKSHOP_TIMEOUT = 3000  # seconds: the `.[lab]` venv once, then the workshop (mostly the report)
VENV_TIMEOUT = 900  # seconds to make the `.[lab]` environment once


def workshop_commands() -> list[list[str]]:
    """The commands of WORKSHOP.md's ``sh`` blocks that the run executes, split as a shell
    would (no install line: the environment is made beforehand)."""
    text = (ROOT / "WORKSHOP.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [
        shlex.split(line)
        for line in lines
        if line.startswith("twinshop ")
        or (line.startswith("python3 -m ") and not line.startswith("python3 -m pip"))
    ]


@dataclass
class WorkshopRun:
    folder: Path
    environment: str = ""
    """Which Python ran the commands (the cached `.[lab]` venv, or why not)."""
    outcomes: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each command (the last run of a command that appears twice)."""

    @property
    def reports(self) -> list[Path]:
        return sorted(self.folder.glob("*/results/*/report.html"))

    def results(self) -> dict[str, dict[str, Any]]:
        """The quick report's experiments, by name, as saved (``<name>.json``)."""
        if not self.reports:
            return {}
        folder = self.reports[-1].parent
        return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def lab_python() -> tuple[Path, str]:
    """A Python with only ``pip install -e '.[lab]'``: cached, made once per pyproject."""
    # Editable: the venv runs this checkout's code; one venv per checkout and pyproject.
    key = (ROOT / "pyproject.toml").read_bytes() + str(ROOT).encode()
    digest = hashlib.sha1(key).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twinshop"
    venv = cache / f"workshop-venv-{digest}"
    python = venv / "bin" / "python3"
    if (venv / ".ready").exists() and python.exists():
        return python, f"the .[lab]-only venv {venv}"
    shutil.rmtree(venv, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120,
                       capture_output=True)  # fmt: skip
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", f"{ROOT}[lab]"],
                       check=True, timeout=VENV_TIMEOUT, capture_output=True)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        shutil.rmtree(venv, ignore_errors=True)
        detail = getattr(exc, "stderr", b"") or b""
        tail = detail.decode(errors="replace").strip().splitlines()[-1:] if detail else []
        return Path(sys.executable), (
            f"this interpreter: no .[lab]-only venv could be made ({type(exc).__name__}"
            + (f": {tail[0]}" if tail else "")
            + ")"
        )
    (venv / ".ready").write_text("")
    return python, f"the .[lab]-only venv {venv}"


def run_workshop(folder: Path) -> WorkshopRun:
    python, environment = lab_python()
    first, second = folder / "first-terminal", folder / "second-terminal"
    first.mkdir()
    second.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TWINSHOP_HOME"}
    env.update(
        XDG_STATE_HOME=str(folder / "state"),
        TWINSHOP_GATEWAY_PORT=str(free_port()),
        TWINSHOP_LB_PORT=str(free_port()),
        COLUMNS="200",
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(python.parent.parent),
    )
    run = WorkshopRun(folder, environment=environment)
    dashboard: subprocess.Popen[bytes] | None = None

    def argv(command: list[str]) -> list[str]:
        if command[0] == "twinshop":
            return [str(python), "-m", "lab.cli", *command[1:]]
        return [str(python), *command[1:]]  # python3 -m …

    try:
        for number, command in enumerate(workshop_commands()):
            cwd = first if number == 0 else second  # `up` here, the rest elsewhere
            if command[:2] == ["twinshop", "dashboard"]:
                port = free_port()
                dashboard = subprocess.Popen(
                    [*argv(command), "--port", str(port)], env=env, cwd=cwd,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                _wait_for(f"http://127.0.0.1:{port}/api/state")
                continue
            started = time.monotonic()
            result = subprocess.run(
                argv(command), env=env, cwd=cwd, capture_output=True, text=True, timeout=1200,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            text = " ".join(command)
            run.seconds[text] = round(time.monotonic() - started, 1)
            run.outcomes.append((text, result.returncode, result.stdout + result.stderr))
            if result.returncode != 0:
                break
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
        subprocess.run([str(python), "-m", "lab.cli", "down"], env=env, cwd=second,
                       capture_output=True, timeout=120)  # fmt: skip
    (folder / "seconds.json").write_text(json.dumps(run.seconds, indent=2))
    return run


def _wait_for(url: str, *, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {within} s")
