"""What one client may cost the edge, and the short answers it gets past a limit.

The values come from ``EdgeSettings``; ``services.gateway.protocol`` enforces them while
it reads, before a request reaches the application.  ``LIMITED`` counts every time a
limit acted, for the edge's ``/metrics`` (``twinshop_edge_limited_total{limit}``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING

from shop.core import limits, request_id

if TYPE_CHECKING:
    from services.gateway.config import EdgeSettings

LIMITED: Counter[str] = Counter()
"""Times each limit acted in this process, by name (``header_too_large``, ``idle``, ...)."""


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The client-side limits of one edge; see ``EdgeSettings`` for their meaning."""

    max_header_bytes: int = 16 * 1024
    max_headers: int = 100
    max_body_bytes: int = limits.MAX_BODY_BYTES
    header_timeout: float = 5.0
    body_timeout: float = 10.0
    idle_timeout: float = 5.0
    max_connections: int = 1000
    max_in_flight: int = 500
    linger: float = 1.0  # after a refusal, read and drop what the client still sends
    served_by: str = "edge"

    @classmethod
    def from_settings(cls, settings: EdgeSettings) -> EdgeLimits:
        return cls(
            max_header_bytes=settings.MAX_HEADER_BYTES,
            max_headers=settings.MAX_HEADERS,
            max_body_bytes=settings.MAX_BODY_BYTES,
            header_timeout=settings.HEADER_TIMEOUT,
            body_timeout=settings.BODY_TIMEOUT,
            idle_timeout=settings.IDLE_TIMEOUT,
            max_connections=settings.MAX_CONNECTIONS,
            max_in_flight=settings.MAX_IN_FLIGHT,
            served_by=settings.served_by,
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the edge stops itself: the status, the limit's name and the detail."""

    status: int
    limit: str
    detail: str

    def answer(
        self,
        served_by: str,
        default_headers: list[tuple[bytes, bytes]] = [],  # noqa: B006 (read only)
        *,
        close: bool = True,
        retry_after: int | None = None,
    ) -> bytes:
        """The whole HTTP/1.1 response: ``{"detail": ...}``, and ``Connection: close``."""
        body = json.dumps({"detail": self.detail}, separators=(",", ":")).encode()
        lines = [f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}".encode()]
        lines += [name + b": " + value for name, value in default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"x-served-by: " + served_by.encode(),
            b"x-request-id: " + request_id.new().encode(),
        ]
        if retry_after is not None:
            lines.append(b"retry-after: " + str(retry_after).encode())
        if close:
            lines.append(b"connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body


HEADER_TOO_LARGE = Refusal(431, "header_too_large", "request header fields too large")
TOO_MANY_HEADERS = Refusal(431, "too_many_headers", "too many request header fields")
HEADER_TIMEOUT = Refusal(408, "header_timeout", "request headers not received in time")
BODY_TIMEOUT = Refusal(408, "body_timeout", "request body not received in time")
BODY_TOO_LARGE = Refusal(413, "body_too_large", "request body too large")
TOO_MANY_CONNECTIONS = Refusal(503, "too_many_connections", "too many connections; retry")
TOO_MANY_IN_FLIGHT = Refusal(503, "too_many_in_flight", "too many requests in flight; retry")
