"""One replica's ``/health``, as ``twinshop status`` and the dashboard show it."""

from __future__ import annotations

import time
from typing import Any

import httpx

TIMEOUT = 1.0


def probe(url: str, client: httpx.Client | None = None) -> dict[str, Any]:
    """``{instance, healthy, version, impl}`` of the replica at ``url``; anything but a 200
    with a JSON body is unhealthy. ``impl``: python or rust (the catalog has both). Pass a
    ``client`` to keep its connections between probes."""
    try:
        if client is None:
            response = httpx.get(url + "/health", timeout=TIMEOUT)
        else:
            response = client.get(url + "/health", timeout=TIMEOUT)
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return {"instance": None, "healthy": False, "version": None, "impl": None}
    if not isinstance(body, dict):
        body = {}
    return {
        "instance": body.get("instance"),
        "healthy": response.status_code == 200,
        "version": body.get("version"),
        "impl": body.get("impl"),
    }


def wait_edge_routes(
    entry: str, unit: str, *, replicas: int = 1, exact: bool = False, timeout: float
) -> bool:
    """Wait until the edge at ``entry`` routes to ``unit``: at least ``replicas`` of its
    replicas healthy (and, with ``exact``, ``replicas`` in all) and the edge's breaker for
    it not open. The edge re-resolves names every second, and after an outage its breaker
    may stay open a moment, so a unit "healthy" to its orchestrator is not yet reachable.

    True once it does, and at once when the edge does not answer (it may be down on
    purpose); False when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = httpx.get(entry + "/health", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return True
        if not isinstance(body, dict):
            return True
        seen = (body.get("upstreams") or {}).get(unit) or {}
        counted = seen.get("replicas") == replicas if exact else True
        if counted and seen.get("healthy", 0) >= replicas and seen.get("breaker") != "open":
            return True
        time.sleep(0.2)
    return False
