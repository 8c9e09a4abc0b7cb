"""Start-up work of any unit that hosts the catalog: tables and the demo products."""

from __future__ import annotations

from sqlalchemy import Engine

from shop.catalog import services
from shop.catalog.sql import CatalogUnitOfWork
from shop.kernel.db import retry_on_conflict


def seed_catalog(engine: Engine, *, count: int, stock: int) -> int:
    """Seed once; two replicas starting together must not seed twice."""

    def attempt() -> int:
        with CatalogUnitOfWork(engine) as uow:
            added = services.seed(uow, count=count, stock=stock)
            uow.commit()
        return added

    return retry_on_conflict(attempt)
