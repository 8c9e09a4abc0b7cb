"""The orders service's inventory: the catalog service, over HTTP.

Short timeouts, a retry on another replica (reserve and release are idempotent by order
id, so a retry is always safe), and every failure folded into ``InventoryUnavailable`` so
that checkout can compensate. Compare with ``monolith/inventory.py``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from shop.kernel import request_id
from shop.kernel.discovery import Discovery
from shop.orders.model import OrderLine
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts


class _TryAgain(Exception):
    """A failure worth one more attempt on another replica."""


class CatalogOverHttp:
    joins_transaction = False

    def __init__(
        self,
        discovery: Discovery,
        *,
        connect_timeout: float,
        read_timeout: float,
        attempts: int,
        refresh_seconds: float = 1.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.discovery = discovery
        self.attempts = max(1, attempts)
        self.refresh_seconds = refresh_seconds
        self.client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=40),
            transport=transport,
        )
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._replicas: list[str] = []
        self._looked_at = 0.0

    def reserve(self, order_id: str, lines: Sequence[OrderLine]) -> list[OrderLine]:
        items = [{"product_id": line.product_id, "quantity": line.quantity} for line in lines]
        response = self._call("PUT", f"/reservations/{order_id}", {"items": items})
        body = response.json()
        if response.status_code == 200:
            return [
                OrderLine(item["product_id"], item["quantity"], item["unit_price_cents"])
                for item in body["items"]
            ]
        if response.status_code == 422 and "product_ids" in body:
            raise UnknownProducts(body["product_ids"])
        if response.status_code == 409:
            raise InsufficientStock(body["product_id"])
        # 410: the reconciler already released this order; anything else is unexpected.
        raise InventoryUnavailable(f"catalog answered {response.status_code} to reserve")

    def release(self, order_id: str) -> None:
        response = self._call("DELETE", f"/reservations/{order_id}", None)
        if response.status_code != 200:
            raise InventoryUnavailable(f"catalog answered {response.status_code} to release")

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, payload: Any) -> httpx.Response:
        headers = {"X-Request-ID": request_id.current.get() or request_id.new()}
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.attempts),
                wait=wait_fixed(0.05),
                retry=retry_if_exception_type(_TryAgain),
                reraise=True,
            ):
                with attempt:
                    url = self._next_replica() + path
                    try:
                        response = self.client.request(method, url, json=payload, headers=headers)
                    except httpx.TransportError as exc:
                        raise _TryAgain(str(exc)) from exc
                    if response.status_code >= 500:
                        raise _TryAgain(f"catalog answered {response.status_code}")
                    return response
        except _TryAgain as exc:
            raise InventoryUnavailable(str(exc)) from exc
        raise AssertionError("unreachable")

    def _next_replica(self) -> str:
        now = time.monotonic()
        with self._lock:
            if now - self._looked_at > self.refresh_seconds or not self._replicas:
                self._replicas = self.discovery.replicas()
                self._looked_at = now
            replicas = self._replicas
        if not replicas:
            raise _TryAgain("no catalog replica is known")
        return replicas[next(self._turn) % len(replicas)]
