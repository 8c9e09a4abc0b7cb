"""The monolith: catalog and orders in one process, one database, one transaction.

Compare with ``services/catalog/app.py`` and ``services/orders/app.py``: the same domain
code, but orders reaches the catalog through a function call that joins its transaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from monolith.inventory import CatalogInProcess
from shop.catalog.bootstrap import seed_catalog
from shop.catalog.router import products_router
from shop.catalog.sql import metadata as catalog_tables
from shop.kernel.app import create_unit_app
from shop.kernel.chaos import Chaos
from shop.kernel.config import UnitSettings, settings_for
from shop.kernel.db import create_schema, database_works, make_engine
from shop.orders import one_transaction
from shop.orders.checkout import CheckoutRequest, Render
from shop.orders.housekeeping import Housekeeper
from shop.orders.idempotency import Answer, KeyPolicy
from shop.orders.model import Order
from shop.orders.operator import operator_router
from shop.orders.ports import Inventory, OrdersUnitOfWork
from shop.orders.router import orders_router
from shop.orders.sql import OrdersSqlUnitOfWork
from shop.orders.sql import metadata as orders_tables

CRASH_POINTS = (
    "after_reserve",  # inside the one transaction: everything rolls back
    "after_confirm",  # committed with the key's answer; the answer never sent
    "after_release",  # inside the cancel's transaction: it rolls back
    "after_cancel",  # committed; the answer never sent
)


def create_app(settings: UnitSettings) -> FastAPI:
    engine = make_engine(settings.DATABASE_URL)
    chaos = Chaos(points=CRASH_POINTS)
    policy = KeyPolicy(
        lease=settings.IDEMPOTENCY_LEASE, ttl=settings.IDEMPOTENCY_TTL, instance=settings.instance
    )

    def unit_of_work(write: bool = True) -> OrdersUnitOfWork:
        return OrdersSqlUnitOfWork(engine, write=write)

    def inventory_for(uow: OrdersUnitOfWork) -> Inventory:
        assert isinstance(uow, OrdersSqlUnitOfWork)
        return CatalogInProcess(uow)  # joins the order's transaction

    def checkout(request: CheckoutRequest, render: Render, _arrived: float) -> Answer:
        # No network inside: nothing to budget.
        return one_transaction.checkout(
            unit_of_work, inventory_for, request, render, policy=policy, crash=chaos.crash
        )

    def cancel(order_id: str) -> Order:
        return one_transaction.cancel(unit_of_work(), inventory_for, order_id, crash=chaos.crash)

    housekeeper = Housekeeper(unit_of_work, interval=settings.HOUSEKEEPING_INTERVAL)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        create_schema(engine, catalog_tables, orders_tables)
        seed_catalog(engine, count=settings.SEED_PRODUCTS, stock=settings.SEED_STOCK)
        housekeeper.start()
        yield
        housekeeper.stop()
        engine.dispose()

    return create_unit_app(
        settings,
        routers=[
            products_router(engine, admin_token=settings.ADMIN_TOKEN),
            orders_router(unit_of_work, checkout=checkout, cancel=cancel),
            operator_router(unit_of_work, admin_token=settings.ADMIN_TOKEN),
        ],
        ready=lambda: database_works(engine),
        chaos=chaos,
        lifespan=lifespan,
        engine=engine,
    )


app = create_app(settings_for("monolith"))
