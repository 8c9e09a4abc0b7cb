"""Checkout, orders and cancel: the same answers from the monolith and the microservices."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.support import Api


def test_checkout_takes_stock_and_snapshots_prices(api: Api) -> None:
    a = api.new_product(stock=10, price_cents=300)
    b = api.new_product(stock=5, price_cents=125)
    response = api.checkout([(a["id"], 2), (b["id"], 3)], customer="grace")
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "confirmed"
    assert order["customer"] == "grace"
    assert order["items"] == [
        {"product_id": a["id"], "quantity": 2, "unit_price_cents": 300},
        {"product_id": b["id"], "quantity": 3, "unit_price_cents": 125},
    ]
    assert order["total_cents"] == 2 * 300 + 3 * 125
    assert uuid.UUID(order["id"])
    assert datetime.fromisoformat(order["created_at"]).utcoffset() is not None
    assert (api.stock(a["id"]), api.stock(b["id"])) == (8, 2)
    # A later price change does not rewrite history.
    api.http.patch(f"/products/{a['id']}", json={"price_cents": 999}, headers=api.admin)
    assert api.http.get(f"/orders/{order['id']}").json() == order


def test_insufficient_stock_is_409_and_changes_nothing(api: Api) -> None:
    plenty = api.new_product(stock=10)
    short = api.new_product(stock=1)
    customer = f"short-{uuid.uuid4().hex[:8]}"
    response = api.checkout([(plenty["id"], 3), (short["id"], 2)], customer=customer)
    assert response.status_code == 409
    assert str(short["id"]) in response.json()["detail"]
    assert (api.stock(plenty["id"]), api.stock(short["id"])) == (10, 1)
    assert api.http.get("/orders", params={"customer": customer}).json()["total"] == 0


def test_unknown_product_is_422_and_wins_over_short_stock(api: Api) -> None:
    short = api.new_product(stock=1)
    customer = f"unknown-{uuid.uuid4().hex[:8]}"
    response = api.checkout([(short["id"], 5), (987_654_321, 1)], customer=customer)
    assert response.status_code == 422
    assert "987654321" in response.text
    assert api.stock(short["id"]) == 1
    assert api.http.get("/orders", params={"customer": customer}).json()["total"] == 0


def test_duplicate_product_in_items_is_422(api: Api) -> None:
    product = api.new_product(stock=10)
    response = api.checkout([(product["id"], 1), (product["id"], 2)])
    assert response.status_code == 422
    assert api.stock(product["id"]) == 10


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"product_id": 1, "quantity": 1}]},
        {"customer": "", "items": [{"product_id": 1, "quantity": 1}]},
        {"customer": "x" * 201, "items": [{"product_id": 1, "quantity": 1}]},
        {"customer": "ada", "items": []},
        {"customer": "ada", "items": [{"product_id": i, "quantity": 1} for i in range(1, 52)]},
        {"customer": "ada", "items": [{"product_id": 1, "quantity": 0}]},
        {"customer": "ada", "items": [{"product_id": 1, "quantity": 1001}]},
        {"customer": "ada", "items": [{"product_id": 1}]},
        {"customer": "ada", "items": [{"product_id": 1, "quantity": 1}], "coupon": "X"},
    ],
)
def test_malformed_order_is_422(api: Api, body: dict[str, object]) -> None:
    before = api.stock(1)
    response = api.http.post("/orders", json=body)
    assert response.status_code == 422
    assert api.stock(1) == before


def test_get_unknown_order_is_404(api: Api) -> None:
    assert api.http.get(f"/orders/{uuid.uuid4()}").status_code == 404
    assert api.http.get("/orders/not-even-a-uuid").status_code == 404


def test_list_orders_newest_first_filtered_by_customer(api: Api) -> None:
    product = api.new_product(stock=10)
    customer = f"list-{uuid.uuid4().hex[:8]}"
    ids = [api.checkout([(product["id"], 1)], customer=customer).json()["id"] for _ in range(3)]
    body = api.http.get("/orders", params={"customer": customer}).json()
    assert body["total"] == 3
    assert [o["id"] for o in body["items"]] == ids[::-1]
    page = api.http.get("/orders", params={"customer": customer, "limit": 1, "offset": 1}).json()
    assert [o["id"] for o in page["items"]] == [ids[1]]
    assert api.http.get("/orders", params={"customer": customer.upper()}).json()["total"] == 0
    assert api.http.get("/orders", params={"limit": 101}).status_code == 422


def test_cancel_restores_stock_exactly_once(api: Api) -> None:
    product = api.new_product(stock=10)
    order = api.checkout([(product["id"], 4)]).json()
    assert api.stock(product["id"]) == 6
    first = api.http.post(f"/orders/{order['id']}/cancel")
    assert first.status_code == 200
    assert first.json() == {**order, "status": "cancelled"}
    assert api.stock(product["id"]) == 10
    again = api.http.post(f"/orders/{order['id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert api.stock(product["id"]) == 10
    assert api.http.get(f"/orders/{order['id']}").json()["status"] == "cancelled"


def test_cancel_unknown_order_is_404(api: Api) -> None:
    assert api.http.post(f"/orders/{uuid.uuid4()}/cancel").status_code == 404
