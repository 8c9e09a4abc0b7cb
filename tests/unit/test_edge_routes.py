"""Route matching: longest prefix, whole segments, "/" catches everything."""

from __future__ import annotations

import pytest

from services.gateway.routes import RouteTable

GATEWAY = RouteTable({"/products": "catalog", "/orders": "orders"})


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/products", "catalog"),
        ("/products/", "catalog"),
        ("/products/42", "catalog"),
        ("/products/42/stock", "catalog"),
        ("/orders", "orders"),
        ("/orders/abc", "orders"),
        ("/productsX", None),
        ("/orders-old", None),
        ("/product", None),
        ("/", None),
        ("/health", None),
        ("", None),
    ],
)
def test_gateway_table(path: str, upstream: str | None) -> None:
    assert GATEWAY.match(path) == upstream


def test_longest_prefix_wins() -> None:
    table = RouteTable({"/": "monolith", "/orders": "orders", "/orders/admin": "admin"})
    assert table.match("/orders/admin/x") == "admin"
    assert table.match("/orders/admin") == "admin"
    assert table.match("/orders/administrator") == "orders"
    assert table.match("/orders") == "orders"
    assert table.match("/ordersX") == "monolith"
    assert table.match("/anything/else") == "monolith"


def test_slash_is_a_catch_all() -> None:
    table = RouteTable({"/": "monolith"})
    for path in ("/", "/products", "/orders/1", "/_chaos", "/x/y/z"):
        assert table.match(path) == "monolith"


def test_trailing_slashes_in_prefixes_are_ignored() -> None:
    table = RouteTable({"/products/": "catalog"})
    assert table.match("/products") == "catalog"
    assert table.match("/productsX") is None
    assert table.upstreams() == ["catalog"]


def test_upstreams_are_listed_once_sorted() -> None:
    table = RouteTable({"/b": "orders", "/a": "catalog", "/c": "orders"})
    assert table.upstreams() == ["catalog", "orders"]
