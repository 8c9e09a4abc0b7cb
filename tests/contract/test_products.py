"""The catalog part of the public API, identical through the gateway and the lb."""

from __future__ import annotations

import pytest

from tests.support import Api


def test_list_products_is_paginated_and_sorted_by_id(api: Api) -> None:
    response = api.http.get("/products")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] >= 100
    ids = [p["id"] for p in body["items"]]
    assert len(ids) == 20 and ids == sorted(ids)
    page = api.http.get("/products", params={"limit": 5, "offset": 3}).json()
    assert [p["id"] for p in page["items"]] == ids[3:8]
    assert set(page["items"][0]) == {"id", "sku", "name", "price_cents", "stock"}


def test_the_seed_is_the_same_hundred_products_in_both(api: Api) -> None:
    first = api.http.get("/products", params={"limit": 3}).json()["items"]
    assert [(p["sku"], p["name"]) for p in first] == [
        ("SKU-0001", "Blue Mug"),
        ("SKU-0002", "Red Mug"),
        ("SKU-0003", "Green Mug"),
    ]


def test_search_is_a_case_insensitive_substring_of_the_name(api: Api) -> None:
    body = api.http.get("/products", params={"q": "mUG", "limit": 100}).json()
    assert body["total"] >= 10
    assert all("mug" in p["name"].lower() for p in body["items"])
    nothing = api.http.get("/products", params={"q": "%_no such thing"}).json()
    assert nothing == {"items": [], "total": 0}


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "ten"}, {"offset": 10**30}],
)
def test_pagination_out_of_bounds_is_422(api: Api, params: dict[str, object]) -> None:
    response = api.http.get("/products", params=params)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_get_product(api: Api) -> None:
    response = api.http.get("/products/7")
    assert response.status_code == 200
    assert response.json()["id"] == 7


@pytest.mark.parametrize("product_id", ["999999", str(10**30), "0", "-3"])
def test_unknown_product_is_404(api: Api, product_id: str) -> None:
    response = api.http.get(f"/products/{product_id}")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_malformed_product_id_is_422(api: Api) -> None:
    assert api.http.get("/products/abc").status_code == 422


def test_admin_creates_a_product(api: Api) -> None:
    product = api.new_product(stock=5, price_cents=1234)
    assert product["stock"] == 5 and product["price_cents"] == 1234
    assert api.http.get(f"/products/{product['id']}").json() == product


def test_duplicate_sku_is_409(api: Api) -> None:
    product = api.new_product()
    body = {"sku": product["sku"], "name": "again", "price_cents": 1, "stock": 1}
    response = api.http.post("/products", json=body, headers=api.admin)
    assert response.status_code == 409


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
def test_admin_routes_need_the_token(api: Api, headers: dict[str, str]) -> None:
    body = {"sku": "NOPE-1", "name": "x", "price_cents": 1, "stock": 1}
    assert api.http.post("/products", json=body, headers=headers).status_code == 401
    assert api.http.patch("/products/1", json={"stock": 1}, headers=headers).status_code == 401
    assert api.http.get("/products", params={"q": "NOPE-1"}).json()["total"] == 0


def test_401_wins_over_422_on_admin_routes(api: Api) -> None:
    bad = {"sku": "", "price_cents": -1, "surprise": True}
    assert api.http.post("/products", json=bad).status_code == 401
    assert api.http.post("/products", content=b"{not json").status_code == 401
    assert api.http.patch("/products/abc", json={"stock": -5}).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "R-1", "name": "x", "price_cents": -1, "stock": 1},
        {"sku": "R-2", "name": "x", "price_cents": 100_000_001, "stock": 1},
        {"sku": "R-3", "name": "x", "price_cents": 1, "stock": 1_000_000_001},
        {"sku": "R-4", "name": "x", "price_cents": 1, "stock": 1, "colour": "red"},
        {"sku": "R-5", "name": "", "price_cents": 1, "stock": 1},
        {"sku": "R-6", "name": "x", "price_cents": "1", "stock": 1},
    ],
)
def test_invalid_new_product_is_422(api: Api, body: dict[str, object]) -> None:
    assert api.http.post("/products", json=body, headers=api.admin).status_code == 422


def test_patch_changes_only_what_is_given(api: Api) -> None:
    product = api.new_product(stock=3, price_cents=100)
    url = f"/products/{product['id']}"
    response = api.http.patch(url, json={"price_cents": 150}, headers=api.admin)
    assert response.status_code == 200
    assert response.json() == {**product, "price_cents": 150}
    response = api.http.patch(url, json={"stock": 9}, headers=api.admin)
    assert response.json() == {**product, "price_cents": 150, "stock": 9}
    assert api.http.patch(url, json={"stock": -1}, headers=api.admin).status_code == 422
    assert api.http.patch(url, json={"name": "x"}, headers=api.admin).status_code == 422


def test_patch_unknown_product_is_404(api: Api) -> None:
    response = api.http.patch("/products/987654", json={"stock": 1}, headers=api.admin)
    assert response.status_code == 404
