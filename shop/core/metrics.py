"""Prometheus metrics of every unit and of the edge, served at ``GET /metrics``.

- ``twinshop_requests_total{unit,route,method,status}``: finished requests;
- ``twinshop_request_seconds{unit,route,method}``: their duration (histogram, 1 ms … 5 s).

In a unit, ``route`` is the route template (``/products/{product_id}``), ``other`` when
no route matched; the edge uses the upstream name (or ``own``).  ``/metrics`` itself is
not counted.  Each app has its own ``CollectorRegistry``, so that several apps can live
in one process (tests) without colliding.

``MetricsMiddleware`` is plain ASGI and cheap on the hot path: the labelled children are
created once per (route, method, status) and kept in a dict.  It also writes the
per-request log line (``shop.core.logs``), so one wrapper serves both.

Needs only ``prometheus_client`` and the standard library: the edge imports it too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from shop.core import tracing
from shop.core.logs import REQUEST_ID_KEY, RequestLog

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PATH = "/metrics"
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
OTHER = "other"

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def method_label(method: str) -> str:
    """The method as a label: the standard ones as they are, anything else ``other``
    (clients choose methods, and every label value is a time series)."""
    return method if method in METHODS else OTHER


class RequestMetrics:
    """The request counter and histogram of one app, in the app's own registry."""

    def __init__(self, unit: str, *, buckets: Iterable[float] = BUCKETS) -> None:
        self.unit = unit
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "twinshop_requests",
            "Requests answered, by route template (or upstream), method and status.",
            ["unit", "route", "method", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "twinshop_request_seconds",
            "Time from request to the end of the answer, in seconds.",
            ["unit", "route", "method"],
            buckets=tuple(buckets),
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished request (``method`` already a label: see ``method_label``)."""
        key = (route, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = self._children[key] = (
                self.requests.labels(self.unit, route, method, str(status)),
                self.seconds.labels(self.unit, route, method),
            )
        pair[0].inc()
        pair[1].observe(seconds)

    def register(self, collector: Collector) -> None:
        """Add a collector (e.g. gauges computed at scrape time) to this registry."""
        self.registry.register(collector)

    def render(self) -> bytes:
        """The Prometheus text exposition (format 0.0.4) of this registry."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count, time and log every HTTP request but ``/metrics``; outermost in a unit."""

    def __init__(self, app: ASGIApp, *, metrics: RequestMetrics, log: RequestLog) -> None:
        self.app = app
        self.metrics = metrics
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == PATH:
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # when the app raises before answering

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            elapsed = time.perf_counter() - start
            # Starlette's router leaves the matched route in the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or OTHER
            method = method_label(scope["method"])
            self.metrics.observe(route, method, status, elapsed)
            tracing.name_request(method, route)
            self.log.request(
                scope.get(REQUEST_ID_KEY, ""), method, route, status, elapsed, tracing.trace_id()
            )
