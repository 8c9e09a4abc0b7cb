"""What the edge's HTTP clients share: raw headers and answers, the three transport errors
retry, ejection and the breaker act on, and the client interface (``UpstreamClient``).

The two implementations (``services.gateway.h1pool``, ``services.gateway.aiohttp_client``)
import this module; ``services.gateway.client.make_client`` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

RawHeaders = list[tuple[bytes, bytes]]
ClientKind = Literal["httptools", "aiohttp"]
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""RFC 9110, 9.2.2: sending one of these twice has the effect of sending it once."""


class TransportError(Exception):
    """The upstream could not be reached or did not answer properly."""


class ConnectFailed(TransportError):
    """No connection: the request never left the edge, so any method may be retried."""


class ReadTimeout(TransportError):
    """Connected and sent, but no complete answer within the read timeout."""


class ConnectionBroken(TransportError):
    """The connection broke (reset, closed early, unparsable answer)."""


@dataclass(slots=True)
class RawResponse:
    """An upstream answer: status, header pairs as received, the whole body."""

    status: int
    headers: RawHeaders
    body: bytes


class UpstreamClient(Protocol):
    """Send one request to ``base_url`` (``http://host:port``) and read the answer."""

    async def request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes,
        timeout: float | None = None,
        *,
        retryable: bool = False,
    ) -> RawResponse:
        """``target`` is the raw path plus query; ``timeout`` overrides the read timeout.

        ``retryable`` (``services.gateway.proxy.retryable``): may the request be sent again
        after a connection broke with no answer, though the upstream may have acted on it?
        A connection that the upstream closed before the request was written is replaced
        whatever this says."""
        ...

    def sweep(self) -> None:
        """Close idle connections that have outlived the keep-alive period."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...
