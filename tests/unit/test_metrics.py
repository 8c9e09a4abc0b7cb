"""Request metrics and request log lines, in process: a unit app and the edge."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.catalog.app import create_app as create_catalog
from services.gateway.app import Edge
from services.gateway.config import EdgeSettings
from shop.core.logs import RequestLog, enabled_from_env
from shop.core.metrics import MetricsMiddleware, RequestMetrics
from shop.kernel.config import UnitSettings
from tests.e2e.fake_upstream import FakeServer


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``name``'s samples, keyed by their sorted labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_a_unit_counts_requests_by_route_template_and_logs_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = UnitSettings(
        UNIT="catalog",
        INSTANCE="c1",
        DATABASE_URL=f"sqlite:///{tmp_path}/c.db",
        SEED_PRODUCTS=3,
    )
    app = create_catalog(settings)

    async def scenario() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://unit") as client,
        ):
            for product in (1, 2, 3):
                response = await client.get(f"/products/{product}", headers={"X-Request-ID": "r1"})
                assert response.status_code == 200
            assert (await client.get("/no/such/path")).status_code == 404
            assert (await client.get("/metrics")).status_code == 200  # not counted
            return await client.get("/metrics")

    capsys.readouterr()
    response = asyncio.run(scenario())
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    counts = samples(response.text, "twinshop_requests_total")
    product = "/products/{product_id}"
    assert counts[key(unit="catalog", route=product, method="GET", status="200")] == 3
    assert counts[key(unit="catalog", route="other", method="GET", status="404")] == 1
    assert not [labels for labels in counts if ("route", "/metrics") in labels]
    durations = samples(response.text, "twinshop_request_seconds_count")
    assert durations[key(unit="catalog", route=product, method="GET")] == 3
    buckets = samples(response.text, "twinshop_request_seconds_bucket")
    bounds = {dict(labels)["le"] for labels in buckets}
    assert {"0.001", "5.0", "+Inf"} <= bounds

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["route"] for line in lines] == [product, product, product, "other"]
    first = lines[0]
    assert set(first) == {
        "ts", "level", "unit", "instance", "request_id", "trace_id", "method", "route", "status",
        "ms"
    }  # fmt: skip
    assert len(first["trace_id"]) == 32  # tracing is on by default: the line joins its trace
    assert first["level"] == "info"
    assert (first["unit"], first["instance"], first["request_id"]) == ("catalog", "c1", "r1")
    assert (first["method"], first["status"]) == ("GET", 200)
    assert isinstance(first["ms"], float) and first["ms"] >= 0


def test_the_middleware_counts_errors_odd_methods_and_can_stay_quiet() -> None:
    inner = FastAPI()

    @inner.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        if item_id == 0:
            raise RuntimeError("boom")
        return {"id": item_id}

    metrics = RequestMetrics("test")
    out = io.StringIO()
    log = RequestLog("test", "i1", enabled=False, stream=out)
    app = MetricsMiddleware(inner, metrics=metrics, log=log)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/items/7")).status_code == 200
            assert (await client.get("/items/0")).status_code == 500
            assert (await client.request("BREW", "/items/7")).status_code == 405

    asyncio.run(scenario())
    counts = samples(metrics.render().decode(), "twinshop_requests_total")
    assert counts == {
        key(unit="test", route="/items/{item_id}", method="GET", status="200"): 1,
        key(unit="test", route="/items/{item_id}", method="GET", status="500"): 1,
        key(unit="test", route="/items/{item_id}", method="other", status="405"): 1,
    }
    log.flush()
    assert out.getvalue() == ""  # disabled


def test_log_lines_are_json_even_with_odd_request_ids() -> None:
    out = io.StringIO()
    log = RequestLog("orders", 'in"st', stream=out)
    log.request('a"b\\c', "POST", "/orders", 201, 0.01234)
    log.request("x", "GET", "other", 404, 0.0)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["request_id"] == 'a"b\\c'
    assert lines[0]["instance"] == 'in"st'
    assert lines[0]["ms"] == 12.34
    assert lines[0]["ts"].endswith("Z") and "T" in lines[0]["ts"]
    assert lines[1]["status"] == 404


def test_request_logs_switch_off_with_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWINSHOP_LOG_REQUESTS", raising=False)
    assert enabled_from_env()
    assert UnitSettings().LOG_REQUESTS
    monkeypatch.setenv("TWINSHOP_LOG_REQUESTS", "0")
    assert not enabled_from_env()
    assert not UnitSettings().LOG_REQUESTS
    assert not EdgeSettings().LOG_REQUESTS


def test_two_apps_in_one_process_keep_their_own_counts() -> None:
    one, two = RequestMetrics("a"), RequestMetrics("a")
    one.observe("/x", "GET", 200, 0.01)
    assert samples(two.render().decode(), "twinshop_requests_total") == {}


def test_the_edge_counts_per_upstream_and_reports_its_upstreams(
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream = FakeServer(1).start()
    try:
        settings = EdgeSettings(
            UNIT="gateway",
            INSTANCE="g1",
            ROUTES={"/products": "catalog"},
            UPSTREAMS={"catalog": upstream.url},
        )
        edge = Edge(settings)

        async def scenario() -> httpx.Response:
            transport = httpx.ASGITransport(app=edge)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://e") as client:
                    for _ in range(3):
                        response = await client.get("/products/1", headers={"X-Request-ID": "e1"})
                        assert response.status_code == 200
                    assert (await client.get("/health")).status_code == 200
                    assert (await client.get("/elsewhere")).status_code == 404
                    return await client.get("/metrics")
            finally:
                await edge.shutdown()

        capsys.readouterr()
        response = asyncio.run(scenario())
    finally:
        upstream.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    counts = samples(text, "twinshop_requests_total")
    assert counts == {
        key(unit="gateway", route="catalog", method="GET", status="200"): 3,
        key(unit="gateway", route="own", method="GET", status="200"): 1,
        key(unit="gateway", route="other", method="GET", status="404"): 1,
    }
    assert samples(text, "twinshop_edge_replicas") == {key(upstream="catalog"): 1}
    assert samples(text, "twinshop_edge_healthy_replicas") == {key(upstream="catalog"): 1}
    assert samples(text, "twinshop_edge_breaker_open") == {key(upstream="catalog"): 0}
    pool = samples(text, "twinshop_edge_pool_connections")
    assert pool[key(upstream="catalog", state="busy")] == 0
    assert pool[key(upstream="catalog", state="idle")] >= 1

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    proxied = [line for line in lines if line["route"] == "catalog"]
    assert len(proxied) == 3
    assert {(line["unit"], line["instance"], line["request_id"]) for line in proxied} == {
        ("gateway", "g1", "e1")
    }
