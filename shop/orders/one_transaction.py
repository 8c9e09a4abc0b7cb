"""Checkout and cancel in the monolith: one database transaction each.

The key, the order, the reservation (the catalog module joins the same connection) and
the stored answer commit together or not at all: a crash anywhere before the commit
leaves nothing, a crash after it leaves the answer for the retry to replay. Compare with
``shop/orders/saga.py``, the same use cases across a network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from shop.core import tracing
from shop.orders import idempotency
from shop.orders.checkout import CheckoutRequest, Crash, Render, UowFactory, no_crash, wall_clock
from shop.orders.idempotency import Answer, KeyPolicy
from shop.orders.model import Order, OrderNotFound, pending_order
from shop.orders.ports import (
    InsufficientStock,
    Inventory,
    InventoryUnavailable,
    OrdersUnitOfWork,
    UnknownProducts,
)

InventoryFor = Callable[[OrdersUnitOfWork], Inventory]
ATTEMPTS = 5  # a concurrent request with the same key committed first: judge again


def checkout(
    unit_of_work: UowFactory,
    inventory_for: InventoryFor,
    request: CheckoutRequest,
    render: Render,
    *,
    policy: KeyPolicy,
    crash: Crash = no_crash,
) -> Answer:
    for _ in range(ATTEMPTS):
        answer = _checkout_once(unit_of_work(), inventory_for, request, render, policy, crash)
        if answer is not None:
            return answer
    return idempotency.in_flight(policy)


def _checkout_once(
    uow: OrdersUnitOfWork,
    inventory_for: InventoryFor,
    request: CheckoutRequest,
    render: Render,
    policy: KeyPolicy,
    crash: Crash,
) -> Answer | None:
    key = request.key
    now = wall_clock()
    order = pending_order(request.customer, request.wanted)
    with tracing.span("one transaction"), uow:
        if key is not None:
            record = uow.keys.get(key)
            verdict = idempotency.judge(record, request.fingerprint, None, now=now, policy=policy)
            if verdict.kind == "mismatch":
                return idempotency.mismatch(key.key)
            if verdict.kind == "replay" and record is not None:
                return idempotency.replayed(record)
            held = idempotency.fresh_record(
                key, request.fingerprint, order.id, now=now, policy=policy
            )
            taken = uow.keys.insert(held) if record is None else uow.keys.replace(record, held)
            if not taken:
                return None  # someone else's commit came first: look again
        inventory = inventory_for(uow)
        try:
            with uow.savepoint():
                uow.orders.add(order, key=key)
                with tracing.span("reserve (in process)"):
                    priced = inventory.reserve(order.id, order.lines)
        except (UnknownProducts, InsufficientStock) as refusal:
            # The savepoint took the order and any stock back; the refusal is the answer.
            answer = render(refusal)
            if key is not None:
                uow.keys.settle(key, order.id, answer.status_code, answer.body)
                uow.commit()
            return answer
        except InventoryUnavailable as exc:
            return render(exc)  # leaving the block rolls everything back
        crash("after_reserve")
        uow.orders.confirm(order.id, priced)
        confirmed = replace(order, status="confirmed", lines=list(priced))
        answer = render(confirmed)
        if key is not None:
            uow.keys.settle(key, order.id, answer.status_code, answer.body)
        uow.commit()
    crash("after_confirm")
    return answer


def cancel(
    uow: OrdersUnitOfWork, inventory_for: InventoryFor, order_id: str, *, crash: Crash = no_crash
) -> Order:
    """Give the stock back and mark the order cancelled, in one transaction; idempotent."""
    with uow:
        order = uow.orders.get(order_id)
        if order is None or not order.visible:
            raise OrderNotFound(order_id)
        if order.status == "cancelled":
            return order
        inventory_for(uow).release(order_id)
        crash("after_release")
        uow.orders.move(order_id, from_="confirmed", to="cancelled")
        uow.commit()
    crash("after_cancel")
    return replace(order, status="cancelled")
