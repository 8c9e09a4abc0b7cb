"""In-memory fakes of the ports, for unit tests of the rules (no I/O)."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from shop.catalog.model import DuplicateSku, NewProduct, Product, Reservation
from shop.orders.model import Order, OrderLine, Status
from shop.orders.ports import (
    InsufficientStock,
    InventoryUnavailable,
    KeyId,
    KeyRecord,
    UnknownProducts,
)


class FakeProducts:
    def __init__(self, products: Iterable[Product] = ()) -> None:
        self.rows = {p.id: p for p in products}

    def search(self, *, q: str | None, limit: int, offset: int) -> tuple[list[Product], int]:
        rows = [p for _, p in sorted(self.rows.items()) if not q or q.lower() in p.name.lower()]
        return rows[offset : offset + limit], len(rows)

    def get(self, product_id: int) -> Product | None:
        return self.rows.get(product_id)

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]:
        return {i: self.rows[i] for i in product_ids if i in self.rows}

    def add(self, product: NewProduct) -> Product:
        if any(p.sku == product.sku for p in self.rows.values()):
            raise DuplicateSku(product.sku)
        new = Product(
            len(self.rows) + 1, product.sku, product.name, product.price_cents, product.stock
        )
        self.rows[new.id] = new
        return new

    def update(
        self, product_id: int, *, price_cents: int | None, stock: int | None
    ) -> Product | None:
        if product_id not in self.rows:
            return None
        p = self.rows[product_id]
        self.rows[product_id] = replace(
            p,
            price_cents=p.price_cents if price_cents is None else price_cents,
            stock=p.stock if stock is None else stock,
        )
        return self.rows[product_id]

    def take_stock(self, product_id: int, quantity: int) -> bool:
        p = self.rows[product_id]
        if p.stock < quantity:
            return False
        self.rows[product_id] = replace(p, stock=p.stock - quantity)
        return True

    def put_back_stock(self, product_id: int, quantity: int) -> None:
        p = self.rows[product_id]
        self.rows[product_id] = replace(p, stock=p.stock + quantity)

    def count(self) -> int:
        return len(self.rows)


class FakeReservations:
    def __init__(self) -> None:
        self.rows: dict[str, Reservation] = {}

    def get(self, order_id: str) -> Reservation | None:
        return copy.deepcopy(self.rows.get(order_id))

    def add(self, reservation: Reservation) -> None:
        assert reservation.order_id not in self.rows
        self.rows[reservation.order_id] = copy.deepcopy(reservation)

    def mark_released(self, order_id: str) -> bool:
        if self.rows[order_id].status != "reserved":
            return False
        self.rows[order_id].status = "released"
        return True


class FakeCatalog:
    def __init__(self, products: Iterable[Product] = ()) -> None:
        self.products = FakeProducts(products)
        self.reservations = FakeReservations()


class FakeOrders:
    def __init__(self) -> None:
        self.rows: dict[str, Order] = {}
        self.keys: dict[str, KeyId] = {}

    def add(self, order: Order, *, key: KeyId | None = None) -> None:
        assert order.id not in self.rows
        self.rows[order.id] = copy.deepcopy(order)
        if key is not None:
            self.keys[order.id] = key

    def audit(self, customer: str) -> list[tuple[Order, str | None]]:
        return [
            (copy.deepcopy(o), k.key if (k := self.keys.get(o.id)) else None)
            for o in self.rows.values()
            if o.customer == customer
        ]

    def count_unsettled(self) -> int:
        return sum(o.status in ("pending", "releasing", "cancelling") for o in self.rows.values())

    def for_key(self, key: KeyId) -> list[Order]:
        return [copy.deepcopy(self.rows[i]) for i, k in self.keys.items() if k == key]

    def get(self, order_id: str) -> Order | None:
        return copy.deepcopy(self.rows.get(order_id))

    def move(self, order_id: str, *, from_: Status, to: Status) -> bool:
        order = self.rows.get(order_id)
        if order is None or order.status != from_:
            return False
        order.status = to
        return True

    def confirm(self, order_id: str, priced: Sequence[OrderLine]) -> bool:
        if not self.move(order_id, from_="pending", to="confirmed"):
            return False
        self.rows[order_id].lines = list(priced)
        return True

    def search(self, *, customer: str | None, limit: int, offset: int) -> tuple[list[Order], int]:
        rows = [o for o in self.rows.values() if o.visible and customer in (None, o.customer)]
        rows.sort(key=lambda o: (-o.created_at.timestamp(), o.id))
        return rows[offset : offset + limit], len(rows)

    def stuck(self, *, older_than: datetime) -> list[tuple[str, Status]]:
        return [
            (o.id, o.status)
            for o in self.rows.values()
            if (o.status == "pending" and o.created_at < older_than)
            or o.status in ("releasing", "cancelling")
        ]


class FakeCheckoutKeys:
    def __init__(self) -> None:
        self.rows: dict[KeyId, KeyRecord] = {}

    def get(self, key: KeyId) -> KeyRecord | None:
        return self.rows.get(key)

    def insert(self, record: KeyRecord) -> bool:
        if record.id in self.rows:
            return False
        self.rows[record.id] = record
        return True

    def replace(self, old: KeyRecord, new: KeyRecord) -> bool:
        if self.rows.get(old.id) != old:
            return False
        self.rows[old.id] = new
        return True

    def settle(self, key: KeyId, order_id: str | None, status_code: int, body: str) -> bool:
        row = self.rows.get(key)
        if row is None or (order_id is not None and row.order_id != order_id):
            return False
        self.rows[key] = replace(row, state="done", status_code=status_code, body=body)
        return True

    def prune(self, *, now: float) -> int:
        old = [k for k, r in self.rows.items() if r.expires_at <= now]
        for k in old:
            del self.rows[k]
        return len(old)


class FakeUnitOfWork:
    """Commits are counted; a rollback restores the state of the last commit."""

    def __init__(self) -> None:
        self.orders = FakeOrders()
        self.keys = FakeCheckoutKeys()
        self.commits = 0
        self._saved = self._snapshot()

    def _snapshot(self) -> tuple[Any, Any, Any]:
        return copy.deepcopy((self.orders.rows, self.orders.keys, self.keys.rows))

    def _restore(self, snapshot: tuple[Any, Any, Any]) -> None:
        self.orders.rows, self.orders.keys, self.keys.rows = copy.deepcopy(snapshot)

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(self, *args: object) -> None:
        self.rollback()

    def commit(self) -> None:
        self.commits += 1
        self._saved = self._snapshot()

    def rollback(self) -> None:
        self._restore(self._saved)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        before = self._snapshot()
        try:
            yield
        except BaseException:
            self._restore(before)
            raise


class FakeInventory:
    """A scripted remote inventory: stock per product, and faults to switch on."""

    def __init__(self, stock: dict[int, int], prices: dict[int, int] | None = None) -> None:
        self.stock = dict(stock)
        self.prices = prices or dict.fromkeys(stock, 100)
        self.reserved: dict[str, list[OrderLine]] = {}
        self.released: set[str] = set()
        self.joins_transaction = False
        self.down = False
        self.reserve_then_fail = False  # reserve happens, but the answer is lost
        self.calls: list[tuple[str, str]] = []

    def reserve(
        self, order_id: str, lines: Sequence[OrderLine], *, deadline: float | None = None
    ) -> list[OrderLine]:
        self.calls.append(("reserve", order_id))
        if self.down:
            raise InventoryUnavailable("down")
        if order_id in self.released:
            raise InventoryUnavailable("released")
        if order_id in self.reserved:
            return self.reserved[order_id]
        unknown = [line.product_id for line in lines if line.product_id not in self.stock]
        if unknown:
            raise UnknownProducts(unknown)
        for line in lines:
            if self.stock[line.product_id] < line.quantity:
                raise InsufficientStock(line.product_id)
        for line in lines:
            self.stock[line.product_id] -= line.quantity
        priced = [replace(line, unit_price_cents=self.prices[line.product_id]) for line in lines]
        self.reserved[order_id] = priced
        if self.reserve_then_fail:
            raise InventoryUnavailable("timed out after reserving")
        return priced

    def release(self, order_id: str, *, deadline: float | None = None) -> None:
        self.calls.append(("release", order_id))
        if self.down:
            raise InventoryUnavailable("down")
        if order_id in self.released:
            return
        self.released.add(order_id)
        for line in self.reserved.pop(order_id, []):
            self.stock[line.product_id] += line.quantity
