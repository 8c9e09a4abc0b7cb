"""What checkout needs from the outside world. This is where the two architectures differ:

- the monolith's ``Inventory`` reserves stock inside the order's own database transaction;
- the orders service's ``Inventory`` asks the catalog service over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from shop.orders.model import Order, OrderLine, Status


class UnknownProducts(Exception):
    def __init__(self, product_ids: list[int]) -> None:
        super().__init__("unknown product " + ", ".join(str(i) for i in product_ids))
        self.product_ids = product_ids


class InsufficientStock(Exception):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"insufficient stock for product {product_id}")
        self.product_id = product_id


class InventoryUnavailable(Exception):
    """The inventory did not answer in time; whether it reserved is unknown."""


class Inventory(Protocol):
    joins_transaction: bool
    """True when reserve/release run inside the caller's transaction (monolith)."""

    def reserve(self, order_id: str, lines: Sequence[OrderLine]) -> list[OrderLine]:
        """Take stock for every line, all or nothing; return the lines with their prices.

        Raises ``UnknownProducts`` (wins over short stock), ``InsufficientStock`` or
        ``InventoryUnavailable``. Idempotent by order id.
        """
        ...

    def release(self, order_id: str) -> None:
        """Give back what ``reserve`` took for this order, at most once; afterwards a late
        reserve for it is refused. Raises ``InventoryUnavailable``."""
        ...


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...

    def get(self, order_id: str) -> Order | None: ...

    def move(self, order_id: str, *, from_: Status, to: Status) -> bool:
        """Change status only if it is still ``from_`` (compare-and-set)."""
        ...

    def confirm(self, order_id: str, priced: Sequence[OrderLine]) -> bool:
        """``pending`` → ``confirmed`` with prices; ``False`` if no longer pending."""
        ...

    def search(self, *, customer: str | None, limit: int, offset: int) -> tuple[list[Order], int]:
        """Visible orders, newest first (ties by id)."""
        ...

    def stuck(self, *, older_than: datetime) -> list[tuple[str, Status]]:
        """``(id, status)`` of ``pending`` orders created before ``older_than`` and of
        every ``releasing`` one: checkouts that will not finish by themselves."""
        ...


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: str


@dataclass(frozen=True)
class Claim:
    """What the idempotency store says about a key: it is ours now, or here is the past."""

    outcome: str  # "new" | "replay" | "mismatch" | "in_flight"
    response: StoredResponse | None = None


class IdempotencyStore(Protocol):
    def claim(self, key: str, *, fingerprint: str, now: datetime, lease_until: datetime) -> Claim:
        """Take the key for a new request, unless it is known (or held by another)."""
        ...

    def complete(self, key: str, response: StoredResponse) -> None: ...

    def forget(self, key: str) -> None: ...


class OrdersUnitOfWork(Protocol):
    @property
    def orders(self) -> OrderRepository: ...

    @property
    def idempotency(self) -> IdempotencyStore: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...
