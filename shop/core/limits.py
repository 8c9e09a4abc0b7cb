"""Limits that the units and the edges must agree on, defined once.

Imported by the units' settings (``shop.kernel.config``) and the edge's
(``services.gateway.config``), and read from the same environment variable, so that a
body the units would refuse is already refused at the edge, and the edge drops a pooled
connection before a unit closes it.  Standard library only: the gateway image ships it.
"""

from __future__ import annotations

MAX_BODY_BYTES = 64 * 1024
"""The largest request body anyone accepts (``TWINSHOP_MAX_BODY_BYTES``); above it, 413."""

UNIT_KEEPALIVE_SECONDS = 5.0
"""How long a unit (uvicorn's default ``--timeout-keep-alive``) keeps an idle connection."""

EDGE_POOL_KEEPALIVE_SECONDS = UNIT_KEEPALIVE_SECONDS - 1.0
"""The edge reuses a pooled upstream connection only while it has been idle for less than
this, so it never writes a request into a socket that the unit is closing."""
