"""The lab's operations on the swarm stack: scale, rolling redeploy, kill and start, chaos
and a crash through ``docker exec``, the resilience experiment. Each test leaves one task
per unit, since the session's stack is shared."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.errors import LabError
from lab.experiments import resilience
from lab.experiments.common import Lab
from lab.runtime.swarm import SwarmRuntime
from tests.support import Stack, eventually
from tests.traffic import Traffic

pytestmark = pytest.mark.swarm


def _units(runtime: SwarmRuntime, arch: str) -> dict[str, list[dict[str, Any]]]:
    return dict(runtime.status()["architectures"][arch]["units"])


def test_scale_catalog_to_three_spreads_over_three_tasks(
    swarm_runtime: SwarmRuntime, swarm_stack: Stack
) -> None:
    gateway = swarm_stack.entries["micro"]
    try:
        assert swarm_runtime.scale("catalog", 3) == (1, 3)
        catalogs = _units(swarm_runtime, "micro")["catalog"]
        assert len({c["instance"] for c in catalogs}) == 3
        assert all(c["healthy"] for c in catalogs)
        seen: set[str] = set()
        with httpx.Client(timeout=10.0) as client:
            for _ in range(60):
                response = client.get(gateway + "/products/1")
                assert response.status_code == 200
                seen.add(response.headers["x-served-by"])
        assert len(seen) == 3, seen
    finally:
        swarm_runtime.scale("catalog", 1)
    with pytest.raises(LabError, match="edge"):
        swarm_runtime.scale("gateway", 2)


def test_rolling_redeploy_of_two_orders_under_load_fails_no_request(
    swarm_runtime: SwarmRuntime, swarm_stack: Stack
) -> None:
    gateway = swarm_stack.entries["micro"]
    body = {"customer": "ada", "items": [{"product_id": 5, "quantity": 1}]}
    order = httpx.post(gateway + "/orders", json=body, timeout=10)
    assert order.status_code == 201, order.text
    swarm_runtime.scale("orders", 2)
    try:
        with Traffic(f"{gateway}/orders/{order.json()['id']}") as traffic:
            result = swarm_runtime.redeploy("orders")
        assert result["mode"] == "rolling" and result["replicas"] == 2
        orders = _units(swarm_runtime, "micro")["orders"]
        assert {o["version"] for o in orders if o["healthy"]} == {result["to"]}
        assert sum(traffic.codes.values()) > 20
        assert traffic.failed == 0, traffic.codes
        print(
            f"\nrolling redeploy of 2 orders (swarm): {result['seconds']} s, "
            f"{sum(traffic.codes.values())} GETs, 0 failed"
        )
    finally:
        swarm_runtime.scale("orders", 1)


def test_killed_orders_keep_browsing_up_and_checkout_answers_503(
    swarm_runtime: SwarmRuntime, swarm_stack: Stack
) -> None:
    gateway = swarm_stack.entries["micro"]
    body = {"customer": "bob", "items": [{"product_id": 3, "quantity": 1}]}
    assert swarm_runtime.kill("orders") == 1
    try:
        assert [o["healthy"] for o in _units(swarm_runtime, "micro")["orders"]] == [False]
        assert httpx.get(gateway + "/products?limit=3", timeout=10).status_code == 200
        eventually(
            lambda: httpx.post(gateway + "/orders", json=body, timeout=10).status_code == 503,
            within=30,
            what="checkout answers 503 while orders is down",
            every=0.5,
        )
    finally:
        assert swarm_runtime.start("orders") == 1
    assert httpx.post(gateway + "/orders", json=body, timeout=10).status_code == 201


def test_chaos_and_a_crash_through_docker_exec(
    swarm_runtime: SwarmRuntime, swarm_stack: Stack
) -> None:
    states = swarm_runtime.chaos("catalog", latency_ms=300)
    try:
        assert states and all(s["latency_ms"] == 300 for s in states)
        started = time.monotonic()
        products = httpx.get(swarm_stack.entries["micro"] + "/products/1", timeout=10)
        assert products.status_code == 200
        assert time.monotonic() - started >= 0.3
    finally:
        swarm_runtime.chaos("catalog", latency_ms=0)
    (before,) = _units(swarm_runtime, "micro")["catalog"]
    swarm_runtime.crash("catalog")  # the restart policy replaces the task

    def replaced() -> bool:
        catalogs = _units(swarm_runtime, "micro")["catalog"]
        return [c["healthy"] for c in catalogs] == [True] and catalogs[0] != before

    eventually(replaced, within=120, what="swarm replaced the crashed catalog task", every=1)
    swarm_runtime.wait_edges_see("catalog")


def test_the_resilience_experiment_runs_on_swarm(
    swarm_runtime: SwarmRuntime, swarm_stack: Stack, tmp_path: Path
) -> None:
    for entry in swarm_stack.entries.values():
        eventually(
            lambda entry=entry: httpx.get(entry + "/products", timeout=10).status_code == 200,
            within=60,
            what=f"{entry} serves products",
            every=1,
        )
    lab = Lab(swarm_runtime, tmp_path, quick=True, entries=swarm_stack.entries)
    result = resilience.run(lab)
    crash = {arch: result.data[arch]["crash"] for arch in ("micro", "mono")}
    kill = {arch: result.data[arch]["kill"] for arch in ("micro", "mono")}
    print(f"\nresilience on swarm: crash {crash}; kill {kill}")
    assert crash["micro"]["browse_success"] >= 0.99, crash
    assert crash["mono"]["browse_success"] < 0.5, crash
    assert all(problems == [] for problems in result.invariants.values())
