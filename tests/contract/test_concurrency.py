"""Fifty shoppers, ten items: exactly ten orders, in both architectures."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support import Api


def test_fifty_concurrent_checkouts_of_ten_in_stock(api: Api) -> None:
    product = api.new_product(stock=10)
    body = {"customer": "rush", "items": [{"product_id": product["id"], "quantity": 1}]}
    limits = httpx.Limits(max_connections=50)

    def buyer(client: httpx.Client) -> httpx.Response:
        # A careful client: one Idempotency-Key per purchase, and a 503 (the checkout's time
        # budget ran out while 50 checkouts queued for one product's row) is tried again.
        key = {"Idempotency-Key": f"rush-{uuid.uuid4()}"}
        deadline = time.monotonic() + 60
        while True:
            response = client.post("/orders", json=body, headers=key)
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)

    with (
        httpx.Client(base_url=api.base_url, timeout=30, limits=limits) as client,
        ThreadPoolExecutor(max_workers=50) as pool,
    ):
        responses = list(pool.map(lambda _: buyer(client), range(50)))
    codes = [r.status_code for r in responses]
    assert codes.count(201) == 10, codes
    assert codes.count(409) == 40, codes
    assert api.stock(product["id"]) == 0
    for response in responses:
        if response.status_code == 201:
            order_id = response.json()["id"]
            assert api.http.get(f"/orders/{order_id}").json()["status"] == "confirmed"
