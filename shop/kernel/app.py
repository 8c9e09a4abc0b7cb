"""The parts every unit's FastAPI app shares: health, readiness, headers, errors, chaos."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from shop.core import otel
from shop.core.logs import RequestLog
from shop.core.metrics import CONTENT_TYPE, PATH, MetricsMiddleware, RequestMetrics
from shop.kernel import server_spans
from shop.kernel.chaos import Chaos, ChaosMiddleware, chaos_router
from shop.kernel.config import UnitSettings
from shop.kernel.docs import add_offline_docs
from shop.kernel.middleware import UnitHeaders

log = logging.getLogger("twinshop")

TITLE = "twinshop"
API_VERSION = "1"
IMPLEMENTATION = "python"


class Health(BaseModel):
    status: Literal["ok"]
    unit: str
    version: str
    instance: str
    impl: str = IMPLEMENTATION
    """Which implementation answers (the Rust catalog says ``rust``)."""


class Ready(BaseModel):
    status: Literal["ready"]


class Error(BaseModel):
    """Every error answers ``{"detail": ...}``."""

    detail: str


_FASTAPI_UNPARSABLE = "There was an error parsing the body"


def health_router(settings: UnitSettings, ready: Callable[[], bool]) -> APIRouter:
    router = APIRouter(tags=["health"])
    health = Health(
        status="ok", unit=settings.UNIT, version=settings.VERSION, instance=settings.instance
    )

    @router.get("/health")
    async def get_health() -> Health:
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
    engine: Engine | None = None,
    http_clients: Sequence[Any] = (),
) -> FastAPI:
    """A FastAPI app with the shared kernel wired in; ``routers`` bring the domain.

    With tracing on (``shop.core.otel``), every request, every call of ``http_clients``
    (httpx clients to other units) and every SQL statement on ``engine`` is a span."""
    # A unit answers only the paths it serves: no redirect to its own address (the client
    # would go around the edge). /docs with Swagger UI's files served here (no CDN: it
    # works offline); no /redoc. /openapi.json stays: the edges merge it.
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
    )
    add_offline_docs(app, title=f"{TITLE} {settings.UNIT}")
    app.include_router(health_router(settings, ready))
    for router in routers:
        app.include_router(router)
    app.include_router(
        chaos_router(chaos, enabled=settings.CHAOS, admin_token=settings.ADMIN_TOKEN)
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(ChaosMiddleware, chaos=chaos)
    app.add_middleware(
        UnitHeaders,
        # unit/instance, and the version it runs, so a redeploy shows in every answer.
        served_by=f"{settings.UNIT}/{settings.instance}@v{settings.VERSION}",
        max_body_bytes=settings.MAX_BODY_BYTES,
    )
    metrics = RequestMetrics(settings.UNIT)
    app.state.metrics = metrics
    app.add_api_route(PATH, _metrics_endpoint(metrics), methods=["GET"], include_in_schema=False)
    # Outermost, so that it sees every answer (413s of UnitHeaders, chaos errors too).
    app.add_middleware(
        MetricsMiddleware,
        metrics=metrics,
        log=RequestLog(settings.UNIT, settings.instance, enabled=settings.LOG_REQUESTS),
    )
    _document_admin_token(app)
    provider = otel.setup(settings.UNIT, settings.instance, settings.VERSION)
    app.state.tracer_provider = provider  # None with tracing off
    if provider is not None:
        server_spans.instrument_app(app, provider, http_clients)
        if engine is not None:
            server_spans.instrument_engine(engine, provider)
    return app


def _metrics_endpoint(metrics: RequestMetrics) -> Callable[[], Awaitable[Response]]:
    async def get_metrics() -> Response:
        """Prometheus text exposition of this unit's request metrics."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return get_metrics


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, but safe to encode whatever the client sent (lone surrogates,
    infinities): the default handler would crash with a 500 while echoing them back."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "type": error.get("type", "value_error"),
            "loc": [_printable(part) for part in error.get("loc", ())],
            "msg": _printable(error.get("msg", "")),
            "input": _printable(error.get("input")),
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _printable(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)[:40] + "..."
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth < 5 and isinstance(value, list | tuple):
        return [_printable(v, depth + 1) for v in value[:50]]
    if depth < 5 and isinstance(value, dict):
        return {_printable(str(k)): _printable(v, depth + 1) for k, v in list(value.items())[:50]}
    return None


async def _http_error(request: Request, exc: Exception) -> Response:
    """A body FastAPI could not parse at all (bad UTF-8, absurd nesting) is a malformed
    body like any other: 422 in the usual shape, not FastAPI's bare 400."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == _FASTAPI_UNPARSABLE:
        error = {"type": "json_invalid", "loc": ["body"], "msg": "body is not valid JSON"}
        return JSONResponse({"detail": [{**error, "input": None}]}, status_code=422)
    return await http_exception_handler(request, exc)


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
