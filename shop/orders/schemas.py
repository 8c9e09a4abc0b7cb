"""The orders' JSON: what ``/orders`` accepts and returns."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from shop.core.text import CleanStr
from shop.orders.model import MAX_ITEMS, MAX_PRODUCT_ID, MAX_QUANTITY, Order


class OrderItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    product_id: int
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]

    @field_validator("product_id")
    @classmethod
    def _storable(cls, value: int) -> int:
        # An id no database column can hold is a product that cannot exist.
        if not 1 <= value <= MAX_PRODUCT_ID:
            raise PydanticCustomError(
                "unknown_product", "unknown product {product_id}", {"product_id": value}
            )
        return value


class OrderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    customer: Annotated[CleanStr, Field(min_length=1, max_length=200)]
    items: Annotated[list[OrderItemIn], Field(min_length=1, max_length=MAX_ITEMS)]


class OrderItemOut(BaseModel):
    product_id: int
    quantity: int
    unit_price_cents: int


class OrderOut(BaseModel):
    id: str
    status: Literal["confirmed", "cancelled"]
    customer: str
    items: list[OrderItemOut]
    total_cents: int
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            id=order.id,
            status=order.public_status,  # type: ignore[arg-type]
            customer=order.customer,
            items=[
                OrderItemOut(
                    product_id=line.product_id,
                    quantity=line.quantity,
                    unit_price_cents=line.unit_price_cents,
                )
                for line in order.lines
            ],
            total_cents=order.total_cents,
            created_at=order.created_at.isoformat(timespec="microseconds"),
        )


class OrderPage(BaseModel):
    items: list[OrderOut]
    total: int


class Conflict(BaseModel):
    """409: the product that is short, or an Idempotency-Key still in flight."""

    detail: str
    product_id: int | None = None


def validation_error(loc: list[str | int], msg: str, kind: str, value: Any) -> dict[str, Any]:
    """A 422 body in FastAPI's own shape, so every 422 of the API looks alike."""
    return {"detail": [{"type": kind, "loc": loc, "msg": msg, "input": value}]}
