"""SQL persistence of the catalog (SQLAlchemy Core): tables and repositories."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from shop.catalog.model import DuplicateSku, NewProduct, PricedLine, Product, Reservation
from shop.kernel.db import SqlUnitOfWork

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("price_cents", BigInteger, nullable=False),
    Column("stock", BigInteger, nullable=False),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
)

reservation_lines = Table(
    "reservation_lines",
    metadata,
    Column("order_id", String(64), ForeignKey("reservations.order_id"), primary_key=True),
    Column("product_id", Integer, primary_key=True),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", BigInteger, nullable=False),
)

_PRODUCT_COLUMNS = (
    products.c.id,
    products.c.sku,
    products.c.name,
    products.c.price_cents,
    products.c.stock,
)


# The statements of the hot paths, built once: building a statement and its cache key on
# every request was a visible share of SQLAlchemy's time in the profiles (bench/README.md).
_GET_PRODUCT = select(*_PRODUCT_COLUMNS).where(products.c.id == bindparam("id"))
_GET_PRODUCTS = select(*_PRODUCT_COLUMNS).where(products.c.id.in_(bindparam("ids", expanding=True)))
_TAKE_STOCK = (
    update(products)
    .where(products.c.id == bindparam("pid"), products.c.stock >= bindparam("quantity"))
    .values(stock=products.c.stock - bindparam("quantity"))
)
_RESERVATION_STATUS = select(reservations.c.status).where(
    reservations.c.order_id == bindparam("order_id")
)


class SqlProductRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def search(self, *, q: str | None, limit: int, offset: int) -> tuple[list[Product], int]:
        where = [] if not q else [func.lower(products.c.name).contains(q.lower(), autoescape=True)]
        rows = self.conn.execute(
            select(*_PRODUCT_COLUMNS)
            .where(*where)
            .order_by(products.c.id)
            .limit(limit)
            .offset(offset)
        )
        total = self.conn.execute(select(func.count()).select_from(products).where(*where))
        return [Product(*row) for row in rows], int(total.scalar_one())

    def get(self, product_id: int) -> Product | None:
        row = self.conn.execute(_GET_PRODUCT, {"id": product_id}).first()
        return Product(*row) if row else None

    def get_many(self, product_ids: Iterable[int]) -> dict[int, Product]:
        rows = self.conn.execute(_GET_PRODUCTS, {"ids": list(product_ids)})
        return {row.id: Product(*row) for row in rows}

    def add(self, product: NewProduct) -> Product:
        try:
            with self.conn.begin_nested():
                new_id = self.conn.execute(
                    insert(products).values(
                        sku=product.sku,
                        name=product.name,
                        price_cents=product.price_cents,
                        stock=product.stock,
                    )
                ).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError as exc:
            raise DuplicateSku(product.sku) from exc
        return Product(new_id, product.sku, product.name, product.price_cents, product.stock)

    def update(
        self, product_id: int, *, price_cents: int | None, stock: int | None
    ) -> Product | None:
        values = {
            name: value
            for name, value in (("price_cents", price_cents), ("stock", stock))
            if value is not None
        }
        if values:
            self.conn.execute(update(products).where(products.c.id == product_id).values(**values))
        return self.get(product_id)

    def take_stock(self, product_id: int, quantity: int) -> bool:
        result = self.conn.execute(_TAKE_STOCK, {"pid": product_id, "quantity": quantity})
        return result.rowcount == 1

    def put_back_stock(self, product_id: int, quantity: int) -> None:
        self.conn.execute(
            update(products)
            .where(products.c.id == product_id)
            .values(stock=products.c.stock + quantity)
        )

    def count(self) -> int:
        return int(self.conn.execute(select(func.count()).select_from(products)).scalar_one())


class SqlReservationRepository:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def get(self, order_id: str) -> Reservation | None:
        status = self.conn.execute(_RESERVATION_STATUS, {"order_id": order_id}).scalar_one_or_none()
        if status is None:
            return None
        lines = self.conn.execute(
            select(
                reservation_lines.c.product_id,
                reservation_lines.c.quantity,
                reservation_lines.c.unit_price_cents,
            )
            .where(reservation_lines.c.order_id == order_id)
            .order_by(reservation_lines.c.product_id)
        )
        return Reservation(order_id, status, [PricedLine(*row) for row in lines])

    def add(self, reservation: Reservation) -> None:
        self.conn.execute(
            insert(reservations).values(order_id=reservation.order_id, status=reservation.status)
        )
        if reservation.lines:
            self.conn.execute(
                insert(reservation_lines),
                [
                    {
                        "order_id": reservation.order_id,
                        "product_id": line.product_id,
                        "quantity": line.quantity,
                        "unit_price_cents": line.unit_price_cents,
                    }
                    for line in reservation.lines
                ],
            )

    def mark_released(self, order_id: str) -> bool:
        result = self.conn.execute(
            update(reservations)
            .where(reservations.c.order_id == order_id, reservations.c.status == "reserved")
            .values(status="released")
        )
        return result.rowcount == 1


class CatalogUnitOfWork(SqlUnitOfWork):
    """A catalog transaction: ``with CatalogUnitOfWork(engine) as uow: ...; uow.commit()``."""

    products: SqlProductRepository
    reservations: SqlReservationRepository

    def __init__(self, engine: Engine, *, write: bool = True) -> None:
        super().__init__(engine, write=write)

    def _on_enter(self, connection: Connection) -> None:
        self.products = SqlProductRepository(connection)
        self.reservations = SqlReservationRepository(connection)


class CatalogOnConnection:
    """The catalog's repositories on someone else's connection (the monolith's order)."""

    def __init__(self, conn: Connection) -> None:
        self.products = SqlProductRepository(conn)
        self.reservations = SqlReservationRepository(conn)
