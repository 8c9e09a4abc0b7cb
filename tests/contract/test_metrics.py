"""/metrics on the edges and on the real units, and one request id in every unit's log."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import Api, Stack

EDGE = {"micro": "gateway", "mono": "lb"}
PRODUCTS_UNIT = {"micro": "catalog", "mono": "monolith"}
PRODUCT_ROUTE = "/products/{product_id}"


def scrape(url: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of ``url``/metrics (which must parse as Prometheus text)."""
    response = httpx.get(f"{url}/metrics", timeout=10.0)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def total(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(
        value
        for sample, have, value in samples
        if sample == name and all(have.get(k) == v for k, v in labels.items())
    )


def unit_urls(stack: Stack, unit: str) -> list[str]:
    assert stack.runtime is not None
    return [record["url"] for record in stack.runtime.instances(unit)]


def product_gets(stack: Stack, arch: str) -> float:
    """GET /products/{id} answered 200, summed over the instances of the unit behind."""
    return sum(
        total(
            scrape(url),
            "twinshop_requests_total",
            route=PRODUCT_ROUTE,
            method="GET",
            status="200",
        )
        for url in unit_urls(stack, PRODUCTS_UNIT[arch])
    )


def test_metrics_count_requests_at_the_edge_and_in_the_unit(api: Api, stack: Stack) -> None:
    product = api.new_product()
    upstream = PRODUCTS_UNIT[api.arch]
    before = scrape(api.base_url)
    edge_before = total(before, "twinshop_requests_total", unit=EDGE[api.arch], route=upstream)
    sent_before = total(before, "twinshop_edge_replica_requests_total", upstream=upstream)
    unit_before = product_gets(stack, api.arch) if stack.runtime is not None else 0.0

    for _ in range(3):
        assert api.http.get(f"/products/{product['id']}").status_code == 200

    edge = scrape(api.base_url)
    assert (
        total(edge, "twinshop_requests_total", unit=EDGE[api.arch], route=upstream)
        >= edge_before + 3
    )
    assert total(edge, "twinshop_edge_replicas", upstream=upstream) >= 1
    assert total(edge, "twinshop_edge_healthy_replicas", upstream=upstream) >= 1
    assert total(edge, "twinshop_edge_breaker_open", upstream=upstream) == 0
    # what the edge sent each replica (the dashboard's req/s per replica)
    assert total(edge, "twinshop_edge_replica_requests_total", upstream=upstream) >= sent_before + 3
    assert not [labels for name, labels, _ in edge if labels.get("route") == "/metrics"]
    if stack.runtime is None:
        return  # a stack we did not start: its units' ports are not ours to know
    assert product_gets(stack, api.arch) >= unit_before + 3


def test_metrics_is_not_forwarded_by_the_edge(api: Api) -> None:
    """The edge answers /metrics itself: no unit's X-Served-By, the edge's own series."""
    response = api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["x-served-by"].startswith(EDGE[api.arch] + "/")
    assert "twinshop_edge_replicas" in response.text


def test_one_checkout_logs_one_request_id_in_every_unit(stack: Stack) -> None:
    if stack.runtime is None:
        pytest.skip("the logs of a stack we did not start are not ours to read")
    api = Api("micro", stack.entries["micro"], stack.admin_token)
    try:
        product = api.new_product(stock=5)
        rid = f"logs-{uuid.uuid4().hex}"
        response = api.checkout([(product["id"], 1)], headers={"X-Request-ID": rid})
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == rid
    finally:
        api.close()
    logs = {
        unit: [Path(record["log"]) for record in stack.runtime.instances(unit)]
        for unit in ("gateway", "orders", "catalog")
    }
    deadline = time.monotonic() + 5.0
    while True:
        found = {unit: _lines_with(paths, rid) for unit, paths in logs.items()}
        if all(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert all(found.values()), found
    for unit, lines in found.items():
        assert {line["unit"] for line in lines} == {unit}
        assert all(line["level"] == "info" and line["instance"] for line in lines)
    assert [(line["method"], line["route"]) for line in found["gateway"]] == [("POST", "orders")]
    assert [(line["method"], line["route"], line["status"]) for line in found["orders"]] == [
        ("POST", "/orders", 201)
    ]
    assert found["catalog"]  # the reservation (and the prices) asked of catalog


def _lines_with(paths: list[Path], rid: str) -> list[dict[str, object]]:
    found = []
    for path in paths:
        for text in path.read_text(errors="replace").splitlines():
            if rid in text and text.startswith("{"):
                line = json.loads(text)
                if line.get("request_id") == rid:
                    found.append(line)
    return found
