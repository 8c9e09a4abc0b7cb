from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from shop.catalog.bootstrap import seed_catalog
from shop.catalog.sql import metadata as catalog_tables
from shop.kernel.db import create_schema, make_engine
from shop.orders.sql import metadata as orders_tables


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The monolith's database on a temporary SQLite file: catalog and orders tables, three
    products with 10 in stock."""
    engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    create_schema(engine, catalog_tables, orders_tables)
    seed_catalog(engine, count=3, stock=10)
    yield engine
    engine.dispose()
