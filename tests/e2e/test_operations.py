"""Operations on the process runtime under traffic: scale, rolling and single-replica
redeploy, chaos, and the supervisor that brings a crashed unit back (but not a killed one)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import httpx
import pytest

from lab.errors import LabError
from lab.runtime.process import ProcessRuntime
from lab.runtime.processes import alive, free_port
from lab.state import StateDir
from tests.support import Stack, eventually, running_stack


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own stack: these tests change how many replicas run and which version."""
    with running_stack(tmp_path_factory.mktemp("ops")) as stack:
        yield stack


@pytest.fixture
def runtime(ops_stack: Stack) -> ProcessRuntime:
    assert ops_stack.runtime is not None
    return ops_stack.runtime


class Traffic:
    """GET one path in a loop on a thread; every answer but 200 (or no answer) is a failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.codes: Counter[int | str] = Counter()
        self.failures: list[tuple[float, int | str]] = []
        self.served_by: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    outcome: int | str = response.status_code
                    self.served_by.add(response.headers.get("x-served-by", "?"))
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.codes[outcome] += 1
                if outcome != 200:
                    self.failures.append((time.monotonic(), outcome))
                time.sleep(0.005)

    def __enter__(self) -> Traffic:
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(timeout=15)

    @property
    def total(self) -> int:
        return sum(self.codes.values())


def _health(url: str) -> dict[str, object] | None:
    try:
        response = httpx.get(url + "/health", timeout=1.0)
    except httpx.HTTPError:
        return None
    return dict(response.json()) if response.status_code == 200 else None


def _published(runtime: ProcessRuntime, arch: str, unit: str) -> list[str]:
    return list(json.loads(runtime.state.replicas_file(arch, unit).read_text()))


def test_scale_catalog_to_three_then_back_to_one_without_a_failed_get(
    runtime: ProcessRuntime, ops_stack: Stack
) -> None:
    gateway = ops_stack.entries["micro"]
    try:
        assert runtime.scale("catalog", 3) == (1, 3)
        # scale returns once the edge routes to the new replicas, not just once they run
        routed = httpx.get(gateway + "/health", timeout=5).json()["upstreams"]["catalog"]
        assert (routed["replicas"], routed["healthy"]) == (3, 3)
        budgets = [
            i["cpus"] for i in runtime.status()["architectures"]["micro"]["units"]["catalog"]
        ]
        assert budgets == ([0.5] * 3 if runtime.cpu_budget.available else [None] * 3)
        seen: set[str] = set()
        started = time.monotonic()
        with httpx.Client(timeout=5.0) as client:
            while len(seen) < 3 and time.monotonic() - started < 5:
                response = client.get(gateway + "/products/1")
                assert response.status_code == 200
                seen.add(response.headers["x-served-by"])
                time.sleep(0.02)
        assert len(seen) == 3, seen
        assert len(_published(runtime, "micro", "catalog")) == 3
        with Traffic(gateway + "/products/1") as traffic:
            assert runtime.scale("catalog", 1) == (3, 1)
    finally:
        if len(runtime.instances("catalog")) != 1:
            runtime.scale("catalog", 1)
    assert traffic.total > 20 and traffic.failures == [], traffic.codes
    assert len(runtime.instances("catalog")) == 1
    assert _published(runtime, "micro", "catalog") == [runtime.instances("catalog")[0]["url"]]


def test_rolling_redeploy_of_two_catalogs_fails_no_get(
    runtime: ProcessRuntime, ops_stack: Stack
) -> None:
    gateway = ops_stack.entries["micro"]
    runtime.scale("catalog", 2)
    try:
        old = {r["url"]: _health(r["url"]) for r in runtime.instances("catalog")}
        old_instances = {f"catalog/{h['instance']}" for h in old.values() if h}
        version = str(next(iter(old.values()))["version"])  # type: ignore[index]
        with Traffic(gateway + "/products/2") as traffic:
            result = runtime.redeploy("catalog")
        assert result["mode"] == "rolling" and result["replicas"] == 2
        assert result["from"] == version and result["to"] == str(int(version) + 1)
        assert traffic.total > 20 and traffic.failures == [], traffic.codes
        instances = runtime.instances("catalog")
        assert len(instances) == 2
        for record in instances:
            health = _health(record["url"])
            assert health is not None and health["version"] == result["to"]
        units = runtime.status()["architectures"]["micro"]["units"]
        assert {i["version"] for i in units["catalog"]} == {result["to"]}
        served = httpx.get(gateway + "/products/1").headers["x-served-by"]
        served_instance, _, served_version = served.partition("@v")
        assert served.startswith("catalog/") and served_instance not in old_instances
        assert served_version == result["to"]  # the new version shows in every answer
        took = result["seconds"]
        print(f"\nrolling redeploy of 2 catalogs: {took} s, {traffic.total} GETs, 0 failed")
    finally:
        runtime.scale("catalog", 1)


def test_single_replica_redeploy_of_the_monolith_reports_its_new_version(
    runtime: ProcessRuntime, ops_stack: Stack
) -> None:
    lb = ops_stack.entries["mono"]
    with Traffic(lb + "/products/1") as traffic:
        result = runtime.redeploy("monolith", "7")
    assert result["mode"] == "restart" and result["to"] == "7"
    (record,) = runtime.instances("monolith")
    assert (_health(record["url"]) or {}).get("version") == "7"
    units = runtime.status()["architectures"]["mono"]["units"]
    assert [i["version"] for i in units["monolith"]] == ["7"]
    eventually(lambda: httpx.get(lb + "/products/1").status_code == 200, within=5, what="lb serves")
    # The outage is real (one replica): the figure the redeploy experiment measures.
    failing = traffic.failures[-1][0] - traffic.failures[0][0] if traffic.failures else 0.0
    print(
        f"\nsingle-replica redeploy: nothing listened for {result['outage_seconds']} s; GETs "
        f"failed for {failing:.1f} s ({len(traffic.failures)} of {traffic.total})"
    )


def test_edges_cannot_be_scaled_and_have_no_chaos(runtime: ProcessRuntime) -> None:
    with pytest.raises(LabError, match="edge"):
        runtime.scale("gateway", 2)
    with pytest.raises(LabError, match="edge"):
        runtime.scale("lb", 2)
    with pytest.raises(LabError, match="1 or more"):
        runtime.scale("catalog", 0)
    with pytest.raises(LabError, match="edge"):
        runtime.chaos("gateway", latency_ms=10)


def test_chaos_reaches_every_replica(runtime: ProcessRuntime, ops_stack: Stack) -> None:
    states = runtime.chaos("catalog", latency_ms=150)
    try:
        assert [s["latency_ms"] for s in states] == [150] * len(runtime.instances("catalog"))
        started = time.monotonic()
        assert httpx.get(ops_stack.entries["micro"] + "/products/1").status_code == 200
        assert time.monotonic() - started >= 0.15
    finally:
        runtime.chaos("catalog", latency_ms=0)


# -- the CLI, with its supervisor ------------------------------------------------------


def twinshop(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        env={**os.environ, "TWINSHOP_HOME": str(home), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


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
        return now["pid"] != before["pid"] and _health(now["url"]) is not None

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
    assert _health(still["url"]) is None
    assert twinshop(cli_home, "start", "orders").returncode == 0
    assert _health(runtime.instances("orders")[0]["url"]) is not None

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
