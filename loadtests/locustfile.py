"""Shoppers for either architecture: point it at the gateway or the lb with --host.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080   # microservices
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8081   # monolith

Tags: ``browse`` (catalog reads) and ``checkout`` (orders with an Idempotency-Key).
"""

from __future__ import annotations

import random
import uuid

from locust import FastHttpUser, between, tag, task

PRODUCTS = 100  # the seed


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @tag("browse")
    @task(6)
    def list_products(self) -> None:
        self.client.get(f"/products?limit=20&offset={random.randrange(0, PRODUCTS, 20)}",
                        name="/products")

    @tag("browse")
    @task(3)
    def view_product(self) -> None:
        self.client.get(f"/products/{random.randint(1, PRODUCTS)}", name="/products/[id]")

    @tag("checkout")
    @task(1)
    def checkout(self) -> None:
        body = {
            "customer": f"shopper-{random.randint(1, 50)}",
            "items": [{"product_id": random.randint(1, PRODUCTS), "quantity": 1}],
        }
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        with self.rest("POST", "/orders", json=body, headers=headers, name="/orders") as resp:
            if resp.status_code == 409:
                resp.success()  # out of stock is a correct answer, not a failure
