"""The SQL adapters on a real SQLite file: checkout keys (claim, replay, take-over by
compare-and-set, expiry) and catalog reservations with their tombstones."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine

from shop.catalog import services as catalog
from shop.catalog.model import Line, ReservationReleased
from shop.catalog.sql import CatalogUnitOfWork
from shop.orders.idempotency import KeyPolicy, fresh_record, renewed
from shop.orders.ports import KeyId
from shop.orders.sql import OrdersSqlUnitOfWork

POLICY = KeyPolicy(lease=5.0, ttl=100.0, instance="orders-1")
KEY = KeyId("ada", "k1")


def test_a_key_is_stored_once_replaced_by_compare_and_set_and_settled(engine: Engine) -> None:
    first = fresh_record(KEY, "fp", "o1", now=1000.0, policy=POLICY)
    with OrdersSqlUnitOfWork(engine) as uow:
        assert uow.keys.insert(first)
        assert not uow.keys.insert(first)  # the same key again: refused, nothing raised
        uow.commit()
    with OrdersSqlUnitOfWork(engine) as uow:
        stored = uow.keys.get(KEY)
        assert stored == first
        assert uow.keys.get(KeyId("bob", "k1")) is None  # scoped to its customer
        taken = renewed(stored, "o2", now=1010.0, policy=POLICY)
        assert uow.keys.replace(stored, taken)
        assert not uow.keys.replace(stored, taken)  # someone changed it since: refused
        assert not uow.keys.settle(KEY, "o1", 201, "{}")  # o1 no longer holds it
        assert uow.keys.settle(KEY, "o2", 201, '{"id": "o2"}')
        uow.commit()
    with OrdersSqlUnitOfWork(engine) as uow:
        done = uow.keys.get(KEY)
        assert done is not None and (done.state, done.body) == ("done", '{"id": "o2"}')
        assert uow.keys.prune(now=1050.0) == 0
        assert uow.keys.prune(now=1100.0) == 1
        uow.commit()


def test_a_record_with_no_order_can_be_compared(engine: Engine) -> None:
    record = fresh_record(KEY, "fp", None, now=1000.0, policy=POLICY)
    with OrdersSqlUnitOfWork(engine) as uow:
        uow.keys.insert(record)
        assert uow.keys.replace(record, replace(record, order_id="o3"))
        uow.commit()


def test_a_release_before_the_reserve_leaves_a_tombstone(engine: Engine) -> None:
    with CatalogUnitOfWork(engine) as uow:
        assert catalog.release(uow, "late") is False
        uow.commit()
    with CatalogUnitOfWork(engine) as uow:
        try:
            catalog.reserve(uow, "late", [Line(1, 1)])
        except ReservationReleased:
            pass
        else:
            raise AssertionError("a reserve after its release must be refused")
    with CatalogUnitOfWork(engine) as uow:
        reservation = catalog.reserve(uow, "o1", [Line(1, 2)])
        again = catalog.reserve(uow, "o1", [Line(1, 2)])  # idempotent by order id
        assert again == reservation
        assert catalog.release(uow, "o1") is True
        assert catalog.release(uow, "o1") is False  # exactly once
        uow.commit()
        assert uow.products.get(1).stock == 10  # type: ignore[union-attr]
