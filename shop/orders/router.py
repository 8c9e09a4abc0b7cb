"""The orders' public HTTP API: ``/orders``. Shared by the monolith and the orders service;
what differs is the ``Inventory`` that the composition root plugs in."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response

from shop.core.text import CleanStr
from shop.kernel.app import Error
from shop.orders import services
from shop.orders.checkout import CheckoutRequest, Render
from shop.orders.idempotency import Answer, fingerprint, key_is_valid
from shop.orders.model import DuplicateProduct, Order, OrderNotFound, pending_order
from shop.orders.ports import (
    InsufficientStock,
    InventoryUnavailable,
    KeyId,
    OrdersUnitOfWork,
    UnknownProducts,
)
from shop.orders.schemas import (
    Conflict,
    OrderCreate,
    OrderOut,
    OrderPage,
    validation_error,
)

UowFactory = Callable[[bool], OrdersUnitOfWork]
"""``factory(write)`` → a fresh unit of work."""
CheckoutFlow = Callable[[CheckoutRequest, Render, float], Answer]
"""``checkout(request, render, arrived)``: the architecture's flow (``arrived`` is the
request's ``time.monotonic()`` on arrival, where the time budget starts)."""
CancelFlow = Callable[[str], Order]
MAX_OFFSET = 1_000_000_000
RETRY_AFTER = {"Retry-After": "1"}
UNAVAILABLE = {"detail": "catalog is unavailable; nothing was reserved, try again"}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Error},
    503: {"model": Error, "description": "a part checkout needs is unavailable"},
}


def orders_router(
    uow_factory: UowFactory, *, checkout: CheckoutFlow, cancel: CancelFlow
) -> APIRouter:
    router = APIRouter(prefix="/orders", tags=["orders"])

    @router.post(
        "",
        status_code=201,
        response_model=OrderOut,
        responses={
            400: {"model": Error, "description": "malformed Idempotency-Key"},
            409: {
                "model": Conflict,
                "description": "insufficient stock, or the same Idempotency-Key is in flight",
            },
            503: ERRORS[503],
        },
    )
    def create_order(
        body: OrderCreate,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        """Check out: reserve every item's stock and confirm the order, all or nothing."""
        arrived = time.monotonic()
        wanted = [(item.product_id, item.quantity) for item in body.items]
        if idempotency_key is not None and not key_is_valid(idempotency_key):
            answer = _answer(400, {"detail": "Idempotency-Key must be 1 to 255 characters"})
        else:
            try:
                pending_order(body.customer, wanted)  # the rules of an order, before any I/O
            except DuplicateProduct as exc:
                answer = _answer(
                    422, _items_error(body, exc.product_id, str(exc), "duplicate_product")
                )
            else:
                request = CheckoutRequest(
                    customer=body.customer,
                    wanted=wanted,
                    key=KeyId(body.customer, idempotency_key) if idempotency_key else None,
                    fingerprint=fingerprint(body.model_dump(mode="json")),
                )
                answer = checkout(request, lambda outcome: _render(body, outcome), arrived)
        return Response(
            answer.body,
            status_code=answer.status_code,
            headers=answer.headers,
            media_type="application/json",
        )

    @router.get("")
    def list_orders(
        customer: Annotated[CleanStr | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> OrderPage:
        """Acknowledged orders, newest first; ``customer`` filters by exact name."""
        with uow_factory(False) as uow:
            orders, total = uow.orders.search(customer=customer, limit=limit, offset=offset)
        return OrderPage(items=[OrderOut.of(o) for o in orders], total=total)

    @router.get("/{order_id}", response_model=OrderOut, responses={404: ERRORS[404]})
    def get_order(order_id: str) -> Any:
        """One order."""
        try:
            return OrderOut.of(services.get_order(uow_factory(False), order_id))
        except OrderNotFound as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)

    @router.post("/{order_id}/cancel", response_model=OrderOut, responses=ERRORS)
    def cancel_order(order_id: str) -> Any:
        """Cancel an order and put its stock back; cancelling again changes nothing."""
        try:
            return OrderOut.of(cancel(order_id))
        except OrderNotFound as exc:
            return JSONResponse({"detail": str(exc)}, status_code=404)
        except InventoryUnavailable:
            return JSONResponse(UNAVAILABLE, status_code=503, headers=RETRY_AFTER)

    return router


def _render(body: OrderCreate, outcome: Order | Exception) -> Answer:
    if isinstance(outcome, Order):
        return Answer(201, OrderOut.of(outcome).model_dump_json())
    if isinstance(outcome, UnknownProducts):
        error = _items_error(body, outcome.product_ids[0], str(outcome), "unknown_product")
        return _answer(422, error)
    if isinstance(outcome, InsufficientStock):
        return _answer(409, {"detail": str(outcome), "product_id": outcome.product_id})
    if isinstance(outcome, InventoryUnavailable):
        return _answer(503, UNAVAILABLE, RETRY_AFTER)
    raise outcome


def _answer(status_code: int, body: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status_code, json.dumps(body), headers or {})


def _items_error(body: OrderCreate, product_id: int, msg: str, kind: str) -> dict[str, Any]:
    ids = [item.product_id for item in body.items]
    position = len(ids) - 1 - ids[::-1].index(product_id)
    return validation_error(["body", "items", position, "product_id"], msg, kind, product_id)
