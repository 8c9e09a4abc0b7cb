"""Both entries publish the same public API document."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import Stack

PUBLIC = {
    "/products": {"get", "post"},
    "/products/{product_id}": {"get", "patch"},
    "/orders": {"get", "post"},
    "/orders/{order_id}": {"get"},
    "/orders/{order_id}/cancel": {"post"},
    "/health": {"get"},
    "/ready": {"get"},
}


def _document(entry: str) -> dict[str, Any]:
    response = httpx.get(entry + "/openapi.json", timeout=10)
    assert response.status_code == 200
    return dict(response.json())


def test_both_entries_describe_the_same_public_api(stack: Stack) -> None:
    micro = _document(stack.entries["micro"])
    mono = _document(stack.entries["mono"])
    assert micro["paths"] == mono["paths"]
    assert micro["components"] == mono["components"]
    assert micro["info"] == mono["info"]


def test_the_document_lists_every_public_route_and_nothing_internal(stack: Stack) -> None:
    doc = _document(stack.entries["micro"])
    paths = {path: set(ops) for path, ops in doc["paths"].items()}
    assert paths == PUBLIC
    assert not any(p.startswith(("/reservations", "/_")) for p in doc["paths"])
    schemas = doc["components"]["schemas"]
    assert {"Product", "ProductPage", "OrderCreate", "OrderOut", "OrderPage"} <= set(schemas)


def test_admin_operations_declare_the_bearer_token(stack: Stack) -> None:
    doc = _document(stack.entries["mono"])
    assert doc["paths"]["/products"]["post"]["security"] == [{"adminToken": []}]
    assert doc["components"]["securitySchemes"]["adminToken"]["scheme"] == "bearer"
