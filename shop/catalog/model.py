"""The catalog's domain: products, stock and reservations. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MAX_ID = 2**31 - 1
MAX_PRICE_CENTS = 100_000_000
MAX_STOCK = 1_000_000_000


@dataclass(frozen=True)
class Product:
    id: int
    sku: str
    name: str
    price_cents: int
    stock: int


@dataclass(frozen=True)
class NewProduct:
    sku: str
    name: str
    price_cents: int
    stock: int


@dataclass(frozen=True)
class Line:
    """A quantity of one product that an order wants."""

    product_id: int
    quantity: int


@dataclass(frozen=True)
class PricedLine:
    product_id: int
    quantity: int
    unit_price_cents: int


@dataclass
class Reservation:
    """Stock taken for one order. A released reservation is a tombstone: it stays, so a
    reserve that arrives late for the same order is refused instead of leaking stock."""

    order_id: str
    status: Literal["reserved", "released"]
    lines: list[PricedLine] = field(default_factory=list)


class CatalogError(Exception):
    """A rule of the catalog was broken; routers turn these into 4xx answers."""


class ProductNotFound(CatalogError):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} not found")
        self.product_id = product_id


class DuplicateSku(CatalogError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"a product with sku {sku!r} already exists")
        self.sku = sku


class UnknownProducts(CatalogError):
    def __init__(self, product_ids: list[int]) -> None:
        super().__init__("unknown product " + ", ".join(str(i) for i in product_ids))
        self.product_ids = product_ids


class InsufficientStock(CatalogError):
    def __init__(self, product_id: int) -> None:
        super().__init__(f"insufficient stock for product {product_id}")
        self.product_id = product_id


class ReservationReleased(CatalogError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"the reservation for order {order_id} was already released")
        self.order_id = order_id


def plausible_id(product_id: int) -> bool:
    """Ids outside the database's integer range cannot exist; don't ask the database."""
    return 1 <= product_id <= MAX_ID


_ADJECTIVES = [
    "Blue",
    "Red",
    "Green",
    "Tiny",
    "Large",
    "Classic",
    "Smart",
    "Cozy",
    "Swift",
    "Solid",
]
_NOUNS = [
    "Mug",
    "Lamp",
    "Chair",
    "Notebook",
    "Backpack",
    "Kettle",
    "Scarf",
    "Clock",
    "Bottle",
    "Pen",
]


def seed_products(count: int, stock: int) -> list[NewProduct]:
    """The same ``count`` products on every machine, so results compare across runs."""
    products = []
    for i in range(1, count + 1):
        adjective = _ADJECTIVES[(i - 1) % len(_ADJECTIVES)]
        noun = _NOUNS[((i - 1) // len(_ADJECTIVES)) % len(_NOUNS)]
        series = (i - 1) // (len(_ADJECTIVES) * len(_NOUNS))
        name = f"{adjective} {noun}" + (f" {series + 1}" if series else "")
        products.append(
            NewProduct(
                sku=f"SKU-{i:04d}", name=name, price_cents=199 + (i * 7919) % 9800, stock=stock
            )
        )
    return products
