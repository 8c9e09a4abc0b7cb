"""An operator's view of the orders, for the lab's checks (admin token, never routed by
an edge, not in the public OpenAPI): every order of a customer whatever its status, with
the Idempotency-Key that asked for it, and how many orders are not settled yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from shop.kernel.admin import admin_route_class
from shop.orders.ports import OrdersUnitOfWork


def operator_router(
    uow_factory: Callable[[bool], OrdersUnitOfWork], *, admin_token: str
) -> APIRouter:
    router = APIRouter(route_class=admin_route_class(admin_token), include_in_schema=False)

    @router.get("/_orders/audit")
    def audit(customer: Annotated[str, Query(min_length=1, max_length=200)]) -> dict[str, Any]:
        with uow_factory(False) as uow:
            found = uow.orders.audit(customer)
            unsettled = uow.orders.count_unsettled()
        return {
            "unsettled": unsettled,
            "orders": [
                {
                    "id": order.id,
                    "status": order.status,
                    "key": key,
                    "lines": [[line.product_id, line.quantity] for line in order.lines],
                }
                for order, key in found
            ],
        }

    return router
