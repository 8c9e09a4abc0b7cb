"""Run WORKSHOP.md's `twinshop` commands as written, in order, on the process runtime —
once per test session: the workshop test checks every command, the experiments test reads
the report its `twinshop report --quick` wrote (so the quick report runs once, not twice).

Only the ports and the state directory differ (free ones, via the environment), so that two
runs never collide. `twinshop dashboard` runs in the foreground in the workshop; here it runs
in the background until its page answers."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.runtime.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
WORKSHOP_TIMEOUT = 2400  # seconds, for the whole workshop (the quick report is most of it)


def workshop_commands() -> list[list[str]]:
    text = (ROOT / "WORKSHOP.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [
        shlex.split(line)
        for block in blocks
        for line in block.splitlines()
        if line.startswith("twinshop ")
    ]


@dataclass
class WorkshopRun:
    folder: Path
    outcomes: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def reports(self) -> list[Path]:
        return sorted((self.folder / "results").glob("*/report.html"))

    def results(self) -> dict[str, dict[str, Any]]:
        """The quick report's experiments, by name, as saved (``<name>.json``)."""
        if not self.reports:
            return {}
        folder = self.reports[-1].parent
        return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def run_workshop(folder: Path) -> WorkshopRun:
    env = {
        **os.environ,
        "TWINSHOP_HOME": str(folder / "home"),
        "TWINSHOP_GATEWAY_PORT": str(free_port()),
        "TWINSHOP_LB_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    run = WorkshopRun(folder)
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        for command in workshop_commands():
            args = [sys.executable, "-m", "lab.cli", *command[1:]]
            if command[1] == "dashboard":
                port = free_port()
                dashboard = subprocess.Popen(
                    [*args, "--port", str(port)], env=env, cwd=folder,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                _wait_for(f"http://127.0.0.1:{port}/api/state")
                continue
            result = subprocess.run(
                args, env=env, cwd=folder, capture_output=True, text=True, timeout=1200
            )
            run.outcomes.append(
                (" ".join(command), result.returncode, result.stdout + result.stderr)
            )
            if result.returncode != 0:
                break
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
        subprocess.run([sys.executable, "-m", "lab.cli", "down"], env=env, cwd=folder,
                       capture_output=True, timeout=120)  # fmt: skip
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
