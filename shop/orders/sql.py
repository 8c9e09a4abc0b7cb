"""SQL persistence of orders (SQLAlchemy Core): orders, their lines, idempotency keys."""

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
from shop.orders.ports import Claim, StoredResponse

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("customer", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    # ISO 8601 with microseconds and offset: fixed width, so text order is time order.
    Column("created_at", String(32), nullable=False),
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

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # in_flight | done
    Column("lease_until", Float, nullable=False),
    Column("status_code", Integer),
    Column("body", Text),
    Column("created_at", Float, nullable=False),
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

    def add(self, order: Order) -> None:
        self.conn.execute(
            _ADD_ORDER,
            {
                "id": order.id,
                "customer": order.customer,
                "status": order.status,
                "created_at": _stamp(order.created_at),
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
                    orders.c.status == "releasing",
                )
            )
        )
        return [(row.id, row.status) for row in rows]

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


class SqlIdempotencyStore:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def claim(self, key: str, *, fingerprint: str, now: datetime, lease_until: datetime) -> Claim:
        row = self.conn.execute(
            select(idempotency_keys).where(idempotency_keys.c.key == key)
        ).first()
        if row is None:
            try:
                with self.conn.begin_nested():
                    self.conn.execute(
                        insert(idempotency_keys).values(
                            key=key,
                            fingerprint=fingerprint,
                            state="in_flight",
                            lease_until=lease_until.timestamp(),
                            created_at=now.timestamp(),
                        )
                    )
                return Claim("new")
            except IntegrityError:
                return Claim("in_flight")  # another request took it a moment ago
        if row.fingerprint != fingerprint:
            return Claim("mismatch")
        if row.state == "done":
            return Claim("replay", StoredResponse(row.status_code, row.body))
        if row.lease_until > now.timestamp():
            return Claim("in_flight")
        # The request holding it died (its process crashed): take the key over.
        taken = self.conn.execute(
            update(idempotency_keys)
            .where(
                idempotency_keys.c.key == key,
                idempotency_keys.c.state == "in_flight",
                idempotency_keys.c.lease_until == row.lease_until,
            )
            .values(lease_until=lease_until.timestamp())
        )
        return Claim("new" if taken.rowcount == 1 else "in_flight")

    def complete(self, key: str, response: StoredResponse) -> None:
        self.conn.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == key)
            .values(state="done", status_code=response.status_code, body=response.body)
        )

    def forget(self, key: str) -> None:
        self.conn.execute(delete(idempotency_keys).where(idempotency_keys.c.key == key))


class OrdersSqlUnitOfWork(SqlUnitOfWork):
    """An orders transaction; the monolith's inventory adapter joins its connection."""

    orders: SqlOrderRepository
    idempotency: SqlIdempotencyStore

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        super().__init__(engine, write=write)

    def _on_enter(self, connection: Connection) -> None:
        self.orders = SqlOrderRepository(connection)
        self.idempotency = SqlIdempotencyStore(connection)
