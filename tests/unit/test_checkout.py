"""Checkout, cancel and the reconciler against fakes: the saga's bookkeeping, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shop.orders import services
from shop.orders.model import DuplicateProduct, Order, OrderNotFound, pending_order
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts
from tests.unit.fakes import FakeInventory, FakeUnitOfWork


def setup() -> tuple[FakeUnitOfWork, FakeInventory]:
    return FakeUnitOfWork(), FakeInventory({1: 5, 2: 1}, {1: 300, 2: 125})


def order(*wanted: tuple[int, int]) -> Order:
    return pending_order("ada", list(wanted))


def test_checkout_confirms_with_snapshotted_prices() -> None:
    uow, inventory = setup()
    confirmed = services.checkout(uow, inventory, order((1, 2), (2, 1)))
    assert confirmed.status == "confirmed"
    assert confirmed.total_cents == 2 * 300 + 125
    assert uow.orders.rows[confirmed.id].status == "confirmed"
    assert inventory.stock == {1: 3, 2: 0}


def test_remote_checkout_commits_the_pending_order_before_calling_out() -> None:
    uow, inventory = setup()
    services.checkout(uow, inventory, order((1, 1)))
    assert uow.commits == 2  # pending (the saga log), then confirmed


def test_short_stock_leaves_a_rejected_invisible_order() -> None:
    uow, inventory = setup()
    with pytest.raises(InsufficientStock):
        services.checkout(uow, inventory, order((1, 1), (2, 2)))
    assert [o.status for o in uow.orders.rows.values()] == ["rejected"]
    assert uow.orders.search(customer=None, limit=10, offset=0) == ([], 0)
    assert inventory.stock == {1: 5, 2: 1}


def test_unknown_product_is_reported() -> None:
    uow, inventory = setup()
    with pytest.raises(UnknownProducts):
        services.checkout(uow, inventory, order((9, 1)))


def test_duplicate_product_is_refused_before_anything_happens() -> None:
    with pytest.raises(DuplicateProduct):
        order((1, 1), (1, 2))


def test_unavailable_inventory_releases_what_it_may_have_reserved() -> None:
    uow, inventory = setup()
    inventory.reserve_then_fail = True
    with pytest.raises(InventoryUnavailable):
        services.checkout(uow, inventory, order((1, 2)))
    assert inventory.stock[1] == 5
    assert [o.status for o in uow.orders.rows.values()] == ["failed"]


def test_when_release_fails_too_the_reconciler_finishes_later() -> None:
    uow, inventory = setup()
    inventory.reserve_then_fail = True
    original_release = inventory.release
    inventory.release = lambda order_id: (_ for _ in ()).throw(InventoryUnavailable("x"))  # type: ignore[method-assign]
    with pytest.raises(InventoryUnavailable):
        services.checkout(uow, inventory, order((1, 2)))
    assert [o.status for o in uow.orders.rows.values()] == ["releasing"]
    assert inventory.stock[1] == 3
    inventory.release = original_release  # type: ignore[method-assign]
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=5)) == 1
    assert inventory.stock[1] == 5
    assert [o.status for o in uow.orders.rows.values()] == ["failed"]


def test_reconciler_releases_old_pending_orders_only() -> None:
    uow, inventory = setup()
    crashed = order((1, 2))
    uow.orders.add(crashed)
    inventory.reserve(crashed.id, crashed.lines)  # then the process died
    fresh = order((1, 1))
    uow.orders.add(fresh)
    now = datetime.now(UTC)
    uow.orders.rows[crashed.id].created_at = now - timedelta(seconds=60)
    uow.commit()
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=10), now=now) == 1
    assert uow.orders.rows[crashed.id].status == "failed"
    assert uow.orders.rows[fresh.id].status == "pending"
    assert inventory.stock[1] == 5


def test_reconciler_stops_while_inventory_is_down_and_resumes() -> None:
    uow, inventory = setup()
    stuck = order((1, 2))
    stuck.created_at -= timedelta(minutes=1)
    uow.orders.add(stuck)
    uow.commit()
    inventory.down = True
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=1)) == 0
    inventory.down = False
    assert services.reconcile(uow, inventory, older_than=timedelta(seconds=1)) == 1


def test_a_checkout_the_reconciler_abandoned_cannot_confirm() -> None:
    uow, inventory = setup()

    def reconciler_runs_now() -> None:
        for order_id in list(uow.orders.rows):
            uow.orders.move(order_id, from_="pending", to="releasing")

    with pytest.raises(InventoryUnavailable):
        services.checkout(uow, inventory, order((1, 1)), after_reserve=reconciler_runs_now)


def test_cancel_releases_once_and_is_idempotent() -> None:
    uow, inventory = setup()
    confirmed = services.checkout(uow, inventory, order((1, 2)))
    assert services.cancel(uow, inventory, confirmed.id).status == "cancelled"
    assert services.cancel(uow, inventory, confirmed.id).status == "cancelled"
    assert inventory.stock[1] == 5


def test_invisible_orders_cannot_be_read_or_cancelled() -> None:
    uow, inventory = setup()
    with pytest.raises(InsufficientStock):
        services.checkout(uow, inventory, order((2, 5)))
    rejected = next(iter(uow.orders.rows))
    with pytest.raises(OrderNotFound):
        services.get_order(uow, rejected)
    with pytest.raises(OrderNotFound):
        services.cancel(uow, inventory, rejected)
