"""The lab's operations on the compose stack: scale, redeploy (single and rolling) and chaos
through ``docker exec``. Each test puts the stack back as it found it (one replica each,
version 1), since the session's stack is shared."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from types import TracebackType

import httpx
import pytest

from lab.errors import LabError
from lab.runtime.docker import DockerRuntime
from tests.support import Stack

pytestmark = pytest.mark.docker


class Traffic:
    """GET one path in a loop on a thread; every answer but 200 (or none) is a failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.codes: Counter[int | str] = Counter()
        self.failed_at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=15.0) as client:
            while not self._stop.is_set():
                try:
                    outcome: int | str = client.get(self.url).status_code
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.codes[outcome] += 1
                if outcome != 200:
                    self.failed_at.append(time.monotonic())
                time.sleep(0.01)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def failed(self) -> int:
        return sum(n for code, n in self.codes.items() if code != 200)

    @property
    def failing_seconds(self) -> float:
        return self.failed_at[-1] - self.failed_at[0] if self.failed_at else 0.0


def _units(runtime: DockerRuntime, arch: str) -> dict[str, list[dict[str, object]]]:
    return dict(runtime.status()["architectures"][arch]["units"])


@pytest.fixture
def restore(docker_runtime: DockerRuntime) -> Iterator[None]:
    """Afterwards: one replica of each scaled unit, at version 1."""
    yield
    for arch, unit in (("micro", "catalog"), ("micro", "orders"), ("mono", "monolith")):
        instances = _units(docker_runtime, arch)[unit]
        if len(instances) != 1:
            docker_runtime.scale(unit, 1)
        if {i["version"] for i in _units(docker_runtime, arch)[unit]} != {"1"}:
            docker_runtime.redeploy(unit, "1")


def test_scale_catalog_to_three_and_back(
    docker_runtime: DockerRuntime, docker_stack: Stack, restore: None
) -> None:
    gateway = docker_stack.entries["micro"]
    assert docker_runtime.scale("catalog", 3) == (1, 3)
    assert len(_units(docker_runtime, "micro")["catalog"]) == 3
    seen: set[str] = set()
    started = time.monotonic()
    with httpx.Client(timeout=10.0) as client:
        while len(seen) < 3 and time.monotonic() - started < 10:
            response = client.get(gateway + "/products/1")
            assert response.status_code == 200
            seen.add(response.headers["x-served-by"])
            time.sleep(0.02)
    assert len(seen) == 3, seen
    with Traffic(gateway + "/products/1") as traffic:
        assert docker_runtime.scale("catalog", 1) == (3, 1)
    assert len(_units(docker_runtime, "micro")["catalog"]) == 1
    assert sum(traffic.codes.values()) > 20
    assert traffic.failed == 0, traffic.codes
    with pytest.raises(LabError, match="edge"):
        docker_runtime.scale("gateway", 2)


def test_redeploy_orders_shows_the_new_version(
    docker_runtime: DockerRuntime, docker_stack: Stack, restore: None
) -> None:
    (old,) = _units(docker_runtime, "micro")["orders"]
    gateway = docker_stack.entries["micro"]
    body = {"customer": "ada", "items": [{"product_id": 5, "quantity": 1}]}
    order = httpx.post(gateway + "/orders", json=body, timeout=10)
    assert order.status_code == 201, order.text
    with Traffic(f"{gateway}/orders/{order.json()['id']}") as traffic:
        result = docker_runtime.redeploy("orders")
    assert result["mode"] == "restart" and (result["from"], result["to"]) == ("1", "2")
    (new,) = _units(docker_runtime, "micro")["orders"]
    assert new["version"] == "2" and new["healthy"] is True
    assert new["instance"] != old["instance"]
    print(
        f"\nsingle-replica redeploy of orders (docker): {result['seconds']} s; GETs failed for "
        f"{traffic.failing_seconds:.1f} s ({dict(traffic.codes)})"
    )
    assert httpx.get(f"{gateway}/orders/{order.json()['id']}", timeout=10).status_code == 200
    # The rest of the stack kept its version.
    assert {i["version"] for i in _units(docker_runtime, "micro")["catalog"]} == {"1"}


def test_rolling_redeploy_of_two_catalogs_fails_no_get(
    docker_runtime: DockerRuntime, docker_stack: Stack, restore: None
) -> None:
    docker_runtime.scale("catalog", 2)
    with Traffic(docker_stack.entries["micro"] + "/products/2") as traffic:
        result = docker_runtime.redeploy("catalog", "3")
    assert result["mode"] == "rolling"
    catalogs = _units(docker_runtime, "micro")["catalog"]
    assert len(catalogs) == 2
    assert {i["version"] for i in catalogs} == {"3"}
    assert sum(traffic.codes.values()) > 20
    assert traffic.failed == 0, traffic.codes
    total = sum(traffic.codes.values())
    print(
        f"\nrolling redeploy of 2 catalogs (docker): {result['seconds']} s, {total} GETs, 0 failed"
    )


def test_rolling_swap_of_the_catalog_to_rust_and_back_fails_no_get(
    docker_runtime: DockerRuntime, docker_stack: Stack, restore: None
) -> None:
    """``redeploy catalog --impl rust``: twinshop/catalog-rs on the same PostgreSQL."""
    docker_runtime.scale("catalog", 2)
    for impl in ("rust", "python"):
        with Traffic(docker_stack.entries["micro"] + "/products/2") as traffic:
            result = docker_runtime.redeploy("catalog", impl=impl)
        assert result["mode"] == "rolling" and result["impl_to"] == impl
        catalogs = _units(docker_runtime, "micro")["catalog"]
        assert [i["impl"] for i in catalogs] == [impl, impl]
        assert sum(traffic.codes.values()) > 20
        assert traffic.failed == 0, traffic.codes
        print(f"\nredeploy catalog --impl {impl} (docker): {result['seconds']} s, 0 failed")


def test_chaos_through_docker_exec(docker_runtime: DockerRuntime, docker_stack: Stack) -> None:
    states = docker_runtime.chaos("catalog", latency_ms=300)
    try:
        assert states and all(s["latency_ms"] == 300 for s in states)
        started = time.monotonic()
        assert (
            httpx.get(docker_stack.entries["micro"] + "/products/1", timeout=10).status_code == 200
        )
        assert time.monotonic() - started >= 0.3
    finally:
        reset = docker_runtime.chaos("catalog", latency_ms=0)
    assert all(s["latency_ms"] == 0 for s in reset)
    with pytest.raises(LabError, match="edge"):
        docker_runtime.chaos("lb", latency_ms=1)
