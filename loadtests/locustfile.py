"""Shoppers for either architecture: point it at the gateway or the lb with --host.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8080   # microservices
    locust -f loadtests/locustfile.py --host http://127.0.0.1:8081   # monolith
    locust -f loadtests/locustfile.py,loadtests/shapes.py ...       # warm-up, then steady

Scenarios are tags: ``--tags browse`` (catalog reads), ``--tags checkout`` (orders with an
Idempotency-Key), neither for the mix (weights 6:3:1). ``twinshop load`` runs this file.
A 409 (out of stock) is a correct answer with no order; each 201 order id is recorded per
environment: ``acknowledged_orders(environment)`` returns them (and they are written to
``$TWINSHOP_ORDERS_FILE`` at the end).

What the lab uses from this file (``lab/load/shoppers.py`` describes the interface): the User
classes defined here, and ``acknowledged_orders(environment) -> list[str]``. This file imports
only locust: it also runs on its own and in its own image.
"""

from __future__ import annotations

import os
import random
import uuid
from typing import Any
from weakref import WeakKeyDictionary

from locust import FastHttpUser, between, events, tag, task
from locust.env import Environment

PRODUCTS = 100  # the seed: products 1..100
PAGE = 20


_orders: WeakKeyDictionary[Environment, list[str]] = WeakKeyDictionary()


def acknowledged_orders(environment: Environment) -> list[str]:
    """The ids of the orders the shop confirmed (201) during this run on ``environment``
    (the lab runs one environment per target in one process, so they are kept apart)."""
    return _orders.setdefault(environment, [])


class Shopper(FastHttpUser):
    wait_time = between(0.05, 0.2)

    @tag("browse")
    @task(6)
    def list_products(self) -> None:
        offset = random.randrange(0, PRODUCTS, PAGE)
        self.client.get(f"/products?limit={PAGE}&offset={offset}", name="/products")

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
            elif resp.status_code == 201:
                order: Any = resp.js
                if isinstance(order, dict) and order.get("id"):
                    acknowledged_orders(self.environment).append(str(order["id"]))
                else:
                    resp.failure("201 without an order id")


@events.test_stop.add_listener
def _write_orders(environment: Environment, **_: Any) -> None:
    if path := os.environ.get("TWINSHOP_ORDERS_FILE"):
        with open(path, "w") as out:
            out.writelines(f"{order_id}\n" for order_id in acknowledged_orders(environment))
