"""One SQLAlchemy engine per unit, and a unit of work over one connection.

SQLite (process runtime) and PostgreSQL (docker) are both supported. With SQLite we take
the write lock at the start of a write transaction (``BEGIN IMMEDIATE``) so that two
concurrent checkouts queue up instead of failing with "database is locked"; reads use a
plain ``BEGIN`` and, thanks to WAL, never wait for writers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy import Connection, Engine, MetaData, create_engine, event, inspect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

WRITE = "twinshop_write"
T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine with the pool and locking set up for this project's workloads."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # More connections than the thread pool has workers (40): a read that runs on
            # the event loop (shop/kernel/reads.py) never waits for a free connection.
            pool_size=20,
            max_overflow=24,
        )
        _sqlite_locking(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_locking(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_schema(engine: Engine, *metadatas: MetaData) -> None:
    """Create missing tables; tolerate a replica doing the same at the same moment."""
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                for metadata in metadatas:
                    metadata.create_all(conn, checkfirst=True)
                    _add_missing_columns(conn, metadata)
            return
        except (IntegrityError, OperationalError, DBAPIError):
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


def _add_missing_columns(conn: Connection, metadata: MetaData) -> None:
    """A database made by an earlier version lacks the newer (nullable) columns: add them."""
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')


def database_works(engine: Engine) -> bool:
    """``/ready``: can we run a query right now?"""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except Exception:
        return False


class SqlUnitOfWork:
    """One connection, one transaction at a time; ``commit`` starts the next one.

    Used as ``with uow: ...; uow.commit()``. Leaving the block without committing rolls
    back. Repositories are built on ``uow.connection`` by the subclasses.
    """

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        self.engine = engine
        self.write = write
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._connection

    def __enter__(self) -> Self:
        conn = self.engine.connect()
        self._connection = conn.execution_options(**{WRITE: self.write})
        self._on_enter(self._connection)
        return self

    def _on_enter(self, connection: Connection) -> None:
        """Subclasses build their repositories here."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn = self.connection
        try:
            if conn.in_transaction():
                conn.rollback()
        finally:
            conn.close()
            self._connection = None

    def commit(self) -> None:
        self.connection.commit()

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo only what the block did if it raises; the transaction goes on."""
        with self.connection.begin_nested():
            yield

    def rollback(self) -> None:
        self.connection.rollback()


def retry_on_conflict(work: Callable[[], T], *, attempts: int = 3) -> T:
    """Run ``work`` again when a concurrent writer made it hit a unique constraint."""
    for attempt in range(attempts):
        try:
            return work()
        except IntegrityError:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
