"""SQL persistence of orders (SQLAlchemy Core): orders, their lines, checkout keys.

Why this module stays above 300 lines: it is one adapter, the SQL side of the orders'
ports (``shop.orders.ports``): the table definitions, the order repository, the checkout keys
and the unit of work that binds them to one connection. They share the tables and the
row-to-domain conversions, and each class is short.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from shop.kernel.db import SqlUnitOfWork
from shop.orders.model import VISIBLE, Order, OrderLine, Status
from shop.orders.ports import KeyId, KeyRecord

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    # ISO 8601 with microseconds and offset: fixed width, so text order is time order.
    Column("created_at", String(32), nullable=False),
    # The Idempotency-Key that asked for this order (scoped by ``customer``), if any.
    Column("idempotency_key", String(255)),
    Index("ix_orders_status_created", "status", "created_at"),
    Index("ix_orders_customer", "customer"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("order_id", String(36), ForeignKey("orders.id"), primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
)

checkout_keys = Table(
    "checkout_keys",
    metadata,
    Column("customer", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_flight | done
    Column("order_id", String(36)),
    Column("holder", String(120), nullable=False),
    Column("lease_until", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("status_code", Integer),
    Column("body", Text),
    Index("ix_checkout_keys_expires", "expires_at"),
)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


# The checkout's statements, built once (see shop/catalog/sql.py).
_ADD_ORDER = insert(orders)
_ADD_LINES = insert(order_lines)
_MOVE = (
    update(orders)
    .where(orders.c.id == bindparam("oid"), orders.c.status == bindparam("from_"))
    .values(status=bindparam("to"))
)
_PRICE_LINE = (
    update(order_lines)
    .where(
        order_lines.c.order_id == bindparam("oid"),
        order_lines.c.product_id == bindparam("pid"),
    )
    .values(unit_price_cents=bindparam("price"))
)


class SqlOrderRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, order: Order, *, key: KeyId | None = None) -> None:
        self.conn.execute(
            _ADD_ORDER,
            {
                "id": order.id,
                "customer": order.customer,
                "status": order.status,
                "created_at": _stamp(order.created_at),
                "idempotency_key": key.key if key else None,
            },
        )
        self.conn.execute(
            _ADD_LINES,
            [
                {
                    "order_id": order.id,
                    "product_id": line.product_id,
                    "quantity": line.quantity,
                    "unit_price_cents": line.unit_price_cents,
                    "position": position,
                }
                for position, line in enumerate(order.lines)
            ],
        )

    def get(self, order_id: str) -> Order | None:
        row = self.conn.execute(select(orders).where(orders.c.id == order_id)).first()
        if row is None:
            return None
        return self._orders([row])[0]

    def move(self, order_id: str, *, from_: Status, to: Status) -> bool:
        result = self.conn.execute(_MOVE, {"oid": order_id, "from_": from_, "to": to})
        return result.rowcount == 1

    def confirm(self, order_id: str, priced: Sequence[OrderLine]) -> bool:
        if not self.move(order_id, from_="pending", to="confirmed"):
            return False
        self.conn.execute(
            _PRICE_LINE,
            [
                {"oid": order_id, "pid": line.product_id, "price": line.unit_price_cents}
                for line in priced
            ],
        )
        return True

    def search(self, *, customer: str | None, limit: int, offset: int) -> tuple[list[Order], int]:
        where: list[ColumnElement[bool]] = [orders.c.status.in_(VISIBLE)]
        if customer is not None:
            where.append(orders.c.customer == customer)
        rows = self.conn.execute(
            select(orders)
            .where(*where)
            .order_by(orders.c.created_at.desc(), orders.c.id)
            .limit(limit)
            .offset(offset)
        ).all()
        total = self.conn.execute(select(func.count()).select_from(orders).where(*where))
        return self._orders(rows), int(total.scalar_one())

    def stuck(self, *, older_than: datetime) -> list[tuple[str, Status]]:
        rows = self.conn.execute(
            select(orders.c.id, orders.c.status).where(
                or_(
                    and_(orders.c.status == "pending", orders.c.created_at < _stamp(older_than)),
                    orders.c.status.in_(("releasing", "cancelling")),
                )
            )
        )
        return [(row.id, row.status) for row in rows]

    def audit(self, customer: str) -> list[tuple[Order, str | None]]:
        rows = self.conn.execute(
            select(orders).where(orders.c.customer == customer).order_by(orders.c.created_at)
        ).all()
        return list(zip(self._orders(rows), [row.idempotency_key for row in rows], strict=True))

    def count_unsettled(self) -> int:
        unsettled = orders.c.status.in_(("pending", "releasing", "cancelling"))
        total = self.conn.execute(select(func.count()).select_from(orders).where(unsettled))
        return int(total.scalar_one())

    def for_key(self, key: KeyId) -> list[Order]:
        rows = self.conn.execute(
            select(orders).where(
                orders.c.customer == key.customer, orders.c.idempotency_key == key.key
            )
        ).all()
        return self._orders(rows)

    def _orders(self, rows: Sequence[object]) -> list[Order]:
        ids = [row.id for row in rows]  # type: ignore[attr-defined]
        lines: dict[str, list[OrderLine]] = {order_id: [] for order_id in ids}
        if ids:
            for line in self.conn.execute(
                select(order_lines)
                .where(order_lines.c.order_id.in_(ids))
                .order_by(order_lines.c.order_id, order_lines.c.position)
            ):
                lines[line.order_id].append(
                    OrderLine(line.product_id, line.quantity, line.unit_price_cents)
                )
        return [
            Order(
                id=row.id,  # type: ignore[attr-defined]
                customer=row.customer,  # type: ignore[attr-defined]
                status=row.status,  # type: ignore[attr-defined]
                lines=lines[row.id],  # type: ignore[attr-defined]
                created_at=datetime.fromisoformat(row.created_at),  # type: ignore[attr-defined]
            )
            for row in rows
        ]


def _key_is(key: KeyId) -> ColumnElement[bool]:
    return and_(checkout_keys.c.customer == key.customer, checkout_keys.c.key == key.key)


class SqlCheckoutKeys:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, key: KeyId) -> KeyRecord | None:
        row = self.conn.execute(select(checkout_keys).where(_key_is(key))).first()
        if row is None:
            return None
        return KeyRecord(
            id=key,
            fingerprint=row.fingerprint,
            state=row.state,
            order_id=row.order_id,
            holder=row.holder,
            lease_until=row.lease_until,
            expires_at=row.expires_at,
            status_code=row.status_code,
            body=row.body,
        )

    def insert(self, record: KeyRecord) -> bool:
        try:
            with self.conn.begin_nested():
                self.conn.execute(insert(checkout_keys).values(**_key_values(record)))
        except IntegrityError:
            return False  # another request stored it a moment ago
        return True

    def replace(self, old: KeyRecord, new: KeyRecord) -> bool:
        same = [
            getattr(checkout_keys.c, name) == value
            if value is not None
            else getattr(checkout_keys.c, name).is_(None)
            for name, value in (
                ("state", old.state),
                ("order_id", old.order_id),
                ("holder", old.holder),
                ("lease_until", old.lease_until),
            )
        ]
        result = self.conn.execute(
            update(checkout_keys).where(_key_is(old.id), *same).values(**_key_values(new))
        )
        return result.rowcount == 1

    def settle(self, key: KeyId, order_id: str | None, status_code: int, body: str) -> bool:
        where = [_key_is(key)]
        if order_id is not None:
            where.append(checkout_keys.c.order_id == order_id)
        result = self.conn.execute(
            update(checkout_keys)
            .where(*where)
            .values(state="done", status_code=status_code, body=body)
        )
        return result.rowcount == 1

    def prune(self, *, now: float) -> int:
        result = self.conn.execute(delete(checkout_keys).where(checkout_keys.c.expires_at <= now))
        return int(result.rowcount or 0)


def _key_values(record: KeyRecord) -> dict[str, object]:
    return {
        "customer": record.id.customer,
        "key": record.id.key,
        "fingerprint": record.fingerprint,
        "state": record.state,
        "order_id": record.order_id,
        "holder": record.holder,
        "lease_until": record.lease_until,
        "expires_at": record.expires_at,
        "status_code": record.status_code,
        "body": record.body,
    }


class OrdersSqlUnitOfWork(SqlUnitOfWork):
    """An orders transaction; the monolith's inventory adapter joins its connection."""

    orders: SqlOrderRepository
    keys: SqlCheckoutKeys

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        super().__init__(engine, write=write)

    def _on_enter(self, connection: Connection) -> None:
        self.orders = SqlOrderRepository(connection)
        self.keys = SqlCheckoutKeys(connection)
