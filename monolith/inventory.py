"""The monolith's inventory: the catalog module, called in-process, inside the order's
own database transaction. Checkout is one atomic unit; there is nothing to compensate.
Compare with ``services/orders/inventory.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shop.catalog import model as catalog
from shop.catalog import services as catalog_services
from shop.catalog.sql import CatalogOnConnection
from shop.kernel.db import SqlUnitOfWork
from shop.orders.model import OrderLine
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts


class CatalogInProcess:
    joins_transaction = True

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self.uow = uow

    def reserve(
        self, order_id: str, lines: Sequence[OrderLine], *, deadline: float | None = None
    ) -> list[OrderLine]:
        # ``deadline`` is for remote inventories; a function call has no network to wait for.
        wanted = [catalog.Line(line.product_id, line.quantity) for line in lines]
        try:
            reservation = catalog_services.reserve(self._catalog(), order_id, wanted)
        except catalog.UnknownProducts as exc:
            raise UnknownProducts(exc.product_ids) from exc
        except catalog.InsufficientStock as exc:
            raise InsufficientStock(exc.product_id) from exc
        except catalog.ReservationReleased as exc:
            raise InventoryUnavailable(str(exc)) from exc
        return [
            OrderLine(line.product_id, line.quantity, line.unit_price_cents)
            for line in reservation.lines
        ]

    def release(self, order_id: str, *, deadline: float | None = None) -> None:
        catalog_services.release(self._catalog(), order_id)

    def _catalog(self) -> CatalogOnConnection:
        return CatalogOnConnection(self.uow.connection)
