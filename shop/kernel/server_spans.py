"""The units' instrumentation: a server span per request (a lean ASGI middleware), the
httpx client spans and SQL spans per engine, on the provider of ``shop.core.otel``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shop.core.otel import NOT_TRACED

_PROPAGATOR = TraceContextTextMapPropagator()


class ServerSpans:
    """ASGI middleware: a server span per request, child of the caller's ``traceparent``.

    What the ASGI instrumentation does, minus what a unit does not need: it works out some
    twenty attributes, decodes every header and parses the URL on every request, recorded
    or not (about 90 µs a request on the workshop machine, as much as a product read
    itself); this starts the span with the method and path only and leaves the rest to
    recorded requests. ``MetricsMiddleware`` names the span after its route template once
    routing found it (``tracing.name_request``)."""

    def __init__(self, app: Any, *, provider: TracerProvider, skip: frozenset[str]) -> None:
        self.app = app
        self.tracer = provider.get_tracer("twinshop.unit")
        self.skip = skip

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in self.skip:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        carrier = {}
        for name, value in scope["headers"]:
            if name == b"traceparent" or name == b"tracestate":
                carrier[name.decode()] = value.decode("latin-1")
        parent = _PROPAGATOR.extract(carrier) if carrier else None
        span = self.tracer.start_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            if not span.is_recording():
                await self.app(scope, receive, send)
                return

            async def send_watched(message: Any) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR, f"answered {status}"))
                await send(message)

            try:
                await self.app(scope, receive, send_watched)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
                raise
        finally:
            span.end()
            otel_context.detach(token)


def instrument_app(app: Any, provider: TracerProvider, http_clients: Sequence[Any] = ()) -> None:
    """A server span per request of a unit's app (not for probes and scrapes), and a client
    span with ``traceparent`` on every call of ``http_clients`` (httpx clients: the httpx
    instrumentation, on those clients only — patching httpx for the whole process would
    also rewrite the ``traceparent`` of every other client in it, a test's included).
    Outermost: call this after every other ``add_middleware``."""
    app.add_middleware(ServerSpans, provider=provider, skip=NOT_TRACED)
    if not http_clients:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    for client in http_clients:
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=provider)


def instrument_engine(engine: Any, provider: TracerProvider) -> None:
    """A span per SQL statement of ``engine``, in recorded traces only (this engine only:
    the instrumentation's ``instrument()`` would patch every engine of the process, once,
    for one provider)."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import NoOpMeterProvider

    class RecordedOnly(EngineTracer):  # type: ignore[misc]
        """The SQLAlchemy instrumentation, which otherwise works out a statement's
        attributes and starts a span for it even when the request is not recorded."""

        def _before_cur_exec(self, conn: Any, cursor: Any, statement: Any, params: Any,
                             context: Any, executemany: Any) -> Any:  # fmt: skip
            if not trace.get_current_span().is_recording():
                return statement, params
            return super()._before_cur_exec(conn, cursor, statement, params, context, executemany)

    tracer = provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
    pool_usage = NoOpMeterProvider().get_meter("twinshop").create_up_down_counter("unused")
    RecordedOnly(tracer, engine, pool_usage)
