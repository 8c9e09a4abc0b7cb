"""X-Served-By, X-Request-ID, /health and /ready through both entries."""

from __future__ import annotations

import pytest

from tests.support import Api

EXPECTED_UNIT = {
    ("micro", "/products/1"): "catalog",
    ("micro", "/orders"): "orders",
    ("mono", "/products/1"): "monolith",
    ("mono", "/orders"): "monolith",
}


@pytest.mark.parametrize("path", ["/products/1", "/orders"])
def test_x_served_by_names_the_unit_that_did_the_work(api: Api, path: str) -> None:
    served_by = api.http.get(path).headers["x-served-by"]
    unit, _, instance = served_by.partition("/")
    assert unit == EXPECTED_UNIT[(api.arch, path)]
    assert instance


def test_errors_carry_x_served_by_too(api: Api) -> None:
    response = api.http.get("/products/999999")
    assert response.status_code == 404
    assert response.headers["x-served-by"].startswith(EXPECTED_UNIT[(api.arch, "/products/1")])


def test_a_valid_request_id_is_kept(api: Api) -> None:
    rid = "workshop-42 ~ts=1700000000"
    assert api.http.get("/products/1", headers={"X-Request-ID": rid}).headers["x-request-id"] == rid
    longest = "r" * 200
    response = api.http.get("/products/1", headers={"X-Request-ID": longest})
    assert response.headers["x-request-id"] == longest


@pytest.mark.parametrize("bad", ["r" * 201, "tab\there", ""])
def test_an_invalid_request_id_is_replaced(api: Api, bad: str) -> None:
    response = api.http.get("/products/1", headers={"X-Request-ID": bad})
    rid = response.headers["x-request-id"]
    assert rid != bad and 1 <= len(rid) <= 200


def test_each_request_gets_its_own_id(api: Api) -> None:
    first = api.http.get("/products/1").headers["x-request-id"]
    second = api.http.get("/products/1").headers["x-request-id"]
    assert first != second


def test_edge_health_reports_its_upstreams(api: Api) -> None:
    response = api.http.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    expected = {"catalog", "orders"} if api.arch == "micro" else {"monolith"}
    assert set(body["upstreams"]) == expected
    for upstream in body["upstreams"].values():
        assert upstream["replicas"] >= 1
        assert upstream["healthy"] >= 1
        assert upstream["breaker"] == "closed"


def test_edge_is_ready(api: Api) -> None:
    assert api.http.get("/ready").status_code == 200


def test_docs_render(api: Api) -> None:
    response = api.http.get("/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.text


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_operator_routes_are_not_reachable_through_an_edge(api: Api, method: str) -> None:
    response = api.http.request(method, "/_chaos", json={}, headers=api.admin)
    assert response.status_code == 404
