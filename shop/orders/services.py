"""The orders use cases both architectures share: read an order, and the reconciler's
round that finishes what a crash or a timeout left half done in the saga.

The checkout and cancel flows themselves are ``one_transaction`` (monolith) and ``saga``
(orders service); the composition root picks one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shop.orders.model import Order, OrderNotFound, Status
from shop.orders.ports import Inventory, InventoryUnavailable, OrdersUnitOfWork

FINISHED_BY_RELEASE: dict[Status, Status] = {
    "pending": "failed",
    "releasing": "failed",
    "cancelling": "cancelled",
}


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
    """Release the stock of checkouts that will not finish (``pending`` for longer than
    ``older_than``, ``releasing``) and finish cancels that were cut (``cancelling``).

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
                settled += release_and_finish(uow, inventory, order_id, from_=status)
        except InventoryUnavailable:
            break
    return settled


def release_and_finish(
    uow: OrdersUnitOfWork, inventory: Inventory, order_id: str, *, from_: Status
) -> bool:
    """``pending`` → ``releasing`` → release → ``failed``; ``cancelling`` → release →
    ``cancelled``. Inside ``with uow``.

    The first move is a compare-and-set, so a checkout that is still running cannot also
    confirm this order. If catalog cannot be reached, ``InventoryUnavailable`` propagates
    and the order stays ``releasing``/``cancelling`` for the next round.
    """
    if from_ == "pending":
        if not uow.orders.move(order_id, from_="pending", to="releasing"):
            return False
        from_ = "releasing"
    uow.commit()
    inventory.release(order_id)
    moved = uow.orders.move(order_id, from_=from_, to=FINISHED_BY_RELEASE[from_])
    uow.commit()
    return moved


def prune_keys(uow: OrdersUnitOfWork, *, now: float) -> int:
    """Forget Idempotency-Keys that expired."""
    with uow:
        pruned = uow.keys.prune(now=now)
        uow.commit()
    return pruned
