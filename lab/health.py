"""One replica's ``/health``, as ``twinshop status`` and the dashboard show it."""

from __future__ import annotations

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
