"""The orders service's HTTP inventory adapter, against httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from services.orders.inventory import CatalogOverHttp
from shop.core import request_id
from shop.core.discovery import StaticDiscovery
from shop.orders.model import OrderLine
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts

LINES = [OrderLine(1, 2), OrderLine(3, 1)]


def adapter(handler: httpx.MockTransport, *urls: str) -> CatalogOverHttp:
    return CatalogOverHttp(
        StaticDiscovery(urls or ("http://catalog-a",)),
        connect_timeout=0.1,
        read_timeout=0.1,
        attempts=2,
        transport=handler,
    )


def test_reserve_sends_the_items_and_the_request_id_and_reads_prices() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        items = json.loads(request.content)["items"]
        priced = [{**item, "unit_price_cents": 10 * item["product_id"]} for item in items]
        return httpx.Response(200, json={"order_id": "o1", "status": "reserved", "items": priced})

    token = request_id.current.set("rid-123")
    try:
        priced = adapter(httpx.MockTransport(handler)).reserve("o1", LINES)
    finally:
        request_id.current.reset(token)
    assert priced == [OrderLine(1, 2, 10), OrderLine(3, 1, 30)]
    assert seen[0].method == "PUT" and seen[0].url.path == "/reservations/o1"
    assert seen[0].headers["x-request-id"] == "rid-123"


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (409, {"detail": "short", "product_id": 3}, InsufficientStock),
        (422, {"detail": "unknown", "product_ids": [9]}, UnknownProducts),
        (410, {"detail": "released"}, InventoryUnavailable),
        (500, {"detail": "boom"}, InventoryUnavailable),
    ],
)
def test_catalog_answers_map_to_domain_errors(
    status: int, body: dict[str, object], error: type[Exception]
) -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, json=body))
    with pytest.raises(error):
        adapter(transport).reserve("o1", LINES)


def test_a_transport_failure_is_retried_on_the_next_replica() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "catalog-a":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"order_id": "o1", "status": "released", "restored": True})

    adapter(httpx.MockTransport(handler), "http://catalog-a", "http://catalog-b").release("o1")
    assert hosts == ["catalog-a", "catalog-b"]


def test_timeouts_everywhere_become_inventory_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(InventoryUnavailable):
        adapter(httpx.MockTransport(handler)).release("o1")


def test_no_known_replica_is_inventory_unavailable() -> None:
    inventory = CatalogOverHttp(
        StaticDiscovery(()), connect_timeout=0.1, read_timeout=0.1, attempts=1
    )
    with pytest.raises(InventoryUnavailable):
        inventory.reserve("o1", LINES)
