"""The orders service's inventory: the catalog service, over HTTP.

Short timeouts, a retry on another replica (reserve and release are idempotent by order
id, so a retry is always safe), and every failure folded into ``InventoryUnavailable`` so
that checkout can compensate. With a deadline (the checkout's time budget) no attempt
outlives it: each attempt's timeout is cut to what is left, and catalog is told how long
we will wait (``X-Deadline-Ms``) so it does not reserve for a caller that gave up.
Compare with ``monolith/inventory.py``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Sequence
from typing import Any

import httpx

from shop.core import deadline as budget
from shop.core import request_id
from shop.core.discovery import Discovery
from shop.orders.model import OrderLine
from shop.orders.ports import InsufficientStock, InventoryUnavailable, UnknownProducts

PAUSE = 0.05  # between attempts
LAST_CHANCE = 0.02  # seconds: less left than this, and no attempt is worth making


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
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.client = httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=40),
            transport=transport,
        )
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._replicas: list[str] = []
        self._looked_at = 0.0

    def reserve(
        self, order_id: str, lines: Sequence[OrderLine], *, deadline: float | None = None
    ) -> list[OrderLine]:
        items = [{"product_id": line.product_id, "quantity": line.quantity} for line in lines]
        response = self._call("PUT", f"/reservations/{order_id}", {"items": items}, deadline)
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

    def release(self, order_id: str, *, deadline: float | None = None) -> None:
        response = self._call("DELETE", f"/reservations/{order_id}", None, deadline)
        if response.status_code != 200:
            raise InventoryUnavailable(f"catalog answered {response.status_code} to release")

    def close(self) -> None:
        self.client.close()

    def _call(self, method: str, path: str, payload: Any, deadline: float | None) -> httpx.Response:
        headers = {"X-Request-ID": request_id.current.get() or request_id.new()}
        why = "no attempt was made: the time budget was spent"
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(PAUSE)
            timeout: httpx.Timeout | None = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left < LAST_CHANCE:
                    break
                timeout = httpx.Timeout(
                    min(self.read_timeout, left), connect=min(self.connect_timeout, left)
                )
                headers[budget.HEADER] = budget.header_value(deadline)
            try:
                response = self._attempt(method, path, payload, headers, timeout)
            except _TryAgain as exc:
                why = str(exc)
                continue
            return response
        raise InventoryUnavailable(why)

    def _attempt(
        self,
        method: str,
        path: str,
        payload: Any,
        headers: dict[str, str],
        timeout: httpx.Timeout | None,
    ) -> httpx.Response:
        url = self._next_replica() + path
        try:
            if timeout is None:
                response = self.client.request(method, url, json=payload, headers=headers)
            else:
                response = self.client.request(
                    method, url, json=payload, headers=headers, timeout=timeout
                )
        except httpx.TransportError as exc:
            raise _TryAgain(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise _TryAgain(f"catalog answered {response.status_code}")
        return response

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
