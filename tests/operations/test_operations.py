"""The lab's operations under traffic, the same on every runtime (tests/operations/conftest.py
runs each test on the process and the docker runtime): scale, rolling and single-replica
redeploy, chaos, and what the edges refuse. What only one runtime has is tested beside it:
the supervisor and the published replica files in tests/e2e/test_operations.py, the swap to
the Rust catalog's image in tests/docker/test_operations_docker.py."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from lab.errors import LabError
from lab.runtime.process import ProcessRuntime
from tests.operations.conftest import Operated, units
from tests.support import eventually
from tests.traffic import Traffic


def test_scale_catalog_to_three_spreads_requests_and_back_to_one_fails_no_get(
    operated: Operated,
) -> None:
    runtime, gateway = operated.runtime, operated.entries["micro"]
    assert runtime.scale("catalog", 3) == (1, 3)
    # scale returns once the edge routes to the new replicas, not just once they run
    routed = httpx.get(gateway + "/health", timeout=5).json()["upstreams"]["catalog"]
    assert (routed["replicas"], routed["healthy"]) == (3, 3)
    catalogs = units(operated, "micro")["catalog"]
    assert len({c["instance"] for c in catalogs}) == 3 and all(c["healthy"] for c in catalogs)
    seen: set[str] = set()
    with httpx.Client(timeout=10.0) as client:
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            response = client.get(gateway + "/products/1")
            assert response.status_code == 200
            seen.add(response.headers["x-served-by"])
    assert len(seen) == 3, seen
    with Traffic(gateway + "/products/1") as traffic:
        assert runtime.scale("catalog", 1) == (3, 1)
    assert len(units(operated, "micro")["catalog"]) == 1
    assert traffic.total > 20 and traffic.failed == 0, traffic.codes


def test_edges_cannot_be_scaled_nor_given_chaos(operated: Operated) -> None:
    runtime = operated.runtime
    for edge in ("gateway", "lb"):
        with pytest.raises(LabError, match="edge"):
            runtime.scale(edge, 2)
        with pytest.raises(LabError, match="edge"):
            runtime.chaos(edge, latency_ms=10)
    with pytest.raises(LabError, match="1 or more"):
        runtime.scale("catalog", 0)


def test_rolling_redeploy_of_two_catalogs_fails_no_get(operated: Operated) -> None:
    runtime, gateway = operated.runtime, operated.entries["micro"]
    runtime.scale("catalog", 2)
    before = units(operated, "micro")["catalog"]
    old_instances = {f"catalog/{i['instance']}" for i in before}
    (version,) = {str(i["version"]) for i in before}
    with Traffic(gateway + "/products/2") as traffic:
        result = runtime.redeploy("catalog")
    assert (result["mode"], result["replicas"]) == ("rolling", 2)
    assert (result["from"], result["to"]) == (version, str(int(version) + 1))
    assert result["outage_seconds"] == 0
    assert traffic.total > 20 and traffic.failed == 0, traffic.codes
    after = units(operated, "micro")["catalog"]
    assert len(after) == 2 and {i["version"] for i in after} == {result["to"]}
    assert all(i["healthy"] for i in after)
    served = httpx.get(gateway + "/products/1", timeout=10).headers["x-served-by"]
    served_instance, _, served_version = served.partition("@v")
    assert served.startswith("catalog/") and served_instance not in old_instances
    assert served_version == result["to"]  # the new version shows in every answer
    print(
        f"\nrolling redeploy of 2 catalogs ({operated.kind}): {result['seconds']} s, "
        f"{traffic.total} GETs, 0 failed"
    )


def test_a_single_replica_redeploy_is_an_outage_that_keeps_the_data(operated: Operated) -> None:
    runtime, gateway = operated.runtime, operated.entries["micro"]
    body = {"customer": "ada", "items": [{"product_id": 5, "quantity": 1}]}
    order = httpx.post(gateway + "/orders", json=body, timeout=10)
    assert order.status_code == 201, order.text
    (old,) = units(operated, "micro")["orders"]
    catalog_versions = {i["version"] for i in units(operated, "micro")["catalog"]}
    with Traffic(f"{gateway}/orders/{order.json()['id']}") as traffic:
        result = runtime.redeploy("orders")
    assert (result["mode"], result["replicas"]) == ("restart", 1)
    assert result["to"] == str(int(str(old["version"])) + 1)
    assert 0 < result["outage_seconds"] <= result["seconds"]  # one replica: a real outage
    (new,) = units(operated, "micro")["orders"]
    assert new["version"] == result["to"] and new["healthy"] is True
    assert new["instance"] != old["instance"]
    # The order was kept, and the rest of the stack kept its version.
    assert httpx.get(f"{gateway}/orders/{order.json()['id']}", timeout=10).status_code == 200
    assert {i["version"] for i in units(operated, "micro")["catalog"]} == catalog_versions
    print(
        f"\nsingle-replica redeploy of orders ({operated.kind}): nothing served it for "
        f"{result['outage_seconds']} s; GETs failed for {traffic.failing_seconds:.1f} s "
        f"({traffic.failed} of {traffic.total})"
    )


def test_redeploying_the_monolith_to_a_named_version_takes_every_route_with_it(
    operated: Operated,
) -> None:
    runtime, lb = operated.runtime, operated.entries["mono"]
    with Traffic(lb + "/products/1") as traffic:
        result = runtime.redeploy("monolith", "7")
    assert (result["mode"], result["to"]) == ("restart", "7")
    assert [i["version"] for i in units(operated, "mono")["monolith"]] == ["7"]
    eventually(
        lambda: httpx.get(lb + "/products/1", timeout=5).status_code == 200,
        within=10,
        what="the lb serves the new monolith",
    )
    print(
        f"\nsingle-replica redeploy of the monolith ({operated.kind}): browse failed for "
        f"{traffic.failing_seconds:.1f} s ({traffic.failed} of {traffic.total})"
    )


def test_chaos_reaches_every_replica(operated: Operated) -> None:
    runtime = operated.runtime
    runtime.scale("catalog", 2)
    states = runtime.chaos("catalog", latency_ms=300)
    try:
        assert [s["latency_ms"] for s in states] == [300, 300]
        for _ in range(4):  # whichever replica answers, it is slow
            started = time.monotonic()
            answer = httpx.get(operated.entries["micro"] + "/products/1", timeout=10)
            assert answer.status_code == 200 and time.monotonic() - started >= 0.3
    finally:
        reset = runtime.chaos("catalog", latency_ms=0)
    assert [s["latency_ms"] for s in reset] == [0, 0]


# -- what only the process runtime has ------------------------------------------------


def test_process_replicas_are_published_for_the_edge_each_with_its_cpu_budget(
    process_operated: Operated,
) -> None:
    runtime = process_operated.runtime
    assert isinstance(runtime, ProcessRuntime)

    def published() -> list[str]:
        return list(json.loads(runtime.state.replicas_file("micro", "catalog").read_text()))

    try:
        runtime.scale("catalog", 3)
        assert sorted(published()) == sorted(r["url"] for r in runtime.instances("catalog"))
        budgets = [i["cpus"] for i in units(process_operated, "micro")["catalog"]]
        assert budgets == ([0.5] * 3 if runtime.cpu_budget.available else [None] * 3)
    finally:
        runtime.scale("catalog", 1)
    assert published() == [runtime.instances("catalog")[0]["url"]]
