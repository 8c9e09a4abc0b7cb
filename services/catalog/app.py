"""The catalog service: products, stock and reservations, with its own database.

Compare with ``monolith/app.py``: the same catalog code, but alone in its process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.catalog.reservations import reservations_router
from shop.catalog.bootstrap import seed_catalog
from shop.catalog.router import products_router
from shop.catalog.sql import metadata as catalog_tables
from shop.kernel.app import create_unit_app
from shop.kernel.chaos import Chaos
from shop.kernel.config import UnitSettings, settings_for
from shop.kernel.db import create_schema, database_works, make_engine

CRASH_POINTS = ("after_reserve", "after_release")  # committed, the answer not yet sent


def create_app(settings: UnitSettings) -> FastAPI:
    engine = make_engine(settings.DATABASE_URL)
    chaos = Chaos(points=CRASH_POINTS)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        create_schema(engine, catalog_tables)
        seed_catalog(engine, count=settings.SEED_PRODUCTS, stock=settings.SEED_STOCK)
        yield
        engine.dispose()

    return create_unit_app(
        settings,
        routers=[
            products_router(engine, admin_token=settings.ADMIN_TOKEN),
            reservations_router(engine, crash=chaos.crash),
        ],
        ready=lambda: database_works(engine),
        chaos=chaos,
        lifespan=lifespan,
        engine=engine,
    )


app = create_app(settings_for("catalog"))
