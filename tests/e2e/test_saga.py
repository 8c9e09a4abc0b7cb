"""The checkout saga under faults (microservices), and the same crash in the monolith.

Each test ends by checking the invariants of the design through the public API.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from lab.invariants import Snapshot, violations
from tests.support import Api, Stack, eventually, running_stack

FAST_SAGA = {
    "orders": {
        "TWINSHOP_CATALOG_CONNECT_TIMEOUT": "0.3",
        "TWINSHOP_CATALOG_READ_TIMEOUT": "0.5",
        "TWINSHOP_CATALOG_ATTEMPTS": "2",
        "TWINSHOP_RECONCILE_AFTER": "1.5",
        "TWINSHOP_RECONCILE_INTERVAL": "0.3",
    }
}


@pytest.fixture(scope="module")
def saga_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Its own stack, with short timeouts, so that killing units does not disturb others."""
    with running_stack(tmp_path_factory.mktemp("saga"), unit_env=FAST_SAGA) as stack:
        yield stack


@pytest.fixture
def micro(saga_stack: Stack) -> Iterator[Api]:
    api = Api("micro", saga_stack.entries["micro"], saga_stack.admin_token)
    yield api
    api.close()


@pytest.fixture
def mono(saga_stack: Stack) -> Iterator[Api]:
    api = Api("mono", saga_stack.entries["mono"], saga_stack.admin_token)
    yield api
    api.close()


def _unit_url(stack: Stack, unit: str) -> str:
    assert stack.runtime is not None
    return str(stack.runtime.instances(unit)[0]["url"])


def _chaos(stack: Stack, unit: str, **toggles: object) -> None:
    response = httpx.put(
        _unit_url(stack, unit) + "/_chaos",
        json=toggles,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    assert response.status_code == 200, response.text


def _stock_is(api: Api, product_id: int, expected: int) -> Callable[[], bool]:
    """A probe for ``_eventually``; the edge may still answer 503 while its breaker recovers."""

    def probe() -> bool:
        response = api.http.get(f"/products/{product_id}")
        return response.status_code == 200 and response.json()["stock"] == expected

    return probe


def _serving(api: Api) -> Callable[[], bool]:
    def probe() -> bool:
        return all(api.http.get(path).status_code == 200 for path in ("/products", "/orders"))

    return probe


def _assert_invariants(api: Api, before: Snapshot, acknowledged: list[str]) -> None:
    eventually(_serving(api), within=10, what=f"{api.arch} serving again")
    after = Snapshot.take(api.http)
    assert violations(before, after, acknowledged=acknowledged) == []


def test_catalog_down_during_checkout_is_503_and_leaks_nothing(
    saga_stack: Stack, micro: Api
) -> None:
    assert saga_stack.runtime is not None
    product = micro.new_product(stock=10)
    ok = micro.checkout([(product["id"], 1)])
    assert ok.status_code == 201
    before = Snapshot.take(micro.http)
    saga_stack.runtime.kill("catalog")
    try:
        started = time.monotonic()
        response = micro.checkout([(product["id"], 2)])
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert time.monotonic() - started < 5
        assert micro.http.get("/orders/" + ok.json()["id"]).status_code == 200  # orders still up
    finally:
        saga_stack.runtime.start("catalog")
    eventually(_stock_is(micro, product["id"], 9), within=10, what="stock back to 9")
    _assert_invariants(micro, before, [ok.json()["id"]])


def test_catalog_too_slow_is_503_and_the_stock_comes_back(saga_stack: Stack, micro: Api) -> None:
    product = micro.new_product(stock=10)
    before = Snapshot.take(micro.http)
    _chaos(saga_stack, "catalog", latency_ms=1500)
    try:
        started = time.monotonic()
        response = micro.checkout([(product["id"], 3)])
        assert response.status_code == 503
        assert time.monotonic() - started < 5
    finally:
        _chaos(saga_stack, "catalog", latency_ms=0)
    # The catalog does the slow reserve after orders gave up; the release (now, or by the
    # reconciler) or the tombstone makes sure that stock is not lost.
    time.sleep(2)
    eventually(_stock_is(micro, product["id"], 10), within=15, what="stock back to 10")
    _assert_invariants(micro, before, [])


def test_a_reserve_that_arrives_after_its_release_is_refused(saga_stack: Stack) -> None:
    catalog = _unit_url(saga_stack, "catalog")
    order_id = str(uuid.uuid4())
    stock_before = httpx.get(f"{catalog}/products/3").json()["stock"]
    released = httpx.delete(f"{catalog}/reservations/{order_id}")
    assert released.status_code == 200 and released.json()["restored"] is False
    late = httpx.put(
        f"{catalog}/reservations/{order_id}",
        json={"items": [{"product_id": 3, "quantity": 2}]},
    )
    assert late.status_code == 410
    assert httpx.get(f"{catalog}/products/3").json()["stock"] == stock_before


def test_reserve_and_release_are_idempotent_by_order_id(saga_stack: Stack) -> None:
    catalog = _unit_url(saga_stack, "catalog")
    order_id = str(uuid.uuid4())
    before = httpx.get(f"{catalog}/products/4").json()["stock"]
    body = {"items": [{"product_id": 4, "quantity": 2}]}
    first = httpx.put(f"{catalog}/reservations/{order_id}", json=body)
    again = httpx.put(f"{catalog}/reservations/{order_id}", json=body)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert httpx.get(f"{catalog}/products/4").json()["stock"] == before - 2
    assert httpx.delete(f"{catalog}/reservations/{order_id}").json()["restored"] is True
    assert httpx.delete(f"{catalog}/reservations/{order_id}").json()["restored"] is False
    assert httpx.get(f"{catalog}/products/4").json()["stock"] == before


def test_orders_crash_between_reserve_and_confirm_is_mended_by_the_reconciler(
    saga_stack: Stack, micro: Api
) -> None:
    assert saga_stack.runtime is not None
    product = micro.new_product(stock=10)
    before = Snapshot.take(micro.http)
    _chaos(saga_stack, "orders", crash_on_checkout=True)
    response = micro.checkout([(product["id"], 4)])
    assert response.status_code in (502, 503)  # the edge lost its upstream mid-request
    assert micro.stock(product["id"]) == 6  # reserved at catalog, never confirmed
    saga_stack.runtime.start("orders")
    eventually(_stock_is(micro, product["id"], 10), within=30, what="stock released")
    _assert_invariants(micro, before, [])
    assert micro.checkout([(product["id"], 1)]).status_code == 201


def test_the_same_crash_in_the_monolith_rolls_back_one_transaction(
    saga_stack: Stack, mono: Api
) -> None:
    assert saga_stack.runtime is not None
    product = mono.new_product(stock=10)
    before = Snapshot.take(mono.http)
    _chaos(saga_stack, "monolith", crash_on_checkout=True)
    response = mono.checkout([(product["id"], 4)])
    assert response.status_code in (502, 503)
    # The whole monolith is gone: browsing fails too.
    assert mono.http.get("/products/1").status_code == 503
    saga_stack.runtime.start("monolith")
    eventually(_stock_is(mono, product["id"], 10), within=10, what="monolith back, stock 10")
    _assert_invariants(mono, before, [])
