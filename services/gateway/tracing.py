"""The edge's spans: a server span per proxied request, a client span per attempt upstream.

The edge is not a FastAPI app, so no instrumentation library fits it: it makes its spans
itself, with the tracer provider of ``shop.core.otel``. The caller's W3C ``traceparent``
(if any) is the parent of the server span, so a caller's trace continues through
twinshop; each attempt upstream sends its own client span's ``traceparent``, so the unit's
server span hangs below it and the gap between the two is the time on the network.

With tracing off the edge holds no ``EdgeTracer`` and forwards the caller's
``traceparent`` untouched: nothing here runs.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_ROOT = Context()


def parent_of(traceparent: bytes | None) -> Context:
    """The context a caller's ``traceparent`` names (an empty one when absent or invalid)."""
    if not traceparent:
        return _ROOT
    try:
        value = traceparent.decode("ascii")
    except UnicodeDecodeError:
        return _ROOT
    return _PROPAGATOR.extract({"traceparent": value}, context=_ROOT)


def traceparent_of(span: Span) -> bytes:
    """The W3C ``traceparent`` header value that makes a callee's span a child of ``span``."""
    context = span.get_span_context()
    return b"00-%032x-%016x-%02x" % (context.trace_id, context.span_id, context.trace_flags)


class EdgeTracer:
    """Starts the spans of one edge process."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("twinshop.edge")

    def request(self, method: str, path: str, traceparent: bytes | None) -> RequestTrace:
        span = self.tracer.start_span(
            f"{method} {path}",
            context=parent_of(traceparent),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        )
        return RequestTrace(self.tracer, span)


class RequestTrace:
    """The server span of one request, and the client spans of its attempts upstream."""

    __slots__ = ("_context", "detail", "span", "tracer")

    def __init__(self, tracer: trace.Tracer, span: Span) -> None:
        self.tracer = tracer
        self.span = span
        self.detail = ""
        """Why the edge answered itself (``EdgeError.detail``), for a failed span."""
        self._context: Context | None = None

    @property
    def trace_id(self) -> str:
        return format(self.span.get_span_context().trace_id, "032x")

    def attempt(self, upstream: str, replica: str, method: str, target: str) -> Span:
        """A client span for one attempt; send ``traceparent_of`` it upstream. In a trace that
        is not recorded, the server span itself (no span is made: nothing would be seen)."""
        if not self.span.is_recording():
            return self.span
        if self._context is None:
            self._context = trace.set_span_in_context(self.span, _ROOT)
        return self.tracer.start_span(
            f"{method} {upstream}",
            context=self._context,
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "url.full": replica + target,
                "twinshop.upstream": upstream,
            },
        )

    def finish(self, status: int, route: str) -> None:
        """End the server span with the status the client got (5xx: an error)."""
        span = self.span
        if not span.is_recording():
            return
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("http.route", route)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR, self.detail or f"answered {status}"))
        span.end()


def attempt_answered(span: Span, status: int) -> None:
    """End a client span with the upstream's status (5xx: an error)."""
    if not span.is_recording():
        return
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR, f"{status} from upstream"))
    span.end()


def attempt_failed(span: Span, error: Exception) -> None:
    """End a client span whose attempt got no answer (refused, timed out, broken)."""
    if not span.is_recording():
        return
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span.set_attribute("error.type", type(error).__name__)
    span.end()
