"""The dashboard's web app: one page (``/``), its data (``/api/state``), and ``/health``.

Read-only: it never changes the shop, it only looks (``runtime.status()`` and the edges'
``/metrics``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from lab.dashboard.page import PAGE
from lab.dashboard.state import Runtime, Snapshot

NO_STORE = {"Cache-Control": "no-store"}


def create_app(runtime: Runtime, *, ttl: float = 0.5) -> FastAPI:
    """The app for one runtime; ``ttl`` is how long one computed state serves every browser."""
    snapshot = Snapshot(runtime, ttl=ttl)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        snapshot.start()  # sample continuously, watched or not: figures cover real time
        try:
            yield
        finally:
            await snapshot.aclose()

    app = FastAPI(
        title="twinshop dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.snapshot = snapshot

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers=NO_STORE)

    @app.get("/api/state")
    async def state() -> JSONResponse:
        body: dict[str, Any] = await snapshot.get()
        return JSONResponse(body, headers=NO_STORE)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
