"""Hostile input gets a 4xx and changes nothing, through both entries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import Api


@pytest.fixture
def unchanged(api: Api) -> Iterator[None]:
    """The probe product's stock and the number of orders are the same afterwards."""
    before = (api.stock(1), api.http.get("/orders").json()["total"])
    yield
    assert (api.stock(1), api.http.get("/orders").json()["total"]) == before


JSON = {"Content-Type": "application/json"}
BODIES = {
    "not json": b"customer=ada&items=1",
    "truncated json": b'{"customer": "ada", "items": [',
    "json array": b"[1, 2, 3]",
    "json string": b'"hello"',
    "huge quantity": b'{"customer":"ada","items":[{"product_id":1,"quantity":' + b"9" * 60 + b"}]}",
    "huge product id": b'{"customer":"ada","items":[{"product_id":1'
    + b"0" * 40
    + b',"quantity":1}]}',
    "thousands of digits": b'{"customer":"ada","items":[{"product_id":'
    + b"7" * 5000
    + b',"quantity":1}]}',
    "float quantity": b'{"customer":"ada","items":[{"product_id":1,"quantity":1e400}]}',
    "deep nesting": b'{"customer":"ada","items":' + b"[" * 20000 + b"]" * 20000 + b"}",
    "nul in name": b'{"customer":"a\\u0000da","items":[{"product_id":1,"quantity":1}]}',
    "lone surrogate": b'{"customer":"\\ud800","items":[{"product_id":1,"quantity":1}]}',
    "invalid utf-8": b'{"customer":"\xff\xfe","items":[{"product_id":1,"quantity":1}]}',
}


@pytest.mark.parametrize("name", list(BODIES))
def test_hostile_checkout_bodies_get_4xx(api: Api, unchanged: None, name: str) -> None:
    response = api.http.post("/orders", content=BODIES[name], headers=JSON)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    assert "detail" in response.json()


def test_oversized_body_is_413(api: Api, unchanged: None) -> None:
    body = b'{"customer":"' + b"a" * 2_000_000 + b'","items":[]}'
    response = api.http.post("/orders", content=body, headers=JSON)
    assert response.status_code == 413


def test_odd_but_valid_unicode_is_stored_as_is(api: Api) -> None:
    product = api.new_product(stock=5)
    name = "Zoë 🛒 שלום \u200b 東京"
    response = api.checkout([(product["id"], 1)], customer=name)
    assert response.status_code == 201
    assert api.http.get(f"/orders/{response.json()['id']}").json()["customer"] == name


@pytest.mark.parametrize(
    "path",
    ["/products?q=%00", "/products?q=%FF%FE", "/products?limit=1e3", "/orders?customer=%00"],
)
def test_hostile_query_strings_get_4xx_or_an_empty_answer(api: Api, path: str) -> None:
    response = api.http.get(path)
    assert response.status_code < 500, response.text


def test_hostile_admin_bodies_get_4xx(api: Api) -> None:
    for body in BODIES.values():
        response = api.http.post("/products", content=body, headers={**JSON, **api.admin})
        assert 400 <= response.status_code < 500, response.text[:200]
