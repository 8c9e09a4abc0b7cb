"""The orders service: orders and the checkout saga, with its own database.

Compare with ``monolith/app.py``: the same orders code, but stock lives in another
service, reached over HTTP; the order row is the saga's log, and a reconciler finishes
what a crash or a timeout left half done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.orders.inventory import CatalogOverHttp
from services.orders.reconciler import Reconciler
from shop.kernel.app import create_unit_app
from shop.kernel.chaos import Chaos
from shop.kernel.config import UnitSettings, settings_for
from shop.kernel.db import create_schema, database_works, make_engine
from shop.kernel.discovery import parse_discovery
from shop.orders.ports import Inventory, OrdersUnitOfWork
from shop.orders.router import orders_router
from shop.orders.sql import OrdersSqlUnitOfWork
from shop.orders.sql import metadata as orders_tables


def create_app(settings: UnitSettings) -> FastAPI:
    engine = make_engine(settings.DATABASE_URL)
    chaos = Chaos()
    catalog = CatalogOverHttp(
        parse_discovery(settings.CATALOG_URL),
        connect_timeout=settings.CATALOG_CONNECT_TIMEOUT,
        read_timeout=settings.CATALOG_READ_TIMEOUT,
        attempts=settings.CATALOG_ATTEMPTS,
    )

    def unit_of_work(write: bool = True) -> OrdersUnitOfWork:
        return OrdersSqlUnitOfWork(engine, write=write)

    def inventory_for(_: OrdersUnitOfWork) -> Inventory:
        return catalog  # a remote call: it cannot join our transaction

    reconciler = Reconciler(
        unit_of_work,
        catalog,
        older_than=settings.RECONCILE_AFTER,
        interval=settings.RECONCILE_INTERVAL,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        create_schema(engine, orders_tables)
        reconciler.start()
        yield
        reconciler.stop()
        catalog.close()
        engine.dispose()

    return create_unit_app(
        settings,
        routers=[
            orders_router(
                unit_of_work,
                inventory_for,
                idempotency_lease=settings.IDEMPOTENCY_LEASE,
                after_reserve=chaos.crash_if_armed,
            )
        ],
        ready=lambda: database_works(engine),
        chaos=chaos,
        lifespan=lifespan,
    )


app = create_app(settings_for("orders"))
