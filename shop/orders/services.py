"""The orders use cases: checkout, cancel, and the reconciler that mends broken checkouts.

Written once for both architectures. The only fork is ``inventory.joins_transaction``:
in the monolith everything below is one database transaction; in the orders service the
order row is committed before each call to catalog, so it doubles as the saga's log and a
crash at any point leaves something the reconciler can finish.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shop.orders.model import Order, OrderNotFound
from shop.orders.ports import (
    InsufficientStock,
    Inventory,
    InventoryUnavailable,
    OrdersUnitOfWork,
    UnknownProducts,
)


def _end_step(uow: OrdersUnitOfWork, inventory: Inventory) -> None:
    """Commit before talking to a remote inventory: never hold a transaction across a
    network call, and leave a durable record of how far we got."""
    if not inventory.joins_transaction:
        uow.commit()


def checkout(
    uow: OrdersUnitOfWork,
    inventory: Inventory,
    order: Order,
    *,
    after_reserve: Callable[[], None] = lambda: None,
) -> Order:
    """Reserve stock for a pending order and confirm it, all or nothing.

    Raises ``UnknownProducts`` / ``InsufficientStock`` (nothing changed, the order never
    becomes visible) or ``InventoryUnavailable`` (nothing stays reserved: released now, or
    by the reconciler once catalog is back).
    """
    with uow:
        uow.orders.add(order)
        _end_step(uow, inventory)
        try:
            priced = inventory.reserve(order.id, order.lines)
        except (UnknownProducts, InsufficientStock):
            uow.rollback()
            if not inventory.joins_transaction:
                uow.orders.move(order.id, from_="pending", to="rejected")
                uow.commit()
            raise
        except InventoryUnavailable:
            uow.rollback()
            if not inventory.joins_transaction:
                with suppress(InventoryUnavailable):  # then the reconciler releases it
                    _release(uow, inventory, order.id, from_="pending")
            raise
        after_reserve()
        if not uow.orders.confirm(order.id, priced):
            # The reconciler gave up on this order while catalog was slow; it released it.
            raise InventoryUnavailable(f"order {order.id} was abandoned while waiting")
        uow.commit()
    return replace(order, status="confirmed", lines=list(priced))


def cancel(uow: OrdersUnitOfWork, inventory: Inventory, order_id: str) -> Order:
    """Cancel a confirmed order and give its stock back exactly once; idempotent."""
    with uow:
        order = uow.orders.get(order_id)
        if order is None or not order.visible:
            raise OrderNotFound(order_id)
        if order.status == "cancelled":
            return order
        _end_step(uow, inventory)
        inventory.release(order_id)  # idempotent: a second cancel restores nothing
        uow.orders.move(order_id, from_="confirmed", to="cancelled")
        uow.commit()
    return replace(order, status="cancelled")


def get_order(uow: OrdersUnitOfWork, order_id: str) -> Order:
    with uow:
        order = uow.orders.get(order_id)
    if order is None or not order.visible:
        raise OrderNotFound(order_id)
    return order


def reconcile(
    uow: OrdersUnitOfWork,
    inventory: Inventory,
    *,
    older_than: timedelta,
    now: datetime | None = None,
) -> int:
    """Release the stock of checkouts that never finished (a crash, a timeout).

    Returns how many orders were settled. Stops at the first ``InventoryUnavailable``:
    the rest wait for the next round.
    """
    cutoff = (now or datetime.now(UTC)) - older_than
    with uow:
        stuck = uow.orders.stuck(older_than=cutoff)
    settled = 0
    for order_id, status in stuck:
        try:
            with uow:
                settled += _release(uow, inventory, order_id, from_=status)
        except InventoryUnavailable:
            break
    return settled


def _release(uow: OrdersUnitOfWork, inventory: Inventory, order_id: str, *, from_: str) -> bool:
    """``pending`` → ``releasing`` → release at catalog → ``failed``, inside ``with uow``.

    The first move is a compare-and-set, so a checkout that is still running cannot also
    confirm this order. If catalog cannot be reached, ``InventoryUnavailable`` propagates
    and the order stays ``releasing`` for the reconciler's next round.
    """
    if from_ == "pending" and not uow.orders.move(order_id, from_="pending", to="releasing"):
        return False
    uow.commit()
    inventory.release(order_id)
    moved = uow.orders.move(order_id, from_="releasing", to="failed")
    uow.commit()
    return moved
