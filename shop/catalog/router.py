"""The catalog's public HTTP API: ``/products``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from shop.catalog import services
from shop.catalog.model import DuplicateSku, NewProduct, Product, ProductNotFound
from shop.catalog.schemas import Product as ProductOut
from shop.catalog.schemas import ProductCreate, ProductPage, ProductUpdate
from shop.catalog.sql import CatalogUnitOfWork
from shop.core.text import CleanStr
from shop.kernel.admin import ADMIN_SECURITY, admin_route_class
from shop.kernel.app import Error
from shop.kernel.reads import Reads

MAX_OFFSET = 1_000_000_000
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
Search = Annotated[CleanStr | None, Query(max_length=200, description="substring of the name")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error}}
ADMIN: dict[int | str, dict[str, Any]] = {401: {"model": Error}}


def _out(product: Product) -> ProductOut:
    return ProductOut(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price_cents=product.price_cents,
        stock=product.stock,
    )


def _not_found(exc: ProductNotFound) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def products_router(engine: Engine, *, admin_token: str) -> APIRouter:
    """Browse anonymously; create and change products with the admin token."""
    router = APIRouter(prefix="/products", tags=["catalog"])
    admin = APIRouter(
        prefix="/products", tags=["catalog"], route_class=admin_route_class(admin_token)
    )
    both = APIRouter()
    reads = Reads(engine)

    def search(q: str | None, limit: int, offset: int) -> ProductPage:
        with CatalogUnitOfWork(engine, write=False) as uow:
            items, total = uow.products.search(q=q, limit=limit, offset=offset)
        return ProductPage(items=[_out(p) for p in items], total=total)

    def one(product_id: int) -> Any:
        with CatalogUnitOfWork(engine, write=False) as uow:
            try:
                return _out(services.get_product(uow, product_id))
            except ProductNotFound as exc:
                return _not_found(exc)

    @router.get("")
    async def list_products(q: Search = None, limit: Limit = 20, offset: Offset = 0) -> ProductPage:
        """Products sorted by id; ``q`` matches a part of the name, any case."""
        return await reads.run(search, q, limit, offset)

    @router.get("/{product_id}", response_model=ProductOut, responses=NOT_FOUND)
    async def get_product(product_id: int) -> Any:
        """One product."""
        return await reads.run(one, product_id)

    @admin.post(
        "",
        status_code=201,
        response_model=ProductOut,
        responses={**ADMIN, 409: {"model": Error}},
        openapi_extra=ADMIN_SECURITY,
    )
    def create_product(body: ProductCreate) -> Any:
        """Add a product (admin)."""
        new = NewProduct(body.sku, body.name, body.price_cents, body.stock)
        with CatalogUnitOfWork(engine) as uow:
            try:
                product = uow.products.add(new)
            except DuplicateSku as exc:
                return JSONResponse({"detail": str(exc)}, status_code=409)
            uow.commit()
        return JSONResponse(_out(product).model_dump(), status_code=201)

    @admin.patch(
        "/{product_id}",
        response_model=ProductOut,
        responses={**ADMIN, **NOT_FOUND},
        openapi_extra=ADMIN_SECURITY,
    )
    def update_product(product_id: int, body: ProductUpdate) -> Any:
        """Change a product's price or stock (admin)."""
        with CatalogUnitOfWork(engine) as uow:
            try:
                product = services.update_product(
                    uow, product_id, price_cents=body.price_cents, stock=body.stock
                )
            except ProductNotFound as exc:
                return _not_found(exc)
            uow.commit()
        return _out(product)

    both.include_router(router)
    both.include_router(admin)
    return both
