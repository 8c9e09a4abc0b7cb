"""Orders writes down what it expects of catalog's reservations (consumer-driven contract).

Each interaction is exercised by orders' real HTTP client (services/orders/inventory.py)
against a mock catalog that answers only what the pact says; the pact file is then compared
with the committed one, which catalog's own test run verifies against the real catalog
(tests/unit/test_catalog_verifies_pacts.py). After changing an expectation here:
``TWINSHOP_UPDATE_PACTS=1 pytest tests/unit/test_orders_pact.py`` and commit the file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lab.pact import Interaction, MockProvider, Pact
from services.orders.inventory import CatalogOverHttp
from shop.core.discovery import StaticDiscovery
from shop.orders.model import OrderLine
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts

PACT_FILE = Path(__file__).parents[2] / "services/orders/contracts/orders-catalog.json"
JSON = {"Content-Type": "application/json"}
TYPE = {"matchers": [{"match": "type"}]}
INTEGER = {"matchers": [{"match": "integer"}]}

RESERVE = Interaction(
    "a reservation of products in stock",
    states=[{"name": "a product in stock", "params": {"product_id": 1, "stock": 10}}],
    request={
        "method": "PUT",
        "path": "/reservations/pact-order-1",
        "body": {"items": [{"product_id": 1, "quantity": 2}]},
    },
    response={
        "status": 200,
        "headers": JSON,
        "body": {"items": [{"product_id": 1, "quantity": 2, "unit_price_cents": 1250}]},
        "matchingRules": {"body": {"$.items[*].unit_price_cents": INTEGER}},
    },
)
SHORT = Interaction(
    "a reservation of more than the stock",
    states=[{"name": "a product in stock", "params": {"product_id": 1, "stock": 1}}],
    request={
        "method": "PUT",
        "path": "/reservations/pact-order-2",
        "body": {"items": [{"product_id": 1, "quantity": 5}]},
    },
    response={"status": 409, "headers": JSON, "body": {"product_id": 1}},
)
UNKNOWN = Interaction(
    "a reservation of an unknown product",
    states=[{"name": "no such product", "params": {"product_id": 999999}}],
    request={
        "method": "PUT",
        "path": "/reservations/pact-order-3",
        "body": {"items": [{"product_id": 999999, "quantity": 1}]},
    },
    response={"status": 422, "headers": JSON, "body": {"product_ids": [999999]}},
)
RELEASE = Interaction(
    "a release of a reservation",
    states=[{"name": "a reservation", "params": {"order_id": "pact-order-4", "product_id": 1}}],
    request={"method": "DELETE", "path": "/reservations/pact-order-4"},
    response={"status": 200},
)
LATE = Interaction(
    "a reservation after its release (a late retry) is refused",
    states=[{"name": "a released order", "params": {"order_id": "pact-order-5"}}],
    request={
        "method": "PUT",
        "path": "/reservations/pact-order-5",
        "body": {"items": [{"product_id": 1, "quantity": 1}]},
    },
    # orders' client reads every answer to a reserve as JSON: an object, whatever it holds.
    response={"status": 410, "headers": JSON, "body": {}},
)
BUDGET = Interaction(
    "a reservation within the checkout's time budget",
    states=[{"name": "a product in stock", "params": {"product_id": 2, "stock": 10}}],
    request={
        "method": "PUT",
        "path": "/reservations/pact-order-6",
        "headers": {"X-Deadline-Ms": "2000"},  # how long orders will still wait
        "body": {"items": [{"product_id": 2, "quantity": 1}]},
        "matchingRules": {"header": {"X-Deadline-Ms": {"matchers": [
            {"match": "regex", "regex": "[0-9]+"}
        ]}}},
    },
    response={
        "status": 200,
        "headers": JSON,
        "body": {"items": [{"product_id": 2, "quantity": 1, "unit_price_cents": 990}]},
        "matchingRules": {"body": {"$.items[*].unit_price_cents": INTEGER}},
    },
)  # fmt: skip
PACT = Pact("orders", "catalog", [RESERVE, SHORT, UNKNOWN, RELEASE, LATE, BUDGET])


@pytest.fixture
def catalog() -> MockProvider:
    return MockProvider(PACT.interactions)


def client(mock: MockProvider) -> CatalogOverHttp:
    return CatalogOverHttp(
        StaticDiscovery(("http://catalog",)),
        connect_timeout=0.1,
        read_timeout=0.1,
        attempts=1,
        transport=mock.transport,
    )


def test_orders_client_reads_every_answer_it_expects_of_catalog(catalog: MockProvider) -> None:
    inventory = client(catalog)
    assert inventory.reserve("pact-order-1", [OrderLine(1, 2)]) == [OrderLine(1, 2, 1250)]
    with pytest.raises(InsufficientStock):
        inventory.reserve("pact-order-2", [OrderLine(1, 5)])
    with pytest.raises(UnknownProducts):
        inventory.reserve("pact-order-3", [OrderLine(999999, 1)])
    inventory.release("pact-order-4")
    with pytest.raises(InventoryUnavailable):
        inventory.reserve("pact-order-5", [OrderLine(1, 1)])
    budget = time.monotonic() + 2.0
    assert inventory.reserve("pact-order-6", [OrderLine(2, 1)], deadline=budget) == [
        OrderLine(2, 1, 990)
    ]
    assert catalog.unexpected == []
    assert catalog.missed() == [], "the pact holds interactions the client never made"


def test_the_committed_pact_is_the_one_orders_expects() -> None:
    text = PACT.text()
    if os.environ.get("TWINSHOP_UPDATE_PACTS") == "1":
        PACT_FILE.parent.mkdir(parents=True, exist_ok=True)
        PACT_FILE.write_text(text)
    assert PACT_FILE.exists() and PACT_FILE.read_text() == text, (
        f"{PACT_FILE} is not what orders expects of catalog: regenerate it with "
        "TWINSHOP_UPDATE_PACTS=1 pytest tests/unit/test_orders_pact.py, and commit it"
    )
