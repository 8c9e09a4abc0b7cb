"""The edge: a pure ASGI reverse proxy in front of the shop, as ``gateway`` or ``lb``.

Run it with ``python -m services.gateway --host 127.0.0.1 --port 8080``
(``services.gateway.server``), which also puts the client limits of
``services.gateway.protocol`` in force; plain ``uvicorn services.gateway.app:app`` does not.

Why this module stays above 300 lines: it is the edge's ASGI application, one request path
(route, forward, count, answer), with its own small replies and the two Prometheus collectors
that read the same upstreams. The transport (``protocol``, ``h1pool``, ``client``), the
routing (``routes``), balancing and breaking already live apart.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from services.gateway.asgi import ClientGone, Receive, Scope, Send, read_body
from services.gateway.config import EdgeSettings
from services.gateway.limits import LIMITED
from services.gateway.openapi import DOCS_ASSETS, docs_asset, docs_html, merge_openapi
from services.gateway.proxy import (
    EdgeError,
    IncomingHeaders,
    Reply,
    forward,
    retryable,
    split_headers,
)
from services.gateway.routes import RouteTable
from services.gateway.tracing import EdgeTracer, RequestTrace
from services.gateway.upstream import Upstream
from shop.core import otel, request_id
from shop.core.logs import RequestLog
from shop.core.metrics import CONTENT_TYPE, OTHER, PATH, RequestMetrics, method_label

log = logging.getLogger("twinshop.edge")

JSON = b"application/json"
SAFE_METHODS = frozenset({"GET", "HEAD"})
OPENAPI_RETRY_SECONDS = 2.0
# Never forwarded, whatever the route table says (the edge answers 404): the units'
# operator routes (fault toggles), FastAPI's documentation pages, and anything below the
# edge's own paths.  So both entries expose the same surface, and nothing of a unit's.
NOT_FORWARDED = ("/_", "/redoc", "/docs/", "/openapi.json/", "/health/", "/ready/", "/metrics/")
OWN = "own"  # the route label of the edge's own paths (/health, /ready, /openapi.json, /docs)
CLIENT_GONE = 499  # the status counted for a client that left before its body arrived
BREAKER_VALUE = {"closed": 0.0, "half_open": 0.5, "open": 1.0}


class Edge:
    """The ASGI application; one instance per process, built from ``EdgeSettings``."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.routes = RouteTable(settings.ROUTES)
        self.upstreams = {
            name: Upstream(
                name,
                settings.UPSTREAMS[name],
                strategy=settings.BALANCE,
                eject_seconds=settings.EJECT_SECONDS,
                breaker_failures=settings.BREAKER_FAILURES,
                breaker_open_seconds=settings.BREAKER_OPEN_SECONDS,
                connect_timeout=settings.CONNECT_TIMEOUT,
                read_timeout=settings.READ_TIMEOUT,
                discovery_interval=settings.DISCOVERY_INTERVAL,
                client=settings.CLIENT,
            )
            for name in self.routes.upstreams()
        }
        self._served_by = settings.served_by.encode()
        self._own: dict[str, Callable[[], Awaitable[Reply]]] = {
            "/health": self._health,
            "/ready": self._ready,
            "/openapi.json": self._openapi,
            "/docs": self._docs,
            PATH: self._metrics,
        }
        for asset in DOCS_ASSETS:  # Swagger UI's own files, so that /docs works offline
            self._own[asset] = functools.partial(self._docs_asset, asset)
        self.metrics = RequestMetrics(settings.UNIT)
        self.metrics.register(EdgeCollector(self.upstreams))
        self.metrics.register(ReplicaCollector(self.upstreams))
        self.request_log = RequestLog(
            settings.UNIT, settings.INSTANCE, enabled=settings.LOG_REQUESTS
        )
        provider = otel.setup(settings.UNIT, settings.INSTANCE, settings.VERSION)
        self.tracer = EdgeTracer(provider) if provider is not None else None
        """None with tracing off (``TWINSHOP_TRACING=0``): no span, nothing of it runs."""
        self._started = False
        self._start_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:  # websocket: not proxied
            await send({"type": "websocket.close", "code": 1003})

    async def startup(self) -> None:
        """Open the upstream pools and discover replicas (idempotent)."""
        async with self._start_lock:
            if self._started:
                return
            await asyncio.gather(*(u.start() for u in self.upstreams.values()))
            self._tasks.append(asyncio.create_task(self._prefetch_openapi()))
            self._started = True

    async def shutdown(self) -> None:
        """Stop background work and close every upstream connection."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await asyncio.gather(*(u.close() for u in self.upstreams.values()))
        self._started = False

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("edge start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        path: str = scope["path"]
        incoming = split_headers(scope["headers"])
        rid_text = request_id.accept(incoming.request_id)
        rid = rid_text.encode()
        own = self._own.get(path)
        name = None
        if own is None:
            name = self.routes.match(path)
            if name is not None and path.startswith(NOT_FORWARDED):
                name = None
        traced = None  # the edge's own paths (probes, scrapes, docs) make no traces
        if self.tracer is not None and own is None:
            traced = self.tracer.request(scope["method"], path, incoming.traceparent)
        try:
            if not self._started:  # served without lifespan (some test clients)
                await self.startup()
            reply = await self._handle(scope, receive, incoming, rid, own, name, traced)
        except EdgeError as exc:
            if traced is not None:
                traced.detail = exc.detail
            reply = self._error(exc.status, exc.detail, exc.retry_after)
            reply.headers.append((b"x-request-id", rid))
        except ClientGone:
            self._count(start, path, own, name, scope["method"], CLIENT_GONE, rid_text, traced)
            return
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], path)
            reply = self._error(502, "bad gateway")
            reply.headers.append((b"x-request-id", rid))
        await send(
            {"type": "http.response.start", "status": reply.status, "headers": reply.headers}
        )
        await send({"type": "http.response.body", "body": reply.body})
        self._count(start, path, own, name, scope["method"], reply.status, rid_text, traced)

    def _count(
        self,
        start: float,
        path: str,
        own: object,
        name: str | None,
        method: str,
        status: int,
        rid: str,
        traced: RequestTrace | None,
    ) -> None:
        """Metrics, span and the log line of one answered request (not of ``/metrics``)."""
        if path == PATH:
            return
        elapsed = time.perf_counter() - start
        route = OWN if own is not None else name or OTHER
        method = method_label(method)
        self.metrics.observe(route, method, status, elapsed)
        if traced is None:
            self.request_log.request(rid, method, route, status, elapsed)
            return
        traced.finish(status, route)
        self.request_log.request(rid, method, route, status, elapsed, traced.trace_id)

    async def _handle(
        self,
        scope: Scope,
        receive: Receive,
        incoming: IncomingHeaders,
        rid: bytes,
        own: Callable[[], Awaitable[Reply]] | None,
        name: str | None,
        traced: RequestTrace | None = None,
    ) -> Reply:
        """The reply for one request, with its ``X-Request-ID``; raises ``EdgeError``.

        ``own`` is the edge's handler for the path, else ``name`` the upstream for it
        (None: no route, or a units' internal path)."""
        method: str = scope["method"]
        if own is not None:
            if method not in SAFE_METHODS:
                raise EdgeError(405, "Method Not Allowed")
            reply = await own()
            reply.headers.append((b"x-request-id", rid))
            return reply
        if name is None:
            raise EdgeError(404, "Not Found")
        limit = self.settings.MAX_BODY_BYTES
        length = incoming.content_length
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise EdgeError(413, f"request body over {limit} bytes")
        body = await read_body(receive, limit)
        target = scope["raw_path"].decode("latin-1") or scope["path"]
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        incoming.forward.append((b"x-request-id", rid))
        if traced is None and incoming.traceparent is not None:
            incoming.forward.append((b"traceparent", incoming.traceparent))  # passed on as is
        return await forward(
            self.upstreams[name],
            method,
            target,
            incoming.forward,
            body,
            retryable=retryable(method, incoming),
            rid=rid,
            trace=traced,
        )

    def _error(self, status: int, detail: str, retry_after: int | None = None) -> Reply:
        reply = self._json(status, {"detail": detail})
        if retry_after is not None:
            reply.headers.append((b"retry-after", str(retry_after).encode()))
        if status == 405:
            reply.headers.append((b"allow", b"GET, HEAD"))
        if status == 413:
            # Answered before the body ended: the connection closes after this answer (see
            # protocol.py), and says so, or a client would send its next request into it.
            reply.headers.append((b"connection", b"close"))
        return reply

    def _json(self, status: int, data: Any) -> Reply:
        body = json.dumps(data, separators=(",", ":")).encode()
        return self._own_reply(status, JSON, body)

    def _own_reply(self, status: int, content_type: bytes, body: bytes) -> Reply:
        headers = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-served-by", self._served_by),
        ]
        return Reply(status, headers, body)

    async def _health(self) -> Reply:
        upstreams: dict[str, dict[str, Any]] = {}
        degraded = False
        for name, upstream in self.upstreams.items():
            healthy = len(upstream.balancer.healthy())
            breaker = upstream.breaker.state
            degraded = degraded or healthy == 0 or breaker == "open"
            upstreams[name] = {
                "replicas": len(upstream.balancer.replicas),
                "healthy": healthy,
                "breaker": breaker,
            }
        settings = self.settings
        return self._json(
            200,
            {
                "status": "degraded" if degraded else "ok",
                "unit": settings.UNIT,
                "version": settings.VERSION,
                "instance": settings.INSTANCE,
                "upstreams": upstreams,
            },
        )

    async def _ready(self) -> Reply:
        missing = [n for n, u in self.upstreams.items() if not u.balancer.replicas]
        if missing:
            return self._error(503, f"no replica of {', '.join(missing)}")
        return self._json(200, {"status": "ready"})

    async def _openapi(self) -> Reply:
        docs = await asyncio.gather(*(u.fetch_openapi() for u in self.upstreams.values()))
        merged = merge_openapi(dict(zip(self.upstreams, docs, strict=True)), self.routes)
        return self._json(200, merged)

    async def _metrics(self) -> Reply:
        return self._own_reply(200, CONTENT_TYPE.encode(), self.metrics.render())

    async def _docs(self) -> Reply:
        return self._own_reply(200, b"text/html; charset=utf-8", docs_html().encode())

    async def _docs_asset(self, path: str) -> Reply:
        found = docs_asset(path)
        if found is None:
            return self._error(404, "Swagger UI's files are not installed (fastapi-offline)")
        body, content_type = found
        reply = self._own_reply(200, content_type.encode(), body)
        reply.headers.append((b"cache-control", b"public, max-age=86400"))
        return reply

    async def _prefetch_openapi(self) -> None:
        # Warm the document cache so that the first /openapi.json is quick; requests
        # re-try whatever is still missing, so giving up after a while is fine.
        for _ in range(30):
            docs = await asyncio.gather(*(u.fetch_openapi() for u in self.upstreams.values()))
            if all(doc is not None for doc in docs):
                return
            await asyncio.sleep(OPENAPI_RETRY_SECONDS)


class ReplicaCollector:
    """Requests sent to each current replica (``twinshop_edge_replica_requests_total``),
    so that the dashboard shows every replica's share of the traffic."""

    def __init__(self, upstreams: Mapping[str, Upstream]) -> None:
        self.upstreams = upstreams

    def collect(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "twinshop_edge_replica_requests",
            "Requests sent to each discovered replica (retries included).",
            labels=["upstream", "replica"],
        )
        for name, upstream in self.upstreams.items():
            for replica in upstream.balancer.replicas:
                sent.add_metric([name, replica.url], replica.requests)
        yield sent


class EdgeCollector:
    """The edge's per-upstream state as gauges, read at scrape time."""

    def __init__(self, upstreams: Mapping[str, Upstream]) -> None:
        self.upstreams = upstreams

    def collect(self) -> Iterator[Metric]:
        replicas = GaugeMetricFamily(
            "twinshop_edge_replicas", "Discovered replicas.", labels=["upstream"]
        )
        healthy = GaugeMetricFamily(
            "twinshop_edge_healthy_replicas",
            "Discovered replicas not ejected.",
            labels=["upstream"],
        )
        breaker = GaugeMetricFamily(
            "twinshop_edge_breaker_open",
            "Circuit breaker: 1 open, 0.5 half-open, 0 closed.",
            labels=["upstream"],
        )
        pool = GaugeMetricFamily(
            "twinshop_edge_pool_connections",
            "Upstream connections: idle in the pool, busy with a request.",
            labels=["upstream", "state"],
        )
        for name, upstream in self.upstreams.items():
            balancer = upstream.balancer
            replicas.add_metric([name], len(balancer.replicas))
            healthy.add_metric([name], len(balancer.healthy()))
            breaker.add_metric([name], BREAKER_VALUE.get(upstream.breaker.state, 1.0))
            idle = upstream.idle_connections()
            if idle is not None:
                pool.add_metric([name, "idle"], idle)
            pool.add_metric([name, "busy"], sum(r.outstanding for r in balancer.replicas))
        limited = CounterMetricFamily(
            "twinshop_edge_limited",
            "Times a client limit acted: 431, 408, 413 or 503 sent, idle connection closed.",
            labels=["limit"],
        )
        for limit, count in sorted(LIMITED.items()):
            limited.add_metric([limit], count)
        yield from (replicas, healthy, breaker, pool, limited)


def create_app(settings: EdgeSettings | None = None) -> Edge:
    """An edge for ``settings`` (default: from the environment)."""
    return Edge(settings or EdgeSettings())


app = create_app()
