"""The dashboard's trace receiver (OTLP/HTTP in, spans kept) and the waterfall built from
them: rows in call order, hops, network vs in-process time, the latest trace per entry."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from lab.dashboard.app import create_app
from lab.dashboard.traces import BadExport, Span, TraceStore, decode
from lab.dashboard.waterfall import hops, latest, waterfall
from tests.e2e.fake_upstream import FakeServer

MS = 1_000_000  # nanoseconds


def sdk_spans() -> Any:
    """Two real SDK spans of the orders unit: a server span and a failed child."""
    exporter = InMemorySpanExporter()
    resource = Resource.create(
        {"service.name": "orders", "service.instance.id": "o1", "service.version": "3"}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    parent = tracer.start_span("POST /orders", kind=SpanKind.SERVER, attributes={"n": 1})
    child = tracer.start_span("saga: reserve", context=set_span_in_context(parent))
    child.set_status(Status(StatusCode.ERROR, "catalog unavailable"))
    child.end()
    parent.end()
    return exporter.get_finished_spans()


def test_decode_reads_an_otlp_protobuf_export() -> None:
    finished = sdk_spans()
    body = encode_spans(finished).SerializeToString()
    spans = {s.name: s for s in decode(body)}
    server, step = spans["POST /orders"], spans["saga: reserve"]
    assert (server.unit, server.instance, server.version) == ("orders", "o1", "3")
    assert server.kind == "server" and step.kind == "internal"
    assert step.parent_id == server.span_id and server.trace_id == step.trace_id
    assert len(server.trace_id) == 32 and server.parent_id == ""
    assert step.error and step.status_message == "catalog unavailable" and not server.error
    assert server.attributes == {"n": 1}
    assert server.end_ns >= step.end_ns >= step.start_ns >= server.start_ns


def test_decode_reads_otlp_json_too_and_refuses_rubbish() -> None:
    finished = sdk_spans()
    document = json_format.MessageToDict(encode_spans(finished))
    for scope in document["resourceSpans"][0]["scopeSpans"]:
        for span in scope["spans"]:  # OTLP/JSON: ids in hex, not protobuf's base64
            for name in ("traceId", "spanId", "parentSpanId"):
                if name in span:
                    span[name] = base64.b64decode(span[name]).hex()
    spans = decode(json.dumps(document).encode(), "application/json")
    assert {s.name for s in spans} == {"POST /orders", "saga: reserve"}
    assert {s.trace_id for s in spans} == {format(finished[0].context.trace_id, "032x")}
    with pytest.raises(BadExport):
        decode(b"\xff\xff not protobuf")


class NoRuntime:
    name = "process"

    def status(self) -> dict[str, Any]:
        return {"runtime": "process", "architectures": {}}


def test_the_receiver_keeps_what_it_is_sent_and_lists_it() -> None:
    body = encode_spans(sdk_spans()).SerializeToString()
    app = create_app(NoRuntime())

    async def scenario() -> tuple[httpx.Response, httpx.Response, Any, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
            sent = await client.post(
                "/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
            )
            bad = await client.post("/v1/traces", content=b"\x00\x01\x02 nope")
            listed = (await client.get("/api/traces")).json()
            trace_id = listed["traces"][0]["trace_id"]
            one = await client.get(f"/api/traces/{trace_id}")
            return sent, bad, listed, one

    sent, bad, listed, one = asyncio.run(scenario())
    assert sent.status_code == 200 and sent.headers["content-type"] == "application/x-protobuf"
    assert bad.status_code == 400
    assert [t["spans"] for t in listed["traces"]] == [2]
    assert listed["traces"][0]["error"] is True
    assert [row["name"] for row in one.json()["rows"]] == ["POST /orders", "saga: reserve"]


def span(
    span_id: str,
    parent: str,
    unit: str,
    kind: str,
    start: float,
    end: float,
    *,
    name: str = "",
    trace: str = "t1",
    error: bool = False,
    **attributes: Any,
) -> Span:
    return Span(
        trace_id=trace, span_id=span_id, parent_id=parent, name=name or f"{unit} {kind}",
        kind=kind, start_ns=int(start * MS), end_ns=int(end * MS), unit=unit, instance="i",
        version="1", error=error, attributes=attributes,
    )  # fmt: skip


def micro_checkout(trace: str = "t1", at: float = 0.0, *, failed: bool = False) -> list[Span]:
    """gateway → orders → catalog, with times in ms from ``at``."""
    checkout = {"http.request.method": "POST", "url.path": "/orders"}
    return [
        span("g", "", "gateway", "server", at + 0, at + 20, trace=trace, **checkout),
        span("gc", "g", "gateway", "client", at + 1, at + 19, trace=trace, error=failed),
        span("o", "gc", "orders", "server", at + 2, at + 18, trace=trace),
        span("r", "o", "orders", "internal", at + 4, at + 14, name="saga: reserve", trace=trace),
        span("oc", "r", "orders", "client", at + 5, at + 13, trace=trace),
        span("c", "oc", "catalog", "server", at + 7, at + 12, trace=trace),
        span(
            "sql",
            "c",
            "catalog",
            "client",
            at + 8,
            at + 9,
            name="SELECT /data/c.db",
            trace=trace,
            **{"db.system": "sqlite"},
        ),
    ]


def test_a_waterfall_orders_rows_and_measures_hops_and_network() -> None:
    shown = waterfall(micro_checkout())
    assert shown is not None
    assert [(r["span_id"], r["depth"]) for r in shown["rows"]] == [
        ("g", 0), ("gc", 1), ("o", 2), ("r", 3), ("oc", 4), ("c", 5), ("sql", 6),
    ]  # fmt: skip
    assert (shown["arch"], shown["group"], shown["hops"]) == ("micro", "checkout", 2)
    # gateway→orders: 1 ms there, 1 ms back; orders→catalog: 2 ms there, 1 ms back
    assert [(h["from"], h["to"], h["network_ms"]) for h in shown["calls"]] == [
        ("gateway", "orders", 2.0),
        ("orders", "catalog", 3.0),
    ]
    assert (shown["total_ms"], shown["network_ms"], shown["process_ms"]) == (20.0, 5.0, 15.0)
    catalog_row = next(r for r in shown["rows"] if r["span_id"] == "c")
    assert (catalog_row["start_ms"], catalog_row["duration_ms"]) == (7.0, 5.0)
    assert (catalog_row["gap_before_ms"], catalog_row["gap_after_ms"]) == (2.0, 1.0)
    assert next(r for r in shown["rows"] if r["span_id"] == "sql")["name"] == "SELECT"
    assert not shown["error"]


def test_a_call_that_got_no_answer_is_no_hop_but_fails_the_trace() -> None:
    spans = [s for s in micro_checkout(failed=True) if s.span_id in ("g", "gc")]
    shown = waterfall(spans)
    assert shown is not None
    assert (shown["hops"], shown["network_ms"], shown["error"]) == (0, 0.0, True)
    assert [r["error"] for r in shown["rows"]] == [False, True]
    assert hops([]) == [] and waterfall([]) is None


def test_latest_picks_the_newest_checkout_and_browse_of_each_entry() -> None:
    store = TraceStore(max_traces=10)
    store.add(micro_checkout("new", at=100.0))
    store.add(micro_checkout("old", at=0.0))  # arrives later, started earlier
    browse = {"http.request.method": "GET", "url.path": "/products/2"}
    store.add([span("l", "", "lb", "server", 5, 9, trace="mb", **browse),
               span("lc", "l", "lb", "client", 6, 8, trace="mb"),
               span("m", "lc", "monolith", "server", 6.5, 7.5, trace="mb")])  # fmt: skip
    store.add([span("x", "", "orders", "server", 0, 1, trace="background")])  # not via an edge
    shown = latest(store)
    assert shown["micro"]["checkout"] is not None
    assert shown["micro"]["checkout"]["trace_id"] == "new"
    assert shown["micro"]["browse"] is None and shown["mono"]["checkout"] is None
    assert shown["mono"]["browse"] is not None and shown["mono"]["browse"]["hops"] == 1


def test_the_store_keeps_the_last_traces_only() -> None:
    store = TraceStore(max_traces=2)
    for n in range(3):
        store.add(micro_checkout(f"t{n}"))
    assert len(store) == 2 and store.get("t0") == []
    store.add([span("late", "g", "orders", "internal", 1, 2, trace="t1")])  # t1 touched
    store.add(micro_checkout("t3"))
    assert [spans[0].trace_id for spans in store.newest_first()] == ["t3", "t1"]


def test_each_export_is_passed_on_to_the_forward_endpoint() -> None:
    """The compose ``jaeger`` profile: the units' one exporter feeds dashboard and Jaeger."""
    target = FakeServer(1).start()
    body = encode_spans(sdk_spans()).SerializeToString()
    app = create_app(NoRuntime(), forward_to=target.url)

    async def scenario() -> int:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://dash") as client,
        ):
            sent = await client.post(
                "/v1/traces", content=body, headers={"content-type": "application/x-protobuf"}
            )
            for _ in range(100):  # passed on in the background
                if target.app.hits:
                    break
                await asyncio.sleep(0.02)
            return sent.status_code

    try:
        assert asyncio.run(scenario()) == 200
    finally:
        target.stop()
    assert target.app.hits == 1
