"""Tracing in process: the edge's and a unit's spans, ``traceparent`` in and out, the trace id
in the log line, sampling and the switch, the exporter that keeps quiet, and the port."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind, StatusCode

from services.catalog.app import create_app as create_catalog
from services.gateway.app import Edge
from services.gateway.client import RawHeaders, RawResponse
from services.gateway.config import EdgeSettings
from services.gateway.tracing import parent_of, traceparent_of
from services.gateway.transport import ConnectFailed
from shop.core import otel, tracing
from shop.kernel.config import UnitSettings
from tests.unit.test_edge_proxy import call_edge

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
A = "http://a:1"


class Recording:
    """An upstream client that answers 200 (or fails) and keeps the headers it was sent."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.sent: list[dict[bytes, bytes]] = []

    async def request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes,
        timeout: float | None = None,
        *,
        retryable: bool = False,
    ) -> RawResponse:
        self.sent.append(dict(headers))
        if self.fail is not None:
            raise self.fail
        return RawResponse(200, [], b"{}")

    def sweep(self) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing leaves the test process, whatever the environment says."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.setenv("TWINSHOP_TRACE_SAMPLE", "1")
    monkeypatch.setenv("TWINSHOP_TRACE_EVERY", "0")  # the ratio alone decides
    monkeypatch.setattr(tracing, "_tracer", tracing.NoTracer())


def lb(client: Recording, monkeypatch: pytest.MonkeyPatch, *, on: bool) -> Edge:
    monkeypatch.setenv("TWINSHOP_TRACING", "1" if on else "0")
    edge = Edge(
        EdgeSettings(
            UNIT="lb", INSTANCE="t", ROUTES={"/": "monolith"}, UPSTREAMS={"monolith": f"list:{A}"}
        )
    )
    for up in edge.upstreams.values():
        up.balancer.update(up.discovery.replicas())
        up.attach(client)
    edge._started = True
    edge.request_log.stream = io.StringIO()
    return edge


def recorded(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def log_line(edge: Edge) -> dict[str, object]:
    edge.request_log.flush()
    stream = edge.request_log.stream
    assert isinstance(stream, io.StringIO)
    return dict(json.loads(stream.getvalue().splitlines()[-1]))


def test_the_edge_continues_the_callers_trace_and_sends_its_own_span_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = Recording()
    edge = lb(client, monkeypatch, on=True)
    assert edge.tracer is not None
    spans = recorded(edge.tracer.provider)
    status, _, _ = call_edge(edge, "GET", "/products/1", headers=[(b"traceparent", CALLER)])
    assert status == 200
    sent = client.sent[0][b"traceparent"]
    assert sent.startswith(f"00-{TRACE_ID}-".encode()) and sent != CALLER
    server, attempt = sorted(spans.get_finished_spans(), key=lambda s: s.kind.value)
    assert (server.kind, attempt.kind) == (SpanKind.SERVER, SpanKind.CLIENT)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and server.parent.span_id == 0x00F067AA0BA902B7
    assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id
    assert sent.decode().split("-")[2] == format(attempt.context.span_id, "016x")
    assert server.resource.attributes["service.name"] == "lb"
    assert server.resource.attributes["service.instance.id"] == "t"
    assert server.resource.attributes["service.version"] == "1"
    assert log_line(edge)["trace_id"] == TRACE_ID


def test_a_failed_call_upstream_is_a_failed_span(monkeypatch: pytest.MonkeyPatch) -> None:
    edge = lb(Recording(fail=ConnectFailed("refused")), monkeypatch, on=True)
    assert edge.tracer is not None
    spans = recorded(edge.tracer.provider)
    status, _, _ = call_edge(edge, "GET", "/products/1")
    assert status == 503
    by_kind = {s.kind: s for s in spans.get_finished_spans()}
    assert by_kind[SpanKind.CLIENT].status.status_code is StatusCode.ERROR
    assert by_kind[SpanKind.SERVER].status.status_code is StatusCode.ERROR
    assert "monolith unavailable" in (by_kind[SpanKind.SERVER].status.description or "")
    assert len(str(log_line(edge)["trace_id"])) == 32  # a new trace, no caller's


def test_with_tracing_off_the_edge_passes_the_callers_traceparent_on_untouched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = Recording()
    edge = lb(client, monkeypatch, on=False)
    assert edge.tracer is None
    call_edge(edge, "GET", "/products/1", headers=[(b"traceparent", CALLER)])
    assert client.sent[0][b"traceparent"] == CALLER
    assert log_line(edge)["trace_id"] == ""


def test_the_edges_own_paths_make_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    edge = lb(Recording(), monkeypatch, on=True)
    assert edge.tracer is not None
    spans = recorded(edge.tracer.provider)
    assert call_edge(edge, "GET", "/health")[0] == 200
    assert spans.get_finished_spans() == ()


def catalog(tmp_path: Path) -> object:
    settings = UnitSettings(
        UNIT="catalog", INSTANCE="c1", DATABASE_URL=f"sqlite:///{tmp_path}/c.db", SEED_PRODUCTS=3
    )
    return create_catalog(settings)


def get_products(app: object, headers: dict[str, str]) -> httpx.Response:
    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with (
            app.router.lifespan_context(app),  # type: ignore[attr-defined]
            httpx.AsyncClient(transport=transport, base_url="http://unit") as client,
        ):
            return await client.get("/products/1", headers=headers)

    return asyncio.run(scenario())


def unit_log(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    return dict(lines[-1])


def test_a_unit_honours_an_incoming_traceparent_and_logs_its_trace_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSHOP_TRACING", "1")
    monkeypatch.setenv("TWINSHOP_TRACE_SAMPLE", "0")  # the caller's sampled flag decides
    app = catalog(tmp_path)
    spans = recorded(app.state.tracer_provider)  # type: ignore[attr-defined]
    capsys.readouterr()
    response = get_products(app, {"traceparent": CALLER.decode()})
    assert response.status_code == 200
    assert unit_log(capsys)["trace_id"] == TRACE_ID
    found = spans.get_finished_spans()
    server = [s for s in found if s.kind is SpanKind.SERVER]
    assert len(server) == 1 and format(server[0].context.trace_id, "032x") == TRACE_ID
    assert server[0].resource.attributes["service.name"] == "catalog"
    assert any(s.attributes and "db.system" in str(dict(s.attributes)) for s in found)


def test_sampled_at_zero_nothing_is_recorded_but_the_log_still_has_a_trace_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSHOP_TRACING", "1")
    monkeypatch.setenv("TWINSHOP_TRACE_SAMPLE", "0")
    app = catalog(tmp_path)
    spans = recorded(app.state.tracer_provider)  # type: ignore[attr-defined]
    capsys.readouterr()
    assert get_products(app, {}).status_code == 200
    trace_id = unit_log(capsys)["trace_id"]
    assert isinstance(trace_id, str) and len(trace_id) == 32 and trace_id != "0" * 32
    assert spans.get_finished_spans() == ()


def test_tracing_off_means_no_provider_and_no_trace_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINSHOP_TRACING", "0")
    app = catalog(tmp_path)
    assert app.state.tracer_provider is None  # type: ignore[attr-defined]
    capsys.readouterr()
    assert get_products(app, {"traceparent": CALLER.decode()}).status_code == 200
    assert unit_log(capsys)["trace_id"] == ""


def test_a_quiet_shop_records_each_request_a_busy_one_the_ratio() -> None:
    sampler = otel.RequestsOnly(0.0, every=60.0)
    first = sampler.should_sample(None, 1, "GET /products/1", SpanKind.SERVER)
    second = sampler.should_sample(None, 2, "GET /products/1", SpanKind.SERVER)
    assert (first.decision, second.decision) == (Decision.RECORD_AND_SAMPLE, Decision.DROP)
    background = otel.RequestsOnly(1.0).should_sample(None, 3, "SELECT", SpanKind.CLIENT)
    assert background.decision is Decision.DROP  # no trace starts at a call out
    everything = otel.RequestsOnly(1.0, every=0.0)
    assert everything.should_sample(None, 4, "x", SpanKind.SERVER).decision.is_sampled()


def test_the_port_is_a_no_op_until_a_tracer_is_installed() -> None:
    with tracing.span("saga: reserve"):
        assert tracing.trace_id() == ""
    provider = otel.setup("orders", "o1", "2", otel.TracingSettings(TRACING=True))
    assert provider is not None
    spans = recorded(provider)
    with pytest.raises(ValueError), tracing.span("saga: reserve"):
        assert len(tracing.trace_id()) == 32
        raise ValueError("sold out")
    (span,) = spans.get_finished_spans()
    assert span.name == "saga: reserve" and span.status.status_code is StatusCode.ERROR


def test_traceparent_round_trip_and_rubbish_starts_a_new_trace() -> None:
    provider = TracerProvider()
    tracer = provider.get_tracer("t")
    span = tracer.start_span("x", context=parent_of(CALLER))
    assert traceparent_of(span).startswith(f"00-{TRACE_ID}-".encode())
    assert traceparent_of(span).endswith(b"-01")
    fresh = tracer.start_span("y", context=parent_of(b"00-nonsense"))
    assert format(fresh.get_span_context().trace_id, "032x") != TRACE_ID
    for started in (span, fresh):
        started.end()


def test_otlp_endpoint_gets_the_traces_path() -> None:
    assert otel.traces_url("http://dash:8090") == "http://dash:8090/v1/traces"
    assert otel.traces_url("http://dash:8090/v1/traces/") == "http://dash:8090/v1/traces"


def test_settings_read_the_standard_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://dashboard:8090")
    monkeypatch.setenv("TWINSHOP_TRACE_SAMPLE", "0.25")
    monkeypatch.setenv("TWINSHOP_TRACING", "off")
    settings = otel.TracingSettings()
    assert settings.OTLP_ENDPOINT == "http://dashboard:8090"
    assert (settings.TRACE_SAMPLE, settings.TRACING) == (0.25, False)
    assert otel.TracingSettings(TRACE_EVERY=0).TRACE_EVERY == 0
    monkeypatch.setenv("TWINSHOP_TRACE_SAMPLE", "2")
    with pytest.raises(ValueError):
        otel.TracingSettings()


class Failing(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        return SpanExportResult.FAILURE


def test_a_missing_collector_costs_one_warning_then_silence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = Failing()
    quiet = otel.QuietExporter(inner, "http://nowhere/v1/traces")
    with caplog.at_level(logging.WARNING, logger="twinshop.tracing"):
        for _ in range(5):
            assert quiet.export([]) is SpanExportResult.FAILURE
    assert inner.calls == 1  # the rest were dropped without trying
    assert [r.getMessage() for r in caplog.records].count(
        "traces cannot be sent to http://nowhere/v1/traces; dropping them for now"
    ) == 1
