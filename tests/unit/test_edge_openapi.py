"""Merging the upstreams' OpenAPI documents into the edge's public one."""

from __future__ import annotations

import copy
from typing import Any

from services.gateway.openapi import docs_html, merge_openapi
from services.gateway.routes import RouteTable

GATEWAY = RouteTable({"/products": "catalog", "/orders": "orders"})
LB = RouteTable({"/": "monolith"})


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def op(schema: str, **extra: Any) -> dict[str, Any]:
    return {
        "responses": {
            "200": {"description": "ok", "content": {"application/json": {"schema": ref(schema)}}},
            "422": {
                "description": "invalid",
                "content": {"application/json": {"schema": ref("HTTPValidationError")}},
            },
        },
        **extra,
    }


COMMON_SCHEMAS: dict[str, Any] = {
    "HTTPValidationError": {
        "type": "object",
        "properties": {"detail": {"type": "array", "items": ref("ValidationError")}},
    },
    "ValidationError": {"type": "object", "properties": {"msg": {"type": "string"}}},
    "Health": {"type": "object", "properties": {"status": {"type": "string"}}},
    "ChaosConfig": {"type": "object", "properties": {"latency": {"type": "number"}}},
}
CATALOG_PATHS: dict[str, Any] = {
    "/products": {"get": op("ProductPage")},
    "/products/{product_id}": {"get": op("Product")},
}
ORDERS_PATHS: dict[str, Any] = {
    "/orders": {"post": op("Order")},
    "/orders/{order_id}": {
        "get": op("Order"),
        "delete": op("Order", security=[{"adminToken": []}]),
    },
}
UNIT_PATHS: dict[str, Any] = {
    "/health": {"get": op("Health")},
    "/ready": {"get": op("Health")},
    "/_chaos": {"put": op("ChaosConfig")},
}
SECURITY = {"adminToken": {"type": "http", "scheme": "bearer"}}


def document(paths: dict[str, Any], schemas: dict[str, Any], version: str = "3.1.0") -> Any:
    return copy.deepcopy(
        {
            "openapi": version,
            "info": {"title": "twinshop", "version": "1"},
            "paths": {**paths, **UNIT_PATHS},
            "components": {
                "schemas": {**COMMON_SCHEMAS, **schemas},
                "securitySchemes": SECURITY,
            },
        }
    )


CATALOG = document(
    {**CATALOG_PATHS, "/reservations/{order_id}": {"put": op("Reservation")}},
    {
        "Product": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "ProductPage": {"type": "object", "properties": {"items": {"items": ref("Product")}}},
        "Reservation": {"type": "object"},
    },
)
ORDERS = document(
    ORDERS_PATHS,
    {
        "Order": {"type": "object", "properties": {"lines": {"items": ref("OrderLine")}}},
        "OrderLine": {"type": "object", "properties": {"qty": {"type": "integer"}}},
    },
)
MONOLITH = document(
    {**CATALOG_PATHS, **ORDERS_PATHS},
    {**CATALOG["components"]["schemas"], **ORDERS["components"]["schemas"]},
)


def test_keeps_only_the_paths_routed_to_each_upstream() -> None:
    merged = merge_openapi({"catalog": CATALOG, "orders": ORDERS}, GATEWAY)
    assert sorted(merged["paths"]) == [
        "/health",
        "/orders",
        "/orders/{order_id}",
        "/products",
        "/products/{product_id}",
        "/ready",
    ]
    # The same path served by the wrong upstream is not the public API.
    stray = merge_openapi({"catalog": ORDERS, "orders": CATALOG}, GATEWAY)
    assert sorted(stray["paths"]) == ["/health", "/ready"]


def test_drops_internal_paths_and_replaces_health_with_the_edges() -> None:
    merged = merge_openapi({"monolith": MONOLITH}, LB)
    assert "/_chaos" not in merged["paths"]
    assert merged["paths"]["/health"]["get"]["operationId"] == "edge_health"
    health = merged["paths"]["/health"]["get"]["responses"]["200"]
    assert health["content"]["application/json"]["schema"] == ref("EdgeHealth")
    assert "/ready" in merged["paths"]
    assert {"EdgeHealth", "EdgeUpstreamHealth", "EdgeReady", "EdgeError"} <= set(
        merged["components"]["schemas"]
    )


def test_merges_schemas_and_keeps_only_the_referenced_ones() -> None:
    merged = merge_openapi({"catalog": CATALOG, "orders": ORDERS}, GATEWAY)
    schemas = merged["components"]["schemas"]
    for name in ("Product", "ProductPage", "Order", "OrderLine", "HTTPValidationError"):
        assert name in schemas
    assert "ValidationError" in schemas  # reached through HTTPValidationError
    for name in ("Reservation", "ChaosConfig", "Health"):  # only unpublished paths use them
        assert name not in schemas
    assert merged["components"]["securitySchemes"] == SECURITY


def test_gateway_and_lb_publish_the_same_document() -> None:
    gateway = merge_openapi({"catalog": CATALOG, "orders": ORDERS}, GATEWAY)
    lb = merge_openapi({"monolith": MONOLITH}, LB)
    assert gateway == lb
    assert list(gateway["paths"]) == list(lb["paths"])


def test_info_is_the_edges_and_the_openapi_version_the_upstreams() -> None:
    merged = merge_openapi({"catalog": document({}, {}, version="3.0.3")}, GATEWAY)
    assert merged["info"] == {"title": "twinshop", "version": "1"}
    assert merged["openapi"] == "3.0.3"


def test_missing_documents_still_give_a_document() -> None:
    merged = merge_openapi({"catalog": CATALOG, "orders": None}, GATEWAY)
    assert "/products" in merged["paths"]
    assert "/orders" not in merged["paths"]
    empty = merge_openapi({"catalog": None, "orders": None}, GATEWAY)
    assert sorted(empty["paths"]) == ["/health", "/ready"]
    assert empty["openapi"].startswith("3.")


def test_merge_does_not_alias_the_inputs() -> None:
    docs = {"catalog": copy.deepcopy(CATALOG), "orders": copy.deepcopy(ORDERS)}
    before = copy.deepcopy(docs)
    merged = merge_openapi(docs, GATEWAY)
    merged["paths"]["/products"]["get"]["responses"].clear()
    merged["components"]["schemas"]["Product"]["type"] = "string"
    assert docs == before


def test_docs_page_points_at_the_merged_document() -> None:
    page = docs_html()
    assert "swagger-ui" in page
    assert '"/openapi.json"' in page
