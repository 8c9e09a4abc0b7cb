"""The orders domain: an order, its lines, and the life of its status. Standard library only.

Status moves ``pending`` → ``confirmed`` → ``cancelled``; a checkout that fails ends as
``rejected`` (out of stock, unknown product) or ``failed`` (inventory unavailable, stock
released, by way of ``releasing``). In the microservices a cancel passes through
``cancelling`` (decided and durable, stock on its way back). Only ``confirmed`` and
``cancelled`` orders were acknowledged to a customer, so only they (and ``cancelling``,
which reads as ``cancelled``) are visible through the API.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Status = Literal[
    "pending", "confirmed", "cancelling", "cancelled", "rejected", "failed", "releasing"
]
VISIBLE: tuple[Status, ...] = ("confirmed", "cancelling", "cancelled")
MAX_ITEMS = 50
MAX_QUANTITY = 1000
MAX_PRODUCT_ID = 2**31 - 1  # ids are 32-bit integers in every database we use


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    quantity: int
    unit_price_cents: int = 0


@dataclass
class Order:
    id: str
    customer: str
    status: Status
    lines: list[OrderLine]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)

    @property
    def visible(self) -> bool:
        return self.status in VISIBLE

    @property
    def public_status(self) -> str:
        """What a customer reads: a durable cancel is a cancel, even while the stock is
        still on its way back to catalog."""
        return "cancelled" if self.status == "cancelling" else self.status


def new_order_id() -> str:
    return str(uuid.uuid4())


class OrdersError(Exception):
    """A rule of ordering was broken; routers turn these into 4xx answers."""


class DuplicateProduct(OrdersError):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} appears twice in items")
        self.product_id = product_id


class OrderNotFound(OrdersError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} not found")
        self.order_id = order_id


def pending_order(customer: str, wanted: list[tuple[int, int]]) -> Order:
    """A new order for ``(product_id, quantity)`` pairs, not yet priced or reserved."""
    seen: set[int] = set()
    for product_id, _ in wanted:
        if product_id in seen:
            raise DuplicateProduct(product_id)
        seen.add(product_id)
    return Order(
        id=new_order_id(),
        customer=customer,
        status="pending",
        lines=[OrderLine(product_id, quantity) for product_id, quantity in wanted],
    )
