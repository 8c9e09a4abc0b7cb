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
from shop.core.discovery import parse_discovery
from shop.kernel.app import create_unit_app
from shop.kernel.chaos import Chaos
from shop.kernel.config import UnitSettings, settings_for
from shop.kernel.db import create_schema, database_works, make_engine
from shop.orders import saga
from shop.orders.checkout import CheckoutRequest, Render, Settings
from shop.orders.housekeeping import Reconciler
from shop.orders.idempotency import Answer, KeyPolicy
from shop.orders.model import Order
from shop.orders.operator import operator_router
from shop.orders.ports import OrdersUnitOfWork
from shop.orders.router import orders_router
from shop.orders.sql import OrdersSqlUnitOfWork
from shop.orders.sql import metadata as orders_tables

CRASH_POINTS = (
    "after_pending",  # the order and its key are committed; catalog not asked yet
    "after_reserve",  # catalog reserved; the order is still pending
    "after_confirm",  # confirmed and the key's answer stored; the answer never sent
    "after_cancelling",  # the cancel is committed; catalog not asked yet
    "after_release",  # catalog gave the stock back; the order is still cancelling
    "after_cancel",  # cancelled; the answer never sent
)
BACKGROUND_READ_TIMEOUT = 10.0  # the reconciler is in no hurry; a slow catalog still counts


def create_app(settings: UnitSettings) -> FastAPI:
    engine = make_engine(settings.DATABASE_URL)
    chaos = Chaos(points=CRASH_POINTS)
    discovery = parse_discovery(settings.CATALOG_URL)
    catalog = CatalogOverHttp(
        discovery,
        connect_timeout=settings.CATALOG_CONNECT_TIMEOUT,
        read_timeout=settings.CATALOG_READ_TIMEOUT,
        attempts=settings.CATALOG_ATTEMPTS,
    )
    patient_catalog = CatalogOverHttp(
        discovery,
        connect_timeout=settings.CATALOG_CONNECT_TIMEOUT,
        read_timeout=max(settings.CATALOG_READ_TIMEOUT, BACKGROUND_READ_TIMEOUT),
        attempts=1,
    )
    flow = Settings(
        policy=KeyPolicy(
            lease=settings.IDEMPOTENCY_LEASE,
            ttl=settings.IDEMPOTENCY_TTL,
            instance=settings.instance,
        ),
        budget=settings.CHECKOUT_BUDGET,
    )

    def unit_of_work(write: bool = True) -> OrdersUnitOfWork:
        return OrdersSqlUnitOfWork(engine, write=write)

    def checkout(request: CheckoutRequest, render: Render, arrived: float) -> Answer:
        return saga.checkout(
            unit_of_work,
            catalog,
            request,
            render,
            settings=flow,
            arrived=arrived,
            crash=chaos.crash,
        )

    def cancel(order_id: str) -> Order:
        return saga.cancel(unit_of_work, catalog, order_id, crash=chaos.crash)

    reconciler = Reconciler(
        unit_of_work,
        patient_catalog,
        older_than=settings.RECONCILE_AFTER,
        interval=settings.RECONCILE_INTERVAL,
        prune_interval=settings.HOUSEKEEPING_INTERVAL,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        create_schema(engine, orders_tables)
        reconciler.start()
        yield
        reconciler.stop()
        catalog.close()
        patient_catalog.close()
        engine.dispose()

    return create_unit_app(
        settings,
        routers=[
            orders_router(unit_of_work, checkout=checkout, cancel=cancel),
            operator_router(unit_of_work, admin_token=settings.ADMIN_TOKEN),
        ],
        ready=lambda: database_works(engine),
        chaos=chaos,
        lifespan=lifespan,
        engine=engine,
        http_clients=[catalog.client],  # checkout's calls; the reconciler's start no trace
    )


app = create_app(settings_for("orders"))
