"""Exactly once under a crash at every point where a crash changes the outcome.

For each crash point of each architecture: arm it, check out (or cancel) once — the unit
dies there with SIGKILL — let the supervisor bring it back, retry with the same
Idempotency-Key until a definitive answer, and check: one order for the key, the retry's
answer is that order, stock conserved for the product, nothing left ``pending``,
``releasing`` or ``cancelling`` once the reconciler has run. Plus catalog dying after it
committed (the answer lost), for a reservation and for a release.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.support import Api, Stack, eventually, running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FAST = {
    "TWINSHOP_IDEMPOTENCY_LEASE": "2",
    "TWINSHOP_RECONCILE_AFTER": "2",
    "TWINSHOP_RECONCILE_INTERVAL": "0.3",
    "TWINSHOP_CATALOG_CONNECT_TIMEOUT": "0.3",
}
UNSETTLED = ("pending", "releasing", "cancelling")
DEFINITIVE = (200, 201, 409, 422)
QUANTITY = 2


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {"orders": FAST, "monolith": FAST}
    with running_stack(tmp_path_factory.mktemp("crash"), unit_env=env, supervise=True) as s:
        yield s


def _api(stack: Stack, arch: str) -> Api:
    return Api(arch, stack.entries[arch], stack.admin_token)


def _arm(stack: Stack, unit: str, point: str) -> None:
    assert stack.runtime is not None
    stack.runtime.chaos(unit, crash_at=point)


def _pids(stack: Stack, unit: str) -> list[int]:
    assert stack.runtime is not None
    return [int(r["pid"]) for r in stack.runtime.instances(unit)]


def _orders_db(stack: Stack, arch: str) -> str:
    assert stack.runtime is not None
    name = "micro-orders.db" if arch == "micro" else "mono-monolith.db"
    return str(stack.runtime.state.data / name)


def _statuses(stack: Stack, arch: str, customer: str) -> list[str]:
    uri = f"file:{_orders_db(stack, arch)}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        rows = db.execute("SELECT status FROM orders WHERE customer = ?", (customer,))
        return sorted(row[0] for row in rows)


def _until_definitive(send: Any, *, within: float = 40.0) -> httpx.Response:
    """Retry like a client with an Idempotency-Key: until an answer that is not 'later'."""
    deadline = time.monotonic() + within
    last: httpx.Response | None = None
    while time.monotonic() < deadline:
        try:
            last = send()
        except httpx.HTTPError:
            last = None
        if last is not None and last.status_code in DEFINITIVE:
            in_flight = last.status_code == 409 and "in progress" in last.text
            if not in_flight:
                return last
        time.sleep(0.3)
    raise AssertionError(f"no definitive answer within {within} s (last: {last!r})")


def _settled(stack: Stack, arch: str, customer: str) -> None:
    eventually(
        lambda: not set(_statuses(stack, arch, customer)) & set(UNSETTLED),
        within=30,
        what=f"{customer}'s orders settled by the reconciler",
    )


CHECKOUT_POINTS = [
    ("micro", "orders", "after_pending"),
    ("micro", "orders", "after_reserve"),
    ("micro", "orders", "after_confirm"),
    ("mono", "monolith", "after_reserve"),
    ("mono", "monolith", "after_confirm"),
]


@pytest.mark.parametrize(("arch", "unit", "point"), CHECKOUT_POINTS)
@pytest.mark.parametrize("retry", ["soon", "after_the_reconciler"])
def test_checkout_crash_then_retry_makes_exactly_one_order(
    stack: Stack, arch: str, unit: str, point: str, retry: str
) -> None:
    api = _api(stack, arch)
    customer = f"crash-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    product = api.new_product(stock=10)

    def send() -> httpx.Response:
        return api.checkout([(product["id"], QUANTITY)], customer=customer, headers=key)

    pids = _pids(stack, unit)
    _arm(stack, unit, point)
    first = send()
    assert first.status_code in (201, 502, 503, 504), first.text  # the unit died mid-request
    if retry == "after_the_reconciler":
        _settled(stack, arch, customer)  # a pending order was released by now
    answer = _until_definitive(send)
    assert answer.status_code == 201, answer.text
    assert _pids(stack, unit) != pids, f"{unit} never reached {point}"
    replay = send()
    assert replay.status_code == 201 and replay.json() == answer.json()
    _settled(stack, arch, customer)
    visible = api.http.get("/orders", params={"customer": customer}).json()
    assert [o["id"] for o in visible["items"]] == [answer.json()["id"]]
    assert _statuses(stack, arch, customer).count("confirmed") == 1
    eventually(
        lambda: api.stock(product["id"]) == 10 - QUANTITY,
        within=20,
        what="stock = seed - confirmed quantity",
    )
    api.close()


CANCEL_POINTS = [
    ("micro", "orders", "after_cancelling"),
    ("micro", "orders", "after_release"),
    ("micro", "orders", "after_cancel"),
    ("mono", "monolith", "after_release"),
    ("mono", "monolith", "after_cancel"),
    ("micro", "catalog", "after_release"),  # catalog released, its answer lost
]


@pytest.mark.parametrize(("arch", "unit", "point"), CANCEL_POINTS)
def test_cancel_crash_then_retry_gives_the_stock_back_once(
    stack: Stack, arch: str, unit: str, point: str
) -> None:
    api = _api(stack, arch)
    customer = f"cancel-{uuid.uuid4().hex[:8]}"
    product = api.new_product(stock=10)
    placed = api.checkout([(product["id"], QUANTITY)], customer=customer)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    pids = _pids(stack, unit)
    _arm(stack, unit, point)
    first = api.http.post(f"/orders/{order_id}/cancel")
    assert first.status_code in (200, 502, 503, 504), first.text
    answer = _until_definitive(lambda: api.http.post(f"/orders/{order_id}/cancel"))
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert _pids(stack, unit) != pids, f"{unit} never reached {point}"
    _settled(stack, arch, customer)
    assert _statuses(stack, arch, customer) == ["cancelled"]
    eventually(lambda: api.stock(product["id"]) == 10, within=20, what="stock back, once")
    assert api.http.get(f"/orders/{order_id}").json()["status"] == "cancelled"
    api.close()


def test_catalog_dying_after_it_reserved_leaks_nothing(stack: Stack) -> None:
    api = _api(stack, "micro")
    customer = f"lost-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    product = api.new_product(stock=10)

    def send() -> httpx.Response:
        return api.checkout([(product["id"], QUANTITY)], customer=customer, headers=key)

    pids = _pids(stack, "catalog")
    _arm(stack, "catalog", "after_reserve")
    first = send()
    assert first.status_code in (201, 502, 503, 504), first.text
    answer = _until_definitive(send)
    assert answer.status_code == 201, answer.text
    assert _pids(stack, "catalog") != pids, "catalog never reached after_reserve"
    _settled(stack, "micro", customer)
    assert _statuses(stack, "micro", customer).count("confirmed") == 1
    eventually(
        lambda: api.stock(product["id"]) == 10 - QUANTITY,
        within=20,
        what="the lost reservation released, the retried one kept",
    )
    api.close()


def test_a_unit_killed_again_and_again_comes_back_at_once(stack: Stack) -> None:
    runtime = stack.runtime
    assert runtime is not None
    api = _api(stack, "mono")
    for _ in range(3):
        pid = runtime.instances("monolith")[0]["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        eventually(
            lambda old=pid: runtime.instances("monolith")[0]["pid"] != old,
            within=10,
            what="monolith respawned",
        )
        eventually(
            lambda: api.http.get("/products/1").status_code == 200,
            within=20,
            what="the monolith answers again",
        )
        assert time.monotonic() - killed_at < 15  # no growing back-off for outside kills
    log = (runtime.state.logs / "supervisor.log").read_text()
    assert "was killed after it started" in log
    api.close()
