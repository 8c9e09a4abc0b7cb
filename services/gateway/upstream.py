"""One upstream: its replicas (re-discovered in the background), breaker and HTTP client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from services.gateway.balancer import Balancer, Strategy
from services.gateway.breaker import CircuitBreaker
from services.gateway.client import make_client
from services.gateway.transport import ClientKind, TransportError, UpstreamClient
from shop.core import limits
from shop.core.discovery import Discovery, parse_discovery

log = logging.getLogger("twinshop.edge")

# Below the units' keep-alive, so that we drop an idle connection before the upstream
# does and do not write a request into a socket it is closing.
KEEPALIVE_SECONDS = limits.EDGE_POOL_KEEPALIVE_SECONDS
PROBE_TIMEOUT = 0.5  # seconds for an ejected replica's /health to answer


class Upstream:
    """Everything the edge keeps per upstream name.

    The client (one keep-alive connection pool) lives from ``start`` to ``close``;
    discovery runs in a background task, in a worker thread because DNS lookups block,
    so requests only ever read the latest replica list.
    """

    def __init__(
        self,
        name: str,
        spec: str,
        *,
        strategy: Strategy,
        eject_seconds: float,
        breaker_failures: int,
        breaker_open_seconds: float,
        connect_timeout: float,
        read_timeout: float,
        discovery_interval: float,
        client: ClientKind = "httptools",
    ) -> None:
        self.name = name
        self.spec = spec
        self.discovery: Discovery = parse_discovery(spec)
        self.balancer = Balancer(strategy, eject_seconds)
        self.breaker = CircuitBreaker(breaker_failures, breaker_open_seconds)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.discovery_interval = discovery_interval
        self.client_kind: ClientKind = client
        self.openapi: dict[str, Any] | None = None
        self._client: UpstreamClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> UpstreamClient:
        """The shared HTTP client; only valid between ``start`` and ``close``."""
        if self._client is None:
            raise RuntimeError(f"upstream {self.name} is not started")
        return self._client

    def attach(self, client: UpstreamClient) -> None:
        """Use ``client`` instead of the kind named at construction: ``start`` keeps it
        (a test's scripted client, another transport)."""
        self._client = client

    def idle_connections(self) -> int | None:
        """Idle pooled connections, when the client can tell (httptools pool only)."""
        count = getattr(self._client, "idle_connections", None)
        return count() if count is not None else None

    async def start(self) -> None:
        """Open the connection pool, discover once, then keep discovering in the background."""
        if self._client is None:
            self._client = make_client(
                self.client_kind, self.connect_timeout, self.read_timeout, KEEPALIVE_SECONDS
            )
        try:
            await asyncio.wait_for(self.refresh(), timeout=max(5.0, self.discovery_interval))
        except Exception:
            log.exception("%s: first discovery failed; retrying in the background", self.name)
        self._task = asyncio.create_task(self._discover_forever(), name=f"discover-{self.name}")

    async def close(self) -> None:
        """Stop discovering and close every pooled connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def refresh(self) -> None:
        """Ask discovery once (off the event loop) and apply the answer."""
        urls = await asyncio.to_thread(self.discovery.replicas)
        before = len(self.balancer.replicas)
        added = self.balancer.update(urls)
        if added:
            log.info("%s: replicas added %s", self.name, added)
            self.breaker.probe_now()
        if len(urls) != before or added:
            log.info("%s: %d replica(s) %s", self.name, len(urls), urls)

    async def probe_ejected(self) -> int:
        """Give an ejected replica back as soon as its ``/health`` answers 200, and let the
        breaker try at once: a unit killed and restarted within a second should not sit
        out the rest of its ejection. Returns how many came back."""
        now = time.monotonic()
        back = 0
        for replica in [r for r in self.balancer.replicas if r.is_ejected(now)]:
            try:
                response = await self.client.request(
                    replica.url, "GET", "/health", [], b"", PROBE_TIMEOUT
                )
            except TransportError:
                continue
            if response.status == 200:
                self.balancer.restore(replica)
                self.breaker.probe_now()
                log.info("%s: %s answers /health again; back in rotation", self.name, replica.url)
                back += 1
        return back

    async def _discover_forever(self) -> None:
        while True:
            await asyncio.sleep(self.discovery_interval)
            try:
                await self.refresh()
                await self.probe_ejected()
                self.client.sweep()
            except Exception:
                log.exception("%s: discovery failed; keeping the last replica list", self.name)

    async def fetch_openapi(self, timeout: float = 3.0) -> dict[str, Any] | None:
        """The upstream's ``/openapi.json`` (cached once fetched); None when unavailable."""
        if self.openapi is not None:
            return self.openapi
        replica = self.balancer.pick()
        if replica is None:
            return None
        try:
            response = await self.client.request(
                replica.url,
                "GET",
                "/openapi.json",
                [(b"accept", b"application/json")],
                b"",
                timeout,
            )
            doc = json.loads(response.body) if response.status == 200 else None
        except (TransportError, ValueError) as exc:
            log.info("%s: no OpenAPI document from %s: %s", self.name, replica.url, exc)
            return None
        if isinstance(doc, dict) and isinstance(doc.get("paths"), dict):
            self.openapi = doc
        return self.openapi
