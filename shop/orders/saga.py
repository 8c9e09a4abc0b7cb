"""Checkout and cancel in the orders service: a saga across the network to catalog.

Never a transaction across a network call. Instead each step commits a durable record of
how far it got, and every step can be repeated:

- checkout: key + ``pending`` order (one commit) → reserve at catalog (idempotent by order
  id) → ``confirmed`` + the key's answer (one commit). Refused → ``rejected`` + answer.
  Catalog unavailable or the time budget spent → ``releasing`` → release → ``failed``, 503.
- cancel: ``confirmed`` → ``cancelling`` (one commit) → release at catalog (idempotent) →
  ``cancelled``.

Whatever a crash interrupts, the reconciler (``shop.orders.services.reconcile``) or the
client's retry with the same key finishes: a ``pending`` order is resumed by the retry or
released once old; ``releasing`` ends ``failed``; ``cancelling`` ends ``cancelled``.
"""

from __future__ import annotations

import time
from dataclasses import replace

from shop.core import tracing
from shop.orders import idempotency
from shop.orders.checkout import (
    CheckoutRequest,
    Crash,
    Render,
    Settings,
    UowFactory,
    no_crash,
    wall_clock,
)
from shop.orders.idempotency import Answer
from shop.orders.model import Order, OrderNotFound, pending_order
from shop.orders.ports import (
    InsufficientStock,
    Inventory,
    InventoryUnavailable,
    UnknownProducts,
)

RELEASE_AT_LEAST = 0.2
"""Seconds of budget worth a release attempt right away; less, and the reconciler does it."""


class Abandoned(InventoryUnavailable):
    """The order was released (by the reconciler) before this checkout could confirm it."""


def checkout(
    unit_of_work: UowFactory,
    inventory: Inventory,
    request: CheckoutRequest,
    render: Render,
    *,
    settings: Settings,
    arrived: float | None = None,
    crash: Crash = no_crash,
) -> Answer:
    deadline = (time.monotonic() if arrived is None else arrived) + settings.budget
    with tracing.span("saga: pending commit"):
        started = _start(unit_of_work, request, settings)
    if isinstance(started, Answer):
        return started
    order = started
    crash("after_pending")
    try:
        with tracing.span("saga: reserve"):
            priced = inventory.reserve(order.id, order.lines, deadline=deadline)
    except (UnknownProducts, InsufficientStock) as refusal:
        try:
            with tracing.span("saga: reject"):
                return _finish(unit_of_work, request, order, render(refusal), to="rejected")
        except Abandoned as exc:
            return render(exc)
    except InventoryUnavailable as exc:
        with tracing.span("saga: release"):
            _give_up(unit_of_work, inventory, order.id, deadline)
        return render(exc)
    crash("after_reserve")
    confirmed = replace(order, status="confirmed", lines=list(priced))
    try:
        with tracing.span("saga: confirm"):
            answer = _finish(unit_of_work, request, confirmed, render(confirmed), to="confirmed")
    except Abandoned as exc:
        return render(exc)
    crash("after_confirm")
    return answer


def _start(
    unit_of_work: UowFactory, request: CheckoutRequest, settings: Settings
) -> Order | Answer:
    """Commit the pending order (and the key that holds it), or answer from the key."""
    policy = settings.policy
    key = request.key
    order = pending_order(request.customer, request.wanted)
    with unit_of_work() as uow:
        if key is None:
            uow.orders.add(order)
            uow.commit()
            return order
        now = wall_clock()
        record = uow.keys.get(key)
        held = uow.orders.get(record.order_id) if record and record.order_id else None
        verdict = idempotency.judge(
            record, request.fingerprint, held.status if held else None, now=now, policy=policy
        )
        if verdict.kind == "mismatch":
            return idempotency.mismatch(key.key)
        if verdict.kind == "replay" and record is not None:
            return idempotency.replayed(record)
        if verdict.kind == "in_flight":
            return idempotency.in_flight(policy)
        if verdict.kind == "resume" and record is not None and held is not None:
            order = held  # the holder died: finish its order, not a new one
            taken = uow.keys.replace(
                record, idempotency.renewed(record, held.id, now=now, policy=policy)
            )
        else:
            fresh = idempotency.fresh_record(
                key, request.fingerprint, order.id, now=now, policy=policy
            )
            taken = uow.keys.insert(fresh) if record is None else uow.keys.replace(record, fresh)
            if taken:
                uow.orders.add(order, key=key)
        if not taken:
            return idempotency.in_flight(policy)  # a concurrent request got there first
        uow.commit()
    return order


def _finish(
    unit_of_work: UowFactory, request: CheckoutRequest, order: Order, answer: Answer, *, to: str
) -> Answer:
    """``pending`` → ``to``, and the key's answer, in one commit."""
    with unit_of_work() as uow:
        if to == "confirmed":
            moved = uow.orders.confirm(order.id, order.lines)
        else:
            moved = uow.orders.move(order.id, from_="pending", to="rejected")
        if not moved:
            return _already_settled(uow.orders.get(order.id), request, unit_of_work)
        if request.key is not None:
            uow.keys.settle(request.key, order.id, answer.status_code, answer.body)
        uow.commit()
    return answer


def _already_settled(
    order: Order | None, request: CheckoutRequest, unit_of_work: UowFactory
) -> Answer:
    """Someone else moved the order first: a resumed twin (then replay its answer) or the
    reconciler (it released the order: 503, and the next retry starts afresh)."""
    if request.key is not None and order is not None and order.status != "releasing":
        with unit_of_work() as uow:
            record = uow.keys.get(request.key)
        if record is not None and record.state == "done":
            return idempotency.replayed(record)
    raise Abandoned(f"order {order.id if order else '?'} was released while waiting")


def _give_up(
    unit_of_work: UowFactory, inventory: Inventory, order_id: str, deadline: float
) -> None:
    """Catalog did not answer in time, so whether it reserved is unknown: mark the order
    ``releasing`` (it can never be confirmed now) and release it if the budget allows;
    otherwise the reconciler releases it in its next round."""
    with unit_of_work() as uow:
        if not uow.orders.move(order_id, from_="pending", to="releasing"):
            return
        uow.commit()
    if deadline - time.monotonic() < RELEASE_AT_LEAST:
        return
    try:
        inventory.release(order_id, deadline=deadline)
    except InventoryUnavailable:
        return
    with unit_of_work() as uow:
        uow.orders.move(order_id, from_="releasing", to="failed")
        uow.commit()


def cancel(
    unit_of_work: UowFactory,
    inventory: Inventory,
    order_id: str,
    *,
    crash: Crash = no_crash,
) -> Order:
    """``confirmed`` → ``cancelling`` → release → ``cancelled``; idempotent, and a cancel cut
    anywhere is finished by its retry or by the reconciler."""
    with unit_of_work() as uow:
        order = uow.orders.get(order_id)
        if order is None or not order.visible:
            raise OrderNotFound(order_id)
        if order.status == "cancelled":
            return order
        if order.status == "confirmed":
            uow.orders.move(order_id, from_="confirmed", to="cancelling")
            uow.commit()
    crash("after_cancelling")
    inventory.release(order_id)  # idempotent: a second release restores nothing
    crash("after_release")
    with unit_of_work() as uow:
        uow.orders.move(order_id, from_="cancelling", to="cancelled")
        uow.commit()
    crash("after_cancel")
    return replace(order, status="cancelled")
