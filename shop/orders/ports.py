"""What checkout needs from the outside world. This is where the two architectures differ:

- the monolith's ``Inventory`` reserves stock inside the order's own database transaction;
- the orders service's ``Inventory`` asks the catalog service over HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
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

    def reserve(
        self, order_id: str, lines: Sequence[OrderLine], *, deadline: float | None = None
    ) -> list[OrderLine]:
        """Take stock for every line, all or nothing; return the lines with their prices.

        Raises ``UnknownProducts`` (wins over short stock), ``InsufficientStock`` or
        ``InventoryUnavailable``. Idempotent by order id. ``deadline`` (``time.monotonic``)
        is when the caller gives up: past it, the inventory must not reserve any more.
        """
        ...

    def release(self, order_id: str, *, deadline: float | None = None) -> None:
        """Give back what ``reserve`` took for this order, at most once; afterwards a late
        reserve for it is refused. Raises ``InventoryUnavailable``."""
        ...


class OrderRepository(Protocol):
    def add(self, order: Order, *, key: KeyId | None = None) -> None:
        """Store a new order; ``key`` is the Idempotency-Key that asked for it."""
        ...

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
        every ``releasing`` or ``cancelling`` one: work that will not finish by itself."""
        ...

    def audit(self, customer: str) -> list[tuple[Order, str | None]]:
        """Every order of a customer, whatever its status, with its Idempotency-Key."""
        ...

    def count_unsettled(self) -> int:
        """Orders in ``pending``, ``releasing`` or ``cancelling``."""
        ...

    def for_key(self, key: KeyId) -> list[Order]:
        """Every order an Idempotency-Key ever asked for (the checks of the lab use it)."""
        ...


@dataclass(frozen=True)
class KeyId:
    """An Idempotency-Key is one client's: scoped to the customer who sent it."""

    customer: str
    key: str


@dataclass(frozen=True)
class KeyRecord:
    """The stored state of one key.

    ``in_flight``: a checkout of ``order_id`` holds it until ``lease_until`` (epoch
    seconds), claimed by ``holder`` (instance/boot). ``done``: the answer to replay; it is
    written in the same transaction that makes the order's fate durable.
    """

    id: KeyId
    fingerprint: str
    state: str  # "in_flight" | "done"
    order_id: str | None
    holder: str
    lease_until: float
    expires_at: float
    status_code: int | None = None
    body: str | None = None


class CheckoutKeys(Protocol):
    def get(self, key: KeyId) -> KeyRecord | None: ...

    def insert(self, record: KeyRecord) -> bool:
        """Store a new key; ``False`` if a concurrent request stored it first."""
        ...

    def replace(self, old: KeyRecord, new: KeyRecord) -> bool:
        """Compare-and-set: overwrite ``old`` only if nobody changed it since it was read."""
        ...

    def settle(self, key: KeyId, order_id: str | None, status_code: int, body: str) -> bool:
        """Store the answer (``done``); with ``order_id``, only while that order holds it."""
        ...

    def prune(self, *, now: float) -> int:
        """Forget keys that expired; how many."""
        ...


class OrdersUnitOfWork(Protocol):
    @property
    def orders(self) -> OrderRepository: ...

    @property
    def keys(self) -> CheckoutKeys: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def savepoint(self) -> AbstractContextManager[None]:
        """Undo only what the block did if it raises; the transaction goes on."""
        ...
