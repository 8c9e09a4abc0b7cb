"""The process runtime's supervisor, through the CLI as a person types it: a crashed unit
comes back by itself, a killed one stays down, ``down`` leaves nothing. (The operations the
runtimes share are in tests/operations.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lab.health import probe
from lab.runtime.process import ProcessRuntime
from lab.runtime.processes import alive, free_port
from lab.state import StateDir
from tests.support import eventually, twinshop


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    twinshop(tmp_path, "down")


def test_a_crash_comes_back_by_itself_a_kill_stays_down_and_down_leaves_nothing(
    cli_home: Path,
) -> None:
    gateway = f"http://127.0.0.1:{free_port()}"
    up = twinshop(cli_home, "up", "--arch", "micro", "--gateway-port", gateway.rsplit(":", 1)[1])
    assert up.returncode == 0, up.stderr
    runtime = ProcessRuntime(StateDir(cli_home))
    supervisor = json.loads((cli_home / "state.json").read_text())["supervisor"]["pid"]
    assert alive(supervisor)

    # A crash in the middle of a checkout: the supervisor respawns orders (same port).
    armed = twinshop(cli_home, "chaos", "orders", "--crash-on-checkout", "--json")
    assert armed.returncode == 0, armed.stderr
    assert json.loads(armed.stdout)[0]["crash_on_checkout"] is True
    (before,) = runtime.instances("orders")
    body = {"customer": "ada", "items": [{"product_id": 1, "quantity": 1}]}
    crashed = httpx.post(gateway + "/orders", json=body, timeout=10)
    assert crashed.status_code in (502, 503)
    crashed_at = time.monotonic()

    def respawned() -> bool:
        (now,) = runtime.instances("orders")
        return now["pid"] != before["pid"] and probe(now["url"])["healthy"]

    eventually(respawned, within=10, what="orders respawned by the supervisor")
    print(f"\norders back {time.monotonic() - crashed_at:.1f} s after the crash")
    (after,) = runtime.instances("orders")
    assert after["port"] == before["port"] and after["version"] == before["version"]
    log = (cli_home / "logs" / "supervisor.log").read_text()
    assert "micro/orders" in log and "respawned" in log
    eventually(
        lambda: httpx.post(gateway + "/orders", json=body, timeout=10).status_code == 201,
        within=10,
        what="checkout works again",
    )

    # A kill is on purpose: it stays down until `start`.
    assert twinshop(cli_home, "kill", "orders").returncode == 0
    (killed,) = runtime.instances("orders")
    time.sleep(3)
    (still,) = runtime.instances("orders")
    assert still["pid"] == killed["pid"] and not alive(still["pid"])
    assert not probe(still["url"])["healthy"]
    assert twinshop(cli_home, "start", "orders").returncode == 0
    assert probe(runtime.instances("orders")[0]["url"])["healthy"]

    # The other commands, as a person types them.
    edge = twinshop(cli_home, "scale", "gateway", "2")
    assert edge.returncode == 1 and "edge" in edge.stderr and "Traceback" not in edge.stderr
    redeployed = twinshop(cli_home, "redeploy", "orders", "--version", "5")
    assert redeployed.returncode == 0, redeployed.stderr
    assert "1 → 5" in redeployed.stdout
    status = json.loads(twinshop(cli_home, "status", "--json").stdout)
    assert [i["version"] for i in status["architectures"]["micro"]["units"]["orders"]] == ["5"]

    # `down` stops everything, the supervisor included.
    pids = [r["pid"] for unit in ("gateway", "catalog", "orders") for r in runtime.instances(unit)]
    assert twinshop(cli_home, "down").returncode == 0
    assert not alive(supervisor)
    assert not any(alive(pid) for pid in pids)
    assert "supervisor" not in json.loads((cli_home / "state.json").read_text())
