"""The dashboard's web app: one page (``/``), its data (``/api/state``), and ``/health``;
and a trace receiver: the units export their spans to ``POST /v1/traces`` (OTLP/HTTP), the
page shows the latest ones from ``/api/waterfall``, and ``/api/traces`` lists them.

Read-only: it never changes the shop, it only looks (``runtime.status()``, the edges'
``/metrics`` and the spans it is sent)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from lab.dashboard.page import PAGE
from lab.dashboard.state import Runtime, Snapshot
from lab.dashboard.traces import PROTOBUF, BadExport, TraceStore, accepted, decode
from lab.dashboard.waterfall import latest, summary, waterfall

NO_STORE = {"Cache-Control": "no-store"}
LISTED = 50  # traces in /api/traces
FORWARD_ENV = "TWINSHOP_TRACES_FORWARD"
"""An OTLP/HTTP endpoint (Jaeger's, in the compose ``jaeger`` profile) that gets a copy of
every export the dashboard receives: one set of exporters feeds both."""
FORWARD_TIMEOUT = 2.0


class Forwarder:
    """Passes each export request on, as it came, without making its sender wait."""

    def __init__(self, endpoint: str) -> None:
        self.url = endpoint.rstrip("/")
        if not self.url.endswith("/v1/traces"):
            self.url += "/v1/traces"
        self._client: httpx.AsyncClient | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def send(self, body: bytes, headers: dict[str, str]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(body, headers))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, body: bytes, headers: dict[str, str]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT)
        with contextlib.suppress(httpx.HTTPError):  # no Jaeger: the dashboard works alone
            await self._client.post(self.url, content=body, headers=headers)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def create_app(
    runtime: Runtime,
    *,
    ttl: float = 0.5,
    traces: TraceStore | None = None,
    forward_to: str | None = None,
) -> FastAPI:
    """The app for one runtime; ``ttl`` is how long one computed state serves every browser.
    ``forward_to``: where received spans are passed on (default ``TWINSHOP_TRACES_FORWARD``;
    "" nowhere)."""
    snapshot = Snapshot(runtime, ttl=ttl)
    store = traces if traces is not None else TraceStore()
    forward = os.environ.get(FORWARD_ENV, "") if forward_to is None else forward_to
    forwarder = Forwarder(forward) if forward else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        snapshot.start()  # sample continuously, watched or not: figures cover real time
        try:
            yield
        finally:
            await snapshot.aclose()
            if forwarder is not None:
                await forwarder.aclose()

    app = FastAPI(
        title="twinshop dashboard",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.snapshot = snapshot
    app.state.traces = store

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE, headers=NO_STORE)

    @app.get("/api/state")
    async def state() -> JSONResponse:
        body: dict[str, Any] = await snapshot.get()
        return JSONResponse(body, headers=NO_STORE)

    @app.post("/v1/traces")
    async def receive_traces(request: Request) -> Response:
        """OTLP/HTTP: an ``ExportTraceServiceRequest`` (protobuf or JSON)."""
        headers = request.headers
        body = await request.body()
        content_type = headers.get("content-type", PROTOBUF)
        encoding = headers.get("content-encoding", "")
        try:
            spans = decode(body, content_type, encoding)
        except BadExport as exc:
            raise HTTPException(400, str(exc)) from None
        store.add(spans)
        if forwarder is not None:
            passed = {"content-type": content_type}
            if encoding:
                passed["content-encoding"] = encoding
            forwarder.send(body, passed)
        return Response(accepted(), media_type=PROTOBUF)

    @app.get("/api/waterfall")
    async def latest_traces() -> JSONResponse:
        """The latest checkout and browse trace of each architecture, as waterfalls."""
        return JSONResponse(latest(store), headers=NO_STORE)

    @app.get("/api/traces")
    async def list_traces() -> JSONResponse:
        listed = [summary(spans) for spans in store.newest_first()[:LISTED]]
        return JSONResponse({"traces": listed}, headers=NO_STORE)

    @app.get("/api/traces/{trace_id}")
    async def one_trace(trace_id: str) -> JSONResponse:
        shown = waterfall(store.get(trace_id.lower()))
        if shown is None:
            raise HTTPException(404, "no such trace (yet)")
        return JSONResponse(shown, headers=NO_STORE)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
