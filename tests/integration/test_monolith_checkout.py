"""The monolith's checkout through the real adapters (SQLite, CatalogInProcess): one
transaction, so a failure or a crash after the reservation leaves nothing behind."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine

from monolith.inventory import CatalogInProcess
from shop.catalog.sql import CatalogUnitOfWork
from shop.orders import one_transaction
from shop.orders.checkout import CheckoutRequest
from shop.orders.idempotency import Answer, KeyPolicy, fingerprint
from shop.orders.model import Order
from shop.orders.ports import KeyId, OrdersUnitOfWork
from shop.orders.sql import OrdersSqlUnitOfWork
from tests.unit.test_checkout import render

POLICY = KeyPolicy(lease=5.0, instance="mono-1")


class Crashed(BaseException):
    """The process died here (the open transaction is lost with it)."""


def stock(engine: Engine, product_id: int) -> int:
    with CatalogUnitOfWork(engine, write=False) as uow:
        product = uow.products.get(product_id)
    assert product is not None
    return product.stock


def orders_of(engine: Engine, customer: str) -> list[tuple[Order, str | None]]:
    with OrdersSqlUnitOfWork(engine, write=False) as uow:
        return uow.orders.audit(customer)


def checkout(engine: Engine, key: str | None, crash_at: str = "", quantity: int = 2) -> Answer:
    def crash(point: str) -> None:
        if point == crash_at:
            raise Crashed(point)

    def inventory_for(uow: OrdersUnitOfWork) -> CatalogInProcess:
        assert isinstance(uow, OrdersSqlUnitOfWork)
        return CatalogInProcess(uow)

    body = {"customer": "ada", "items": [[1, quantity]]}
    request = CheckoutRequest(
        "ada", [(1, quantity)], KeyId("ada", key) if key else None, fingerprint(body)
    )
    return one_transaction.checkout(
        lambda: OrdersSqlUnitOfWork(engine),
        inventory_for,
        request,
        render,
        policy=POLICY,
        crash=crash,
    )


def test_a_checkout_commits_order_stock_and_key_together(engine: Engine) -> None:
    answer = checkout(engine, "k1")
    assert answer.status_code == 201
    assert stock(engine, 1) == 8
    [(order, key)] = orders_of(engine, "ada")
    assert (order.status, key) == ("confirmed", "k1")
    replay = checkout(engine, "k1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert json.loads(replay.body) == json.loads(answer.body)


def test_a_crash_after_the_reservation_leaves_nothing(engine: Engine) -> None:
    with pytest.raises(Crashed):
        checkout(engine, "k1", crash_at="after_reserve")
    assert stock(engine, 1) == 10
    assert orders_of(engine, "ada") == []
    assert checkout(engine, "k1").status_code == 201  # the key was never stored
    assert stock(engine, 1) == 8


def test_a_crash_after_the_commit_is_answered_by_the_replay(engine: Engine) -> None:
    with pytest.raises(Crashed):
        checkout(engine, "k1", crash_at="after_confirm")
    replay = checkout(engine, "k1")
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert len(orders_of(engine, "ada")) == 1
    assert stock(engine, 1) == 8


def test_short_stock_takes_nothing_and_the_refusal_is_stored(engine: Engine) -> None:
    refused = checkout(engine, "k1", quantity=11)
    assert refused.status_code == 409
    assert stock(engine, 1) == 10
    assert orders_of(engine, "ada") == []
    assert checkout(engine, "k1", quantity=11).headers.get("Idempotent-Replayed") == "true"


def test_cancel_gives_the_stock_back_once_in_one_transaction(engine: Engine) -> None:
    order_id = json.loads(checkout(engine, None).body)["id"]

    def inventory_for(uow: OrdersUnitOfWork) -> CatalogInProcess:
        assert isinstance(uow, OrdersSqlUnitOfWork)
        return CatalogInProcess(uow)

    def crash(point: str) -> None:
        if point == "after_release":
            raise Crashed(point)

    with pytest.raises(Crashed):
        one_transaction.cancel(OrdersSqlUnitOfWork(engine), inventory_for, order_id, crash=crash)
    assert stock(engine, 1) == 8  # rolled back with the cancel
    for _ in range(2):
        cancelled = one_transaction.cancel(OrdersSqlUnitOfWork(engine), inventory_for, order_id)
        assert cancelled.status == "cancelled"
    assert stock(engine, 1) == 10
