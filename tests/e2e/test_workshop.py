"""WORKSHOP.md's `twinshop` commands run as written, in order, on the process runtime.

Only the ports and the state directory differ (free ones, via the environment), so that two
runs never collide. `twinshop dashboard` runs in the foreground in the workshop; here it runs
in the background until its page answers."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from lab.runtime.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def workshop_commands() -> list[list[str]]:
    text = (ROOT / "WORKSHOP.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    return [
        shlex.split(line)
        for block in blocks
        for line in block.splitlines()
        if line.startswith("twinshop ")
    ]


def test_the_workshop_lists_the_commands_of_every_section() -> None:
    commands = {" ".join(c[:2]) for c in workshop_commands()}
    for expected in ("twinshop up", "twinshop dashboard", "twinshop kill", "twinshop scale",
                     "twinshop redeploy", "twinshop chaos", "twinshop load", "twinshop report",
                     "twinshop down"):  # fmt: skip
        assert expected in commands


def test_every_workshop_command_runs_as_written(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TWINSHOP_HOME": str(tmp_path / "home"),
        "TWINSHOP_GATEWAY_PORT": str(free_port()),
        "TWINSHOP_LB_PORT": str(free_port()),
        "COLUMNS": "200",
    }
    dashboard: subprocess.Popen[bytes] | None = None
    try:
        for command in workshop_commands():
            args = [sys.executable, "-m", "lab.cli", *command[1:]]
            if command[1] == "dashboard":
                port = free_port()
                dashboard = subprocess.Popen(
                    [*args, "--port", str(port)], env=env, cwd=tmp_path,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                _wait_for(f"http://127.0.0.1:{port}/api/state")
                continue
            result = subprocess.run(
                args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600
            )
            output = result.stdout + result.stderr
            assert result.returncode == 0, f"{' '.join(command)}:\n{output[-3000:]}"
            assert "Traceback" not in output, f"{' '.join(command)}:\n{output[-3000:]}"
        reports = list((tmp_path / "results").glob("*/report.html"))
        assert reports, "twinshop report --quick wrote no report"
    finally:
        if dashboard is not None:
            dashboard.terminate()
            dashboard.wait(timeout=10)
        subprocess.run([sys.executable, "-m", "lab.cli", "down"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=120)  # fmt: skip


def _wait_for(url: str, *, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {within} s")
