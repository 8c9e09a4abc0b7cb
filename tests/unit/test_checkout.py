"""Checkout, cancel and the reconciler against fakes: the saga's bookkeeping, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from shop.orders import saga, services
from shop.orders.checkout import CheckoutRequest, Settings
from shop.orders.idempotency import Answer, KeyPolicy
from shop.orders.model import DuplicateProduct, Order, OrderNotFound, pending_order
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts
from tests.unit.fakes import FakeInventory, FakeUnitOfWork

SETTINGS = Settings(policy=KeyPolicy(lease=5.0), budget=2.0)


def render(outcome: Order | Exception) -> Answer:
    if isinstance(outcome, Order):
        return Answer(201, json.dumps({"id": outcome.id, "status": outcome.status}))
    if isinstance(outcome, UnknownProducts):
        return Answer(422, json.dumps({"product_ids": outcome.product_ids}))
    if isinstance(outcome, InsufficientStock):
        return Answer(409, json.dumps({"product_id": outcome.product_id}))
    assert isinstance(outcome, InventoryUnavailable)
    return Answer(503, "{}")


def setup() -> tuple[FakeUnitOfWork, FakeInventory]:
    return FakeUnitOfWork(), FakeInventory({1: 5, 2: 1}, {1: 300, 2: 125})


def checkout(uow: FakeUnitOfWork, inventory: FakeInventory, *wanted: tuple[int, int]) -> Answer:
    request = CheckoutRequest("ada", list(wanted))
    return saga.checkout(lambda: uow, inventory, request, render, settings=SETTINGS)


def confirmed_id(answer: Answer) -> str:
    assert answer.status_code == 201, answer
    return str(json.loads(answer.body)["id"])


def test_checkout_confirms_with_snapshotted_prices() -> None:
    uow, inventory = setup()
    order_id = confirmed_id(checkout(uow, inventory, (1, 2), (2, 1)))
    order = uow.orders.rows[order_id]
    assert order.status == "confirmed"
    assert order.total_cents == 2 * 300 + 125
    assert inventory.stock == {1: 3, 2: 0}


def test_remote_checkout_commits_the_pending_order_before_calling_out() -> None:
    uow, inventory = setup()
    checkout(uow, inventory, (1, 1))
    assert uow.commits == 2  # pending (the saga log), then confirmed


def test_short_stock_leaves_a_rejected_invisible_order() -> None:
    uow, inventory = setup()
    assert checkout(uow, inventory, (1, 1), (2, 2)).status_code == 409
    assert [o.status for o in uow.orders.rows.values()] == ["rejected"]
    assert uow.orders.search(customer=None, limit=10, offset=0) == ([], 0)
    assert inventory.stock == {1: 5, 2: 1}


def test_unknown_product_is_reported() -> None:
    uow, inventory = setup()
    assert checkout(uow, inventory, (9, 1)).status_code == 422


def test_duplicate_product_is_refused_before_anything_happens() -> None:
    with pytest.raises(DuplicateProduct):
        pending_order("ada", [(1, 1), (1, 2)])


def test_unavailable_inventory_releases_what_it_may_have_reserved() -> None:
    uow, inventory = setup()
    inventory.reserve_then_fail = True
    assert checkout(uow, inventory, (1, 2)).status_code == 503
    assert [o.status for o in uow.orders.rows.values()] == ["failed"]
    assert inventory.stock == {1: 5, 2: 1}


def test_when_release_fails_too_the_reconciler_finishes_later() -> None:
    uow, inventory = setup()
    inventory.down = True
    assert checkout(uow, inventory, (1, 2)).status_code == 503
    assert [o.status for o in uow.orders.rows.values()] == ["releasing"]
    inventory.down = False
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=5)) == 1
    assert [o.status for o in uow.orders.rows.values()] == ["failed"]


def test_with_no_budget_left_the_release_is_left_to_the_reconciler() -> None:
    uow, inventory = setup()
    inventory.reserve_then_fail = True
    request = CheckoutRequest("ada", [(1, 2)])
    tight = Settings(policy=SETTINGS.policy, budget=0.0)
    answer = saga.checkout(lambda: uow, inventory, request, render, settings=tight)
    assert answer.status_code == 503
    assert ("release", next(iter(uow.orders.rows))) not in inventory.calls
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=5)) == 1
    assert inventory.stock == {1: 5, 2: 1}


def test_reconciler_releases_old_pending_orders_only() -> None:
    uow, inventory = setup()
    now = datetime.now(UTC)
    old = pending_order("ada", [(1, 1)])
    old.created_at = now - timedelta(seconds=30)
    new = pending_order("bob", [(1, 1)])
    new.created_at = now
    uow.orders.add(old)
    uow.orders.add(new)
    uow.commit()
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=10), now=now) == 1
    assert uow.orders.rows[old.id].status == "failed"
    assert uow.orders.rows[new.id].status == "pending"


def test_reconciler_stops_while_inventory_is_down_and_resumes() -> None:
    uow, inventory = setup()
    stuck = pending_order("ada", [(1, 1)])
    stuck.created_at = datetime.now(UTC) - timedelta(seconds=30)
    uow.orders.add(stuck)
    uow.commit()
    inventory.down = True
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=1)) == 0
    inventory.down = False
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=1)) == 1


def test_a_checkout_the_reconciler_abandoned_cannot_confirm() -> None:
    uow, inventory = setup()

    def reconciler_runs_now(point: str) -> None:
        if point == "after_reserve":
            services.reconcile(uow, inventory, older_than=timedelta(seconds=-1))

    request = CheckoutRequest("ada", [(1, 1)])
    answer = saga.checkout(
        lambda: uow, inventory, request, render, settings=SETTINGS, crash=reconciler_runs_now
    )
    assert answer.status_code == 503
    assert [o.status for o in uow.orders.rows.values()] == ["failed"]
    assert inventory.stock == {1: 5, 2: 1}


def test_cancel_releases_once_and_is_idempotent() -> None:
    uow, inventory = setup()
    order_id = confirmed_id(checkout(uow, inventory, (1, 2)))
    assert saga.cancel(lambda: uow, inventory, order_id).status == "cancelled"
    assert saga.cancel(lambda: uow, inventory, order_id).status == "cancelled"
    assert inventory.stock == {1: 5, 2: 1}


class Crashed(BaseException):
    """The process died here."""


@pytest.mark.parametrize("point", ["after_cancelling", "after_release"])
def test_a_cut_cancel_is_finished_by_the_reconciler(point: str) -> None:
    uow, inventory = setup()
    order_id = confirmed_id(checkout(uow, inventory, (1, 2)))

    def crash(at: str) -> None:
        if at == point:
            raise Crashed

    with pytest.raises(Crashed):
        saga.cancel(lambda: uow, inventory, order_id, crash=crash)
    assert uow.orders.rows[order_id].status == "cancelling"
    assert uow.orders.rows[order_id].public_status == "cancelled"
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=60)) == 1
    assert uow.orders.rows[order_id].status == "cancelled"
    assert inventory.stock == {1: 5, 2: 1}


def test_a_cancel_whose_release_failed_is_retried_and_finishes() -> None:
    uow, inventory = setup()
    order_id = confirmed_id(checkout(uow, inventory, (1, 2)))
    inventory.down = True
    with pytest.raises(InventoryUnavailable):
        saga.cancel(lambda: uow, inventory, order_id)
    inventory.down = False
    assert saga.cancel(lambda: uow, inventory, order_id).status == "cancelled"
    assert inventory.stock == {1: 5, 2: 1}


def test_invisible_orders_cannot_be_read_or_cancelled() -> None:
    uow, inventory = setup()
    checkout(uow, inventory, (2, 5))
    rejected = next(iter(uow.orders.rows))
    with pytest.raises(OrderNotFound):
        services.get_order(uow, rejected)
    with pytest.raises(OrderNotFound):
        saga.cancel(lambda: uow, inventory, rejected)
