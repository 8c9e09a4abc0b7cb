"""The catalog's JSON: what the public API and the internal reservation API accept and return."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shop.catalog.model import MAX_PRICE_CENTS, MAX_STOCK
from shop.core.text import CleanStr

PriceCents = Annotated[int, Field(ge=0, le=MAX_PRICE_CENTS)]
Stock = Annotated[int, Field(ge=0, le=MAX_STOCK)]
Quantity = Annotated[int, Field(ge=1, le=1000)]


class Product(BaseModel):
    id: int
    sku: str
    name: str
    price_cents: int
    stock: int


class ProductPage(BaseModel):
    items: list[Product]
    total: int


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    sku: Annotated[CleanStr, Field(min_length=1, max_length=64)]
    name: Annotated[CleanStr, Field(min_length=1, max_length=200)]
    price_cents: PriceCents
    stock: Stock


class ProductUpdate(BaseModel):
    """Absent (or null) fields stay as they are."""

    model_config = ConfigDict(extra="forbid", strict=True)
    price_cents: PriceCents | None = None
    stock: Stock | None = None


class ReservationItem(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    product_id: int
    quantity: Quantity


class ReservationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    items: Annotated[list[ReservationItem], Field(min_length=1, max_length=50)]


class PricedItem(BaseModel):
    product_id: int
    quantity: int
    unit_price_cents: int


class ReservationOut(BaseModel):
    order_id: str
    status: Literal["reserved", "released"]
    items: list[PricedItem]


class ReleaseOut(BaseModel):
    order_id: str
    status: Literal["released"]
    restored: bool
