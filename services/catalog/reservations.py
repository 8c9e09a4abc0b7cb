"""The catalog's internal API for the orders service: reserve and release stock per order.

Not routed by the gateway and not in the public OpenAPI document. Both calls are
idempotent by order id, so the orders service may retry them freely.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine

from shop.catalog import services
from shop.catalog.model import (
    InsufficientStock,
    Line,
    ReservationReleased,
    UnknownProducts,
)
from shop.catalog.schemas import PricedItem, ReleaseOut, ReservationOut, ReservationRequest
from shop.catalog.sql import CatalogUnitOfWork
from shop.core import deadline as budget
from shop.kernel.db import retry_on_conflict

OrderId = Annotated[str, Path(min_length=1, max_length=64)]


GAVE_UP = {"detail": "the caller's deadline passed; nothing was reserved"}


def _no_crash(_: str) -> None:
    return None


def reservations_router(engine: Engine, *, crash: Callable[[str], None] = _no_crash) -> APIRouter:
    """``crash(point)`` is called after each commit (``after_reserve``, ``after_release``):
    a crash there loses the answer of a change that is already durable."""
    router = APIRouter(prefix="/reservations", tags=["internal"], include_in_schema=False)

    @router.put("/{order_id}", response_model=ReservationOut)
    def reserve(order_id: OrderId, body: ReservationRequest, request: Request) -> Any:
        """Take the stock of every item, all or nothing (409 names the short product)."""
        lines = [Line(item.product_id, item.quantity) for item in body.items]
        if len({line.product_id for line in lines}) != len(lines):
            return JSONResponse({"detail": "duplicate product_id in items"}, status_code=422)
        arrived = getattr(request.state, "arrived", None) or time.monotonic()
        deadline = budget.parse(request.headers.get(budget.HEADER), arrived=arrived)
        if budget.passed(deadline):
            return JSONResponse(GAVE_UP, status_code=504)

        def attempt() -> Any:
            with CatalogUnitOfWork(engine) as uow:
                try:
                    reservation = services.reserve(uow, order_id, lines)
                except UnknownProducts as exc:
                    return JSONResponse(
                        {"detail": str(exc), "product_ids": exc.product_ids}, status_code=422
                    )
                except InsufficientStock as exc:
                    return JSONResponse(
                        {"detail": str(exc), "product_id": exc.product_id}, status_code=409
                    )
                except ReservationReleased as exc:
                    return JSONResponse({"detail": str(exc)}, status_code=410)
                if budget.passed(deadline):
                    return JSONResponse(GAVE_UP, status_code=504)  # rolled back on exit
                uow.commit()
            crash("after_reserve")
            # Serialised once here: a plain model would be validated and encoded again by
            # FastAPI's response_model on every reservation (a hop the monolith skips).
            out = ReservationOut(
                order_id=order_id,
                status=reservation.status,
                items=[
                    PricedItem(
                        product_id=line.product_id,
                        quantity=line.quantity,
                        unit_price_cents=line.unit_price_cents,
                    )
                    for line in reservation.lines
                ],
            )
            return Response(out.model_dump_json(), media_type="application/json")

        return retry_on_conflict(attempt)

    @router.delete("/{order_id}")
    def release(order_id: OrderId) -> ReleaseOut:
        """Give the stock back (once); a release before any reserve leaves a tombstone."""

        def attempt() -> bool:
            with CatalogUnitOfWork(engine) as uow:
                restored = services.release(uow, order_id)
                uow.commit()
            return restored

        restored = retry_on_conflict(attempt)
        crash("after_release")
        return ReleaseOut(order_id=order_id, status="released", restored=restored)

    return router
