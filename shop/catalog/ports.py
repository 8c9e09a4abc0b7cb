"""What the catalog's rules need from storage; SQL adapters and in-memory fakes implement it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from shop.catalog.model import NewProduct, Product, Reservation


class ProductRepository(Protocol):
    def search(self, *, q: str | None, limit: int, offset: int) -> tuple[list[Product], int]: ...

    def get(self, product_id: int) -> Product | None: ...

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]: ...

    def add(self, product: NewProduct) -> Product:
        """Raises ``DuplicateSku``."""
        ...

    def update(
        self, product_id: int, *, price_cents: int | None, stock: int | None
    ) -> Product | None: ...

    def take_stock(self, product_id: int, quantity: int) -> bool:
        """Decrement stock only if enough is left; ``False`` when it is not."""
        ...

    def put_back_stock(self, product_id: int, quantity: int) -> None: ...

    def count(self) -> int: ...


class ReservationRepository(Protocol):
    def get(self, order_id: str) -> Reservation | None: ...

    def add(self, reservation: Reservation) -> None: ...

    def mark_released(self, order_id: str) -> bool:
        """``reserved`` → ``released``; ``False`` if it was not reserved (already released)."""
        ...


class CatalogStore(Protocol):
    """The repositories one transaction works with."""

    @property
    def products(self) -> ProductRepository: ...

    @property
    def reservations(self) -> ReservationRepository: ...
