"""``twinshop up / status / down`` as a person runs them: real processes, clear errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.runtime.processes import alive, free_port
from tests.support import twinshop


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    twinshop(tmp_path, "down")


def ports() -> list[str]:
    return ["--gateway-port", str(free_port()), "--lb-port", str(free_port())]


def test_up_status_down(home: Path) -> None:
    args = ports()
    result = twinshop(home, "up", *args)
    assert result.returncode == 0, result.stderr
    assert f"http://127.0.0.1:{args[1]}" in result.stdout
    assert f"http://127.0.0.1:{args[3]}" in result.stdout
    assert f"curl 'http://127.0.0.1:{args[1]}/products?limit=3'" in result.stdout  # zsh-safe

    status = json.loads(twinshop(home, "status", "--json").stdout)
    assert status["runtime"] == "process"
    assert set(status["architectures"]) == {"micro", "mono"}
    micro, mono = status["architectures"]["micro"], status["architectures"]["mono"]
    assert micro["entry"] == f"http://127.0.0.1:{args[1]}"
    assert set(micro["units"]) == {"gateway", "catalog", "orders"}
    assert set(mono["units"]) == {"lb", "monolith"}
    for arch in (micro, mono):
        for instances in arch["units"].values():
            assert len(instances) == 1
            assert set(instances[0]) == {"instance", "url", "healthy", "version", "cpus", "impl"}
            assert instances[0]["impl"] == "python"
            assert instances[0]["healthy"] is True and instances[0]["version"] == "1"
    assert httpx.get(micro["entry"] + "/products/1").status_code == 200
    assert (home / "logs").is_dir() and (home / "data").is_dir()
    assert (home / "admin-token").read_text().strip()

    state = json.loads((home / "state.json").read_text())
    pids = [
        r["pid"] for a in state["architectures"].values() for rs in a["units"].values() for r in rs
    ]
    down = twinshop(home, "down")
    assert down.returncode == 0
    assert not any(alive(pid) for pid in pids)
    assert json.loads(twinshop(home, "status", "--json").stdout)["architectures"] == {}


def test_up_twice_says_already_running(home: Path) -> None:
    args = ports()
    assert twinshop(home, "up", "--arch", "mono", *args).returncode == 0
    again = twinshop(home, "up", "--arch", "mono", *args)
    assert again.returncode == 1
    assert "already running" in again.stderr
    assert "Traceback" not in again.stderr + again.stdout


def test_a_port_in_use_is_named(home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = twinshop(home, "up", "--gateway-port", str(port), "--lb-port", str(free_port()))
    assert result.returncode == 1
    assert f"port {port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_unit_that_cannot_start_points_at_its_log(home: Path) -> None:
    result = twinshop(home, "up", "--arch", "mono", *ports(), env={"TWINSHOP_SEED_STOCK": "lots"})
    assert result.returncode == 1
    assert "failed to start" in result.stderr and ".log" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(twinshop(home, "status", "--json").stdout)["architectures"] == {}


def test_kill_and_start_a_unit(home: Path) -> None:
    args = ports()
    assert twinshop(home, "up", "--arch", "micro", *args).returncode == 0
    assert twinshop(home, "kill", "orders").returncode == 0
    units = json.loads(twinshop(home, "status", "--json").stdout)["architectures"]["micro"]["units"]
    assert units["orders"][0]["healthy"] is False
    assert units["catalog"][0]["healthy"] is True
    assert twinshop(home, "start", "orders").returncode == 0
    units = json.loads(twinshop(home, "status", "--json").stdout)["architectures"]["micro"]["units"]
    assert units["orders"][0]["healthy"] is True
    unknown = twinshop(home, "kill", "billing")
    assert unknown.returncode == 1 and "not running" in unknown.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for command in ("up", "down", "status", "kill", "start"):
        assert command in result.stdout


def test_help_is_plain_text_that_fits_80_columns() -> None:
    for args in (["--help"], ["status", "--help"], ["scale", "--help"]):
        result = subprocess.run(
            [sys.executable, "-m", "lab.cli", *args],
            env={**os.environ, "COLUMNS": "80"}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode == 0
        assert "╭" not in result.stdout and "<bool>" not in result.stdout, result.stdout
        assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_nothing_running_names_the_folder_it_looked_in(tmp_path: Path) -> None:
    result = twinshop(tmp_path / "empty", "status")
    assert result.returncode == 0
    assert "nothing is running" in result.stdout
    assert str(tmp_path / "empty") in result.stdout.replace("\n", "")


def test_a_mistyped_experiment_leaves_no_results_folder(tmp_path: Path) -> None:
    result = twinshop(tmp_path, "experiment", "scalling", "--results", str(tmp_path / "r"))
    assert result.returncode == 1 and "no experiment 'scalling'" in result.stderr
    assert not (tmp_path / "r").exists()


def test_report_with_nothing_running_says_how_to_start_without_asking(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "report", "--quick", "--results", str(tmp_path / "r")],
        env={**os.environ, "TWINSHOP_HOME": str(tmp_path), "COLUMNS": "200"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--start" in result.stderr and "twinshop up" in result.stderr
    assert not (tmp_path / "r").exists()


def test_reset_forgets_data_and_versions(home: Path) -> None:
    args = ports()
    assert twinshop(home, "up", "--arch", "mono", *args).returncode == 0
    assert twinshop(home, "redeploy", "monolith").returncode == 0
    reset = twinshop(home, "reset")
    assert reset.returncode == 0, reset.stderr
    assert not (home / "data").exists() and not (home / "state.json").exists()
    assert (home / "admin-token").exists()
    assert twinshop(home, "up", "--arch", "mono", *args).returncode == 0
    units = json.loads(twinshop(home, "status", "--json").stdout)["architectures"]["mono"]["units"]
    assert units["monolith"][0]["version"] == "1"
