"""The measuring engine against real processes: locust in this process, both entries at once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from lab.invariants import Snapshot, violations
from lab.load import LoadResult, run_load, run_one
from lab.load_cli import load_command
from tests.support import Stack, running_stack

pytestmark = pytest.mark.slow
DURATION = 4.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("load")) as started:
        yield started


@dataclass
class Mixed:
    """One short mixed load on both entries, with snapshots around it and an action at 2 s."""

    results: dict[str, LoadResult]
    before: dict[str, Snapshot]
    after: dict[str, Snapshot]
    seen: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def mixed(stack: Stack) -> Mixed:
    clients = {arch: httpx.Client(base_url=url, timeout=10) for arch, url in stack.entries.items()}
    seen: dict[str, Any] = {}

    def probe() -> None:
        """Runs in a thread while the load runs: every blocking tool of the lab must work."""
        seen["thread"] = threading.get_ident()
        seen["http"] = httpx.get(stack.entries["micro"] + "/products/1").status_code
        seen["subprocess"] = subprocess.run(
            [sys.executable, "-c", "print('ok')"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        inner: list[int] = []
        worker = threading.Thread(target=lambda: inner.append(1))
        worker.start()
        worker.join(5)
        seen["threading"] = inner
        time.sleep(0.5)  # a blocking sleep: the load must go on meanwhile

    try:
        before = {arch: Snapshot.take(c) for arch, c in clients.items()}
        results = run_load(
            stack.entries, scenario="mixed", users=8, duration=DURATION, actions=[(2.0, probe)]
        )
        after = {arch: Snapshot.take(c) for arch, c in clients.items()}
    finally:
        for client in clients.values():
            client.close()
    return Mixed(results, before, after, seen)


def test_mixed_load_fills_both_groups_without_failures(mixed: Mixed) -> None:
    assert set(mixed.results) == {"micro", "mono"}
    for result in mixed.results.values():
        assert result.scenario == "mixed" and result.users == 8
        for group in ("browse", "checkout"):
            buckets = result.series[group]
            assert len(buckets) >= DURATION
            assert sum(b.requests for b in buckets) > 0
            assert result.totals[group].requests > 0
            assert result.totals[group].failures == 0, result.totals[group].errors
            assert result.totals[group].p95_ms is not None
        assert result.totals["browse"].requests > result.totals["checkout"].requests
        assert result.elapsed_s >= DURATION


def test_acknowledged_orders_are_all_there_and_stock_adds_up(mixed: Mixed) -> None:
    for arch, result in mixed.results.items():
        assert result.order_ids, arch
        assert len(set(result.order_ids)) == len(result.order_ids)
        assert all(order_id in mixed.after[arch].orders for order_id in result.order_ids)
        before, after = mixed.before[arch], mixed.after[arch]
        assert violations(before, after, acknowledged=result.acknowledged) == []


def test_an_action_runs_in_a_thread_while_the_load_goes_on(mixed: Mixed) -> None:
    for result in mixed.results.values():
        [action] = result.actions
        assert action.name == "probe" and action.error is None
        assert action.started is not None and action.finished is not None
        assert 2.0 <= action.started < 3.0
        assert action.finished - action.started >= 0.5
        during = [b for b in result.series["browse"] if 2 <= b.t <= 3]
        assert all(b.requests > 0 for b in during), during
    assert mixed.seen["thread"] != threading.get_ident()
    assert mixed.seen["http"] == 200
    assert mixed.seen["subprocess"] == "ok"
    assert mixed.seen["threading"] == [1]


def test_locust_leaves_this_process_unpatched(mixed: Mixed, stack: Stack) -> None:
    import gevent.monkey

    assert "locust" in sys.modules  # the load ran in this process
    assert not gevent.monkey.is_module_patched("socket")
    assert not gevent.monkey.is_module_patched("threading")
    assert socket.socket.__module__ == "socket"
    assert httpx.get(stack.entries["mono"] + "/health").status_code == 200
    assert subprocess.run(["true"], timeout=10).returncode == 0


def test_lab_cli_does_not_import_locust() -> None:
    code = (
        "import sys, lab.cli, lab.load_cli, lab.load\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'locust', 'gevent'})\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_browse_scenario_sends_no_checkout(stack: Stack) -> None:
    result = run_one(stack.entries["mono"], scenario="browse", users=4, duration=2.0)
    assert result.totals["browse"].requests > 0
    assert result.totals["browse"].failures == 0
    assert result.totals["checkout"].requests == 0
    assert sum(b.requests for b in result.series["checkout"]) == 0
    assert result.order_ids == []


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("load")(load_command)
    app.command("noop")(lambda: None)  # two commands: `load` stays a subcommand
    return app


def test_load_command_prints_the_table_and_writes_json(stack: Stack, tmp_path: Path) -> None:
    assert stack.runtime is not None
    out = tmp_path / "load.json"
    result = CliRunner().invoke(
        cli(),
        ["load", "--home", str(stack.runtime.state.root), "--scenario", "checkout",
         "--users", "2", "--duration", "2", "--json", str(out)],
        env={"COLUMNS": "120"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "route group" in result.output and "p95 ms" in result.output
    for arch in ("micro", "mono"):
        assert f"{arch}: " in result.output and "orders acknowledged" in result.output
    body = json.loads(out.read_text())
    assert set(body) == {"micro", "mono"}
    micro = LoadResult.from_dict(body["micro"])
    assert micro.host == stack.entries["micro"] and micro.scenario == "checkout"
    assert micro.totals["checkout"].requests > 0 and micro.totals["browse"].requests == 0
    assert len(micro.order_ids) > 0


def test_load_command_says_when_the_arch_is_not_running(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli(), ["load", "--home", str(tmp_path), "--arch", "mono", "--duration", "1"]
    )
    assert result.exit_code == 1
    assert "mono is not running" in result.output
    assert "Traceback" not in result.output
