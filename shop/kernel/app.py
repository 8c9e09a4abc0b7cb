"""The parts every unit's FastAPI app shares: health, readiness, headers, errors, chaos."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shop.kernel.chaos import Chaos, ChaosMiddleware, chaos_router
from shop.kernel.config import UnitSettings
from shop.kernel.middleware import UnitHeaders

log = logging.getLogger("twinshop")

TITLE = "twinshop"
API_VERSION = "1"


class Health(BaseModel):
    status: Literal["ok"]
    unit: str
    version: str
    instance: str


class Ready(BaseModel):
    status: Literal["ready"]


class Error(BaseModel):
    """Every error answers ``{"detail": ...}``."""

    detail: str


def health_router(settings: UnitSettings, ready: Callable[[], bool]) -> APIRouter:
    router = APIRouter(tags=["health"])
    health = Health(
        status="ok", unit=settings.UNIT, version=settings.VERSION, instance=settings.instance
    )

    @router.get("/health")
    def get_health() -> Health:
        """Is this process up? (It answers without touching the database.)"""
        return health

    @router.get("/ready", responses={503: {"model": Error}})
    def get_ready() -> Any:
        """Do this unit's own dependencies (its database) work?"""
        if ready():
            return Ready(status="ready")
        return JSONResponse({"detail": "database unavailable"}, status_code=503)

    return router


def create_unit_app(
    settings: UnitSettings,
    *,
    routers: list[APIRouter],
    ready: Callable[[], bool],
    chaos: Chaos,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """A FastAPI app with the shared kernel wired in; ``routers`` bring the domain."""
    app = FastAPI(title=TITLE, version=API_VERSION, lifespan=lifespan)
    app.include_router(health_router(settings, ready))
    for router in routers:
        app.include_router(router)
    app.include_router(
        chaos_router(chaos, enabled=settings.CHAOS, admin_token=settings.ADMIN_TOKEN)
    )
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(ChaosMiddleware, chaos=chaos)
    app.add_middleware(
        UnitHeaders,
        served_by=f"{settings.UNIT}/{settings.instance}",
        max_body_bytes=settings.MAX_BODY_BYTES,
    )
    _document_admin_token(app)
    return app


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def _document_admin_token(app: FastAPI) -> None:
    """Declare the bearer scheme that admin operations reference."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["adminToken"] = {"type": "http", "scheme": "bearer"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _noop(_: FastAPI) -> AsyncIterator[None]:
    yield
