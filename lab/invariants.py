"""The three invariants of the design, checked through the public API of either architecture.

1. No acknowledged (201) order is lost.
2. Stock is conserved: for each product with no admin change in the period,
   stock before = stock now + Σ quantities of orders confirmed (not cancelled) in the period.
3. Stock is never negative.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

PAGE = 100


def _pages(client: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        response = client.get(path, params={"limit": PAGE, "offset": offset})
        response.raise_for_status()
        body = response.json()
        yield from body["items"]
        offset += PAGE
        if offset >= body["total"]:
            return


@dataclass(frozen=True)
class Snapshot:
    """Stock per product and the status of every visible order, at one moment."""

    stock: dict[int, int]
    orders: dict[str, dict[str, Any]]

    @classmethod
    def take(cls, client: httpx.Client) -> Snapshot:
        stock = {p["id"]: p["stock"] for p in _pages(client, "/products")}
        orders = {o["id"]: o for o in _pages(client, "/orders")}
        return cls(stock, orders)


def violations(
    before: Snapshot,
    after: Snapshot,
    *,
    acknowledged: Iterable[str] = (),
    changed_by_admin: Iterable[int] = (),
) -> list[str]:
    """Every broken invariant, as a sentence; an empty list means all hold."""
    problems = []
    lost = [order_id for order_id in acknowledged if order_id not in after.orders]
    if lost:
        problems.append(f"{len(lost)} acknowledged orders are lost, e.g. {lost[:3]}")
    taken: Counter[int] = Counter()
    for order_id, order in after.orders.items():
        if order_id in before.orders or order["status"] != "confirmed":
            continue
        for item in order["items"]:
            taken[item["product_id"]] += item["quantity"]
    # Orders confirmed before the period and cancelled during it gave stock back.
    for order_id, order in after.orders.items():
        earlier = before.orders.get(order_id)
        if earlier and earlier["status"] == "confirmed" and order["status"] == "cancelled":
            for item in order["items"]:
                taken[item["product_id"]] -= item["quantity"]
    skip = set(changed_by_admin)
    for product_id, stock_before in before.stock.items():
        if product_id in skip or product_id not in after.stock:
            continue
        expected = stock_before - taken[product_id]
        if after.stock[product_id] != expected:
            problems.append(
                f"product {product_id}: stock {after.stock[product_id]}, expected {expected} "
                f"({stock_before} before, {taken[product_id]} taken by confirmed orders)"
            )
    negative = [pid for pid, stock in after.stock.items() if stock < 0]
    if negative:
        problems.append(f"negative stock for products {negative}")
    return problems
