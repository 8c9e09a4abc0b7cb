"""Idempotency-Key on checkout (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import Api


def _key() -> str:
    return f"key-{uuid.uuid4()}"


def test_same_key_and_body_replays_the_stored_order(api: Api) -> None:
    product = api.new_product(stock=10)
    key = _key()
    first = api.checkout([(product["id"], 2)], headers={"Idempotency-Key": key})
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    second = api.checkout([(product["id"], 2)], headers={"Idempotency-Key": key})
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    assert api.stock(product["id"]) == 8


def test_same_json_in_another_spelling_is_the_same_body(api: Api) -> None:
    product = api.new_product(stock=10)
    key = _key()
    body = {"customer": "ada", "items": [{"product_id": product["id"], "quantity": 1}]}
    first = api.http.post("/orders", json=body, headers={"Idempotency-Key": key})
    respelled = json.dumps(
        {"items": [{"quantity": 1, "product_id": product["id"]}], "customer": "ada"}, indent=3
    )
    second = api.http.post(
        "/orders",
        content=respelled,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert second.status_code == 201
    assert second.json()["id"] == first.json()["id"]
    assert api.stock(product["id"]) == 9


def test_same_key_with_another_body_is_422(api: Api) -> None:
    product = api.new_product(stock=10)
    key = _key()
    assert api.checkout([(product["id"], 1)], headers={"Idempotency-Key": key}).status_code == 201
    other = api.checkout([(product["id"], 2)], headers={"Idempotency-Key": key})
    assert other.status_code == 422
    assert api.stock(product["id"]) == 9


def test_a_stored_409_is_replayed_too(api: Api) -> None:
    product = api.new_product(stock=1)
    key = _key()
    first = api.checkout([(product["id"], 5)], headers={"Idempotency-Key": key})
    assert first.status_code == 409
    api.http.patch(f"/products/{product['id']}", json={"stock": 50}, headers=api.admin)
    again = api.checkout([(product["id"], 5)], headers={"Idempotency-Key": key})
    assert again.status_code == 409
    assert again.headers["idempotent-replayed"] == "true"
    assert api.stock(product["id"]) == 50


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_malformed_key_is_400(api: Api, key: str) -> None:
    product = api.new_product(stock=10)
    response = api.checkout([(product["id"], 1)], headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert api.stock(product["id"]) == 10


def test_longest_key_is_accepted(api: Api) -> None:
    product = api.new_product(stock=10)
    key = _key().ljust(255, "k")
    response = api.checkout([(product["id"], 1)], headers={"Idempotency-Key": key})
    assert response.status_code == 201


def test_concurrent_duplicates_create_one_order(api: Api) -> None:
    product = api.new_product(stock=100)
    key = _key()
    body = {"customer": "ada", "items": [{"product_id": product["id"], "quantity": 1}]}

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=10) as client:
            return client.post("/orders", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(send, range(10)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {201, 409}, codes
    ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    assert api.stock(product["id"]) == 99
    assert api.checkout([(product["id"], 1)], headers={"Idempotency-Key": key}).json()["id"] in ids
