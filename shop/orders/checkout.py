"""What both checkout flows share: the request, how an outcome becomes an answer, and the
named points where a crash can be injected (see ``shop/kernel/chaos.py``).

The composition root picks the flow: ``one_transaction`` (the monolith: everything in one
database transaction) or ``saga`` (the orders service: a durable step before and after
each call to catalog). Both store a key's answer in the transaction that decides the
order's fate, which is what makes a retried checkout exactly-once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from shop.orders.idempotency import Answer, KeyPolicy
from shop.orders.model import Order
from shop.orders.ports import KeyId, OrdersUnitOfWork

Render = Callable[[Order | Exception], Answer]
"""A confirmed order, or why not (``UnknownProducts``, ``InsufficientStock``,
``InventoryUnavailable``) → the HTTP answer (the router knows the shapes)."""
Crash = Callable[[str], None]
"""``crash(point)``: die here if chaos armed this point; a no-op otherwise."""
UowFactory = Callable[[], OrdersUnitOfWork]


def no_crash(_: str) -> None:
    return None


@dataclass(frozen=True)
class CheckoutRequest:
    customer: str
    wanted: list[tuple[int, int]]  # (product_id, quantity), no product twice
    key: KeyId | None = None
    fingerprint: str = ""


@dataclass
class Settings:
    """The knobs of both flows; tests shorten them."""

    policy: KeyPolicy
    budget: float = 2.0
    """Seconds a checkout may take from its arrival; then 503 and nothing stays reserved."""


def wall_clock() -> float:
    return time.time()
