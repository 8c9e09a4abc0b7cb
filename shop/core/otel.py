"""OpenTelemetry behind ``shop.core.tracing``: settings, the tracer provider, the exporter.

    TWINSHOP_TRACING=0               no spans, no trace ids (the default is on)
    TWINSHOP_TRACE_SAMPLE=0.1        the share of new traces recorded (0..1); a caller's
                                     ``traceparent`` decides for its own trace
    TWINSHOP_TRACE_EVERY=1.0         and a request whenever none was recorded for this many
                                     seconds (0: the ratio alone)
    OTEL_EXPORTER_OTLP_ENDPOINT=...  where recorded spans go (OTLP/HTTP, protobuf; the base
                                     URL, ``/v1/traces`` is added); unset: nowhere

Every span carries its unit, instance and version (the resource: ``service.name``,
``service.instance.id``, ``service.version``). Without an endpoint nothing is exported,
but every request still has a trace id, which its JSON log line shows. A collector that is
not there costs one warning, then its batches are dropped quietly until it answers again.

The units make a server span per request and use the httpx and SQLAlchemy instrumentations
(``shop.kernel.server_spans``: the units' layer); the edge makes its own spans
(``services.gateway.tracing``) with the provider ``setup`` returns. This module is the
framework-free part that both share.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shop.core import tracing

log = logging.getLogger("twinshop.tracing")

TRACES_PATH = "/v1/traces"
EXPORT_TIMEOUT = 2.0  # seconds for one batch
QUIET_SECONDS = 2.0  # after a failed export, batches are dropped untried this long
# (short: a dashboard started after the shop gets its spans within seconds)
NOT_TRACED = frozenset({"/health", "/ready", "/metrics", "/openapi.json", "/docs"})
"""Probes, scrapes and documents make no trace."""
SCOPE = "twinshop"


class TracingSettings(BaseSettings):
    """Tracing settings, the same for every unit and both edges (``TWINSHOP_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="TWINSHOP_", extra="ignore")

    TRACING: bool = True
    TRACE_SAMPLE: float = Field(default=0.1, ge=0.0, le=1.0)
    # Besides the ratio, a request is recorded when none was for this long (0: never).
    TRACE_EVERY: float = Field(default=1.0, ge=0.0)
    OTLP_ENDPOINT: str = Field(
        default="",
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "TWINSHOP_OTLP_ENDPOINT"),
    )
    EXPORT_DELAY: float = Field(default=1.0, gt=0)  # seconds between two batches at most


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a base endpoint (``http://host:4318`` → ``.../v1/traces``)."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


class QuietExporter(SpanExporter):
    """An exporter that says once that its collector is gone, and then drops batches
    without trying for ``QUIET_SECONDS``: no log flood and no retry loop in a unit whose
    dashboard is not running."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self._quiet_until = 0.0
        self._warned = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        now = time.monotonic()
        if now < self._quiet_until:
            return SpanExportResult.FAILURE
        result = self.inner.export(spans)
        if result is SpanExportResult.SUCCESS:
            self._warned = False
        else:
            self._quiet_until = now + QUIET_SECONDS
            if not self._warned:
                self._warned = True
                log.warning("traces cannot be sent to %s; dropping them for now", self.endpoint)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RequestsOnly(Sampler):
    """Which new traces are recorded: ``ratio`` of the requests, and any request that comes
    ``every`` seconds or more after the last recorded one (so a quiet shop records each
    request: the one checkout you send shows on the dashboard; under load it is ``ratio``
    plus one a second). A call out or an SQL statement with no request around it (the
    reconciler's rounds, housekeeping) makes no trace of its own."""

    def __init__(self, ratio: float, every: float = 0.0) -> None:
        self.ratio = TraceIdRatioBased(ratio)
        self.every = every
        self._last = -math.inf

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        result = self.ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if self.every > 0:
            now = time.monotonic()
            if result.decision is Decision.RECORD_AND_SAMPLE:
                self._last = now
            elif now - self._last >= self.every:
                self._last = now
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return result

    def get_description(self) -> str:
        return f"RequestsOnly({self.ratio.get_description()}, every={self.every})"


class OtelTracer:
    """``shop.core.tracing.Tracer`` on OpenTelemetry."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self._tracer = provider.get_tracer(SCOPE)

    def span(self, name: str) -> AbstractContextManager[None]:
        return self._span(name)

    @contextmanager
    def _span(self, name: str) -> Iterator[None]:
        with self._tracer.start_as_current_span(name):  # an exception marks it failed
            yield

    def trace_id(self) -> str:
        return current_trace_id()

    def name_request(self, method: str, route: str) -> None:
        span = trace.get_current_span()
        if span.is_recording():
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def setup(
    unit: str, instance: str, version: str, settings: TracingSettings | None = None
) -> TracerProvider | None:
    """The tracer provider of this process (None with tracing off), installed behind
    ``shop.core.tracing``."""
    settings = settings or TracingSettings()
    if not settings.TRACING:
        return None
    # The exporter's own retries and errors are summed up by QuietExporter's one warning.
    logging.getLogger("opentelemetry.exporter").setLevel(logging.CRITICAL)
    resource = Resource.create(
        {"service.name": unit, "service.instance.id": instance, "service.version": version}
    )
    provider = TracerProvider(
        resource=resource,
        sampler=ParentBased(RequestsOnly(settings.TRACE_SAMPLE, settings.TRACE_EVERY)),
    )
    if settings.OTLP_ENDPOINT:
        url = traces_url(settings.OTLP_ENDPOINT)
        exporter = QuietExporter(OTLPSpanExporter(endpoint=url, timeout=EXPORT_TIMEOUT), url)
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=settings.EXPORT_DELAY * 1000)
        )
    tracing.install(OtelTracer(provider))
    return provider
