"""The catalog's use cases. They never commit: the caller owns the transaction.

The catalog service commits after each call; the monolith calls ``reserve`` and ``release``
inside the order's own transaction, so checkout there is one atomic unit.
"""

from __future__ import annotations

from collections.abc import Sequence

from shop.catalog.model import (
    InsufficientStock,
    Line,
    PricedLine,
    Product,
    ProductNotFound,
    Reservation,
    ReservationReleased,
    UnknownProducts,
    plausible_id,
    seed_products,
)
from shop.catalog.ports import CatalogStore


def get_product(store: CatalogStore, product_id: int) -> Product:
    product = store.products.get(product_id) if plausible_id(product_id) else None
    if product is None:
        raise ProductNotFound(product_id)
    return product


def update_product(
    store: CatalogStore, product_id: int, *, price_cents: int | None, stock: int | None
) -> Product:
    product = None
    if plausible_id(product_id):
        product = store.products.update(product_id, price_cents=price_cents, stock=stock)
    if product is None:
        raise ProductNotFound(product_id)
    return product


def reserve(store: CatalogStore, order_id: str, lines: Sequence[Line]) -> Reservation:
    """Take stock for every line of an order, all or nothing, and price the lines.

    Idempotent by order id: reserving again returns the first reservation. A reservation
    already released is refused, so a reserve that arrives after its release cannot take
    stock that nobody will ever give back. Unknown products are reported before short
    stock. On ``InsufficientStock`` the caller must roll back: earlier lines were taken.
    """
    existing = store.reservations.get(order_id)
    if existing is not None:
        if existing.status == "released":
            raise ReservationReleased(order_id)
        return existing
    wanted = [line.product_id for line in lines]
    products = store.products.get_many(pid for pid in wanted if plausible_id(pid))
    unknown = [pid for pid in wanted if pid not in products]
    if unknown:
        raise UnknownProducts(unknown)
    # Same order everywhere, so two concurrent reservations cannot deadlock.
    for line in sorted(lines, key=lambda line: line.product_id):
        if not store.products.take_stock(line.product_id, line.quantity):
            raise InsufficientStock(line.product_id)
    reservation = Reservation(
        order_id=order_id,
        status="reserved",
        lines=[
            PricedLine(line.product_id, line.quantity, products[line.product_id].price_cents)
            for line in lines
        ],
    )
    store.reservations.add(reservation)
    return reservation


def release(store: CatalogStore, order_id: str) -> bool:
    """Give an order's stock back, exactly once. ``True`` if stock was restored now.

    Releasing an order that was never reserved leaves a tombstone (see ``reserve``).
    """
    existing = store.reservations.get(order_id)
    if existing is None:
        store.reservations.add(Reservation(order_id=order_id, status="released"))
        return False
    if not store.reservations.mark_released(order_id):
        return False
    for line in existing.lines:
        store.products.put_back_stock(line.product_id, line.quantity)
    return True


def seed(store: CatalogStore, *, count: int, stock: int) -> int:
    """Create the demo products when the catalog is empty; returns how many were added."""
    if store.products.count() > 0:
        return 0
    for product in seed_products(count, stock):
        store.products.add(product)
    return count
