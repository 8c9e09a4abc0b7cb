"""Forward one request to a replica: headers in and out, retry, ejection, breaker.

This is the hot path of both architectures, so it works on raw header lists (ASGI's in,
the upstream client's out: ``services.gateway.transport``) and never parses or re-encodes
a body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from services.gateway.balancer import Replica
from services.gateway.errors import EdgeError
from services.gateway.tracing import (
    RequestTrace,
    attempt_answered,
    attempt_failed,
    traceparent_of,
)
from services.gateway.transport import (
    IDEMPOTENT_METHODS,
    ConnectFailed,
    RawHeaders,
    ReadTimeout,
    TransportError,
)
from services.gateway.upstream import Upstream

log = logging.getLogger("twinshop.edge")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Host and Content-Length are the client's view; the upstream client sets its own.  The
# request id is replaced by the accepted one, the caller's traceparent by the edge's own
# client span's (or passed on as it came, with tracing off).
REQUEST_DROP = HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"x-request-id",
    b"expect",
    b"traceparent",
}
# uvicorn adds its own Server and Date; the length is recomputed from the body we hold.
RESPONSE_DROP = HOP_BY_HOP | {b"content-length", b"server", b"date", b"x-request-id"}
NO_BODY_STATUSES = frozenset({204, 304})


@dataclass(slots=True)
class IncomingHeaders:
    """The client's headers, split into what goes upstream and what the edge needs."""

    forward: RawHeaders
    request_id: bytes | None = None
    content_length: bytes | None = None
    traceparent: bytes | None = None
    idempotency_key: bool = False  # an Idempotency-Key goes upstream (not hop-by-hop)


@dataclass(slots=True)
class Reply:
    """A complete response, ready for ``http.response.start`` and one body message."""

    status: int
    headers: RawHeaders
    body: bytes


def split_headers(raw: Iterable[tuple[bytes, bytes]]) -> IncomingHeaders:
    """One pass over the ASGI request headers (names are lower-case in ASGI)."""
    incoming = IncomingHeaders([])
    forward = incoming.forward
    connection: bytes | None = None
    for name, value in raw:
        if name in REQUEST_DROP:
            if name == b"x-request-id":
                incoming.request_id = value
            elif name == b"content-length":
                incoming.content_length = value
            elif name == b"connection":
                connection = value
            elif name == b"traceparent":
                incoming.traceparent = value
            continue
        if name == b"idempotency-key":
            incoming.idempotency_key = True
        forward.append((name, value))
    if connection:
        # Headers named in Connection are hop-by-hop too (RFC 9110, 7.6.1).
        listed = {t.strip().lower() for t in connection.split(b",")}
        incoming.forward = [(n, v) for n, v in forward if n not in listed]
        if b"idempotency-key" in listed:
            incoming.idempotency_key = False  # the upstream will not see it
    return incoming


def retryable(method: str, incoming: IncomingHeaders) -> bool:
    """The edge's one retry rule, decided on what goes upstream (after ``split_headers``).

    May the request be sent again (to another replica, or on a new connection) after a
    failure that the upstream may have seen: yes for the idempotent methods, and for a
    POST that carries an ``Idempotency-Key`` (the unit answers a repeat from its record).
    A failure before anything was sent (no connection, or a pooled connection that the
    upstream had closed) is retried for every method, whatever this says.
    """
    return method in IDEMPOTENT_METHODS or (method == "POST" and incoming.idempotency_key)


def response_headers(
    raw: Iterable[tuple[bytes, bytes]], method: str, status: int, body: bytes, rid: bytes
) -> RawHeaders:
    """The upstream's response headers minus hop-by-hop ones, plus length and request id."""
    headers: RawHeaders = []
    length: bytes | None = None
    for name, value in raw:
        lower = name.lower()
        if lower in RESPONSE_DROP:
            if lower == b"content-length":
                length = value
            continue
        if lower == b"location":
            value = public_location(value)
        headers.append((lower, value))
    if method == "HEAD":
        if length is not None:
            headers.append((b"content-length", length))
    elif status >= 200 and status not in NO_BODY_STATUSES:
        headers.append((b"content-length", str(len(body)).encode()))
    headers.append((b"x-request-id", rid))
    return headers


def public_location(value: bytes) -> bytes:
    """A ``Location`` without scheme and host: a unit only knows its own, internal address.

    Units do not redirect (``redirect_slashes=False``); this keeps any future redirect
    from showing a client the way around the edge."""
    if value[:7].lower() == b"http://" or value[:8].lower() == b"https://" or value[:2] == b"//":
        start = value.index(b"//") + 2
        slash = value.find(b"/", start)
        return value[slash:] if slash >= 0 else b"/"
    return value


async def forward(
    upstream: Upstream,
    method: str,
    target: str,
    headers: RawHeaders,
    body: bytes,
    *,
    retryable: bool,
    rid: bytes,
    trace: RequestTrace | None = None,
) -> Reply:
    """Send the request to one replica, retrying elsewhere after a transport failure.

    Connect failures are retried for every method (the request never left the edge), on
    each other usable replica in turn (right after a scale-up, several new replicas may not
    listen yet); other transport failures once, and only when ``retryable`` (the rule:
    ``retryable()``), which the client also gets, for a pooled connection that breaks.
    Every failed attempt ejects its replica; the breaker counts requests, so a dead replica
    whose requests succeed on retry does not open it.  Raises ``EdgeError`` with the edge's
    own answer (503 unavailable, 504 timeout, 502 broken connection).  With a ``trace``,
    each attempt is a client span, and its ``traceparent`` goes upstream.
    """
    breaker = upstream.breaker
    balancer = upstream.balancer
    if not breaker.allow():
        raise EdgeError(503, f"{upstream.name} unavailable", breaker.retry_after())
    trial = breaker.state == "half_open"
    decided = False
    try:
        replica = balancer.pick_for_trial() if trial else balancer.pick()
        if replica is None:
            breaker.trip()
            decided = True
            log.warning("%s: no usable replica; breaker open", upstream.name)
            raise EdgeError(503, f"{upstream.name} unavailable", breaker.retry_after())
        retried = False
        tried = [replica]
        while True:
            try:
                if trace is None:
                    reply = await _send(
                        upstream, replica, method, target, headers, body, rid, retryable
                    )
                else:
                    reply = await _send_traced(
                        trace, upstream, replica, method, target, headers, body, rid, retryable
                    )
            except TransportError as exc:
                balancer.eject(replica)
                log.warning(
                    "%s: %s %s on %s failed (%s: %s); ejected for %ss",
                    upstream.name,
                    method,
                    target,
                    replica.url,
                    type(exc).__name__,
                    exc,
                    balancer.eject_seconds,
                )
                connect_failed = isinstance(exc, ConnectFailed)
                if not trial and (connect_failed or (retryable and not retried)):
                    other = balancer.pick(exclude=replica)
                    if other is not None and all(other is not t for t in tried):
                        tried.append(other)
                        retried = retried or not connect_failed
                        replica = other
                        continue
                breaker.failure()
                decided = True
                raise _edge_error(upstream.name, exc) from exc
            balancer.restore(replica)
            breaker.success()
            decided = True
            return reply
    finally:
        if not decided:
            breaker.release()


async def _send(
    upstream: Upstream,
    replica: Replica,
    method: str,
    target: str,
    headers: RawHeaders,
    body: bytes,
    rid: bytes,
    retryable: bool,
) -> Reply:
    replica.outstanding += 1
    replica.requests += 1
    try:
        response = await upstream.client.request(
            replica.url, method, target, headers, body, retryable=retryable
        )
    finally:
        replica.outstanding -= 1
    status = response.status
    payload = response.body
    return Reply(status, response_headers(response.headers, method, status, payload, rid), payload)


async def _send_traced(
    trace: RequestTrace,
    upstream: Upstream,
    replica: Replica,
    method: str,
    target: str,
    headers: RawHeaders,
    body: bytes,
    rid: bytes,
    retryable: bool,
) -> Reply:
    span = trace.attempt(upstream.name, replica.url, method, target)
    sent = [*headers, (b"traceparent", traceparent_of(span))]
    try:
        reply = await _send(upstream, replica, method, target, sent, body, rid, retryable)
    except TransportError as exc:
        attempt_failed(span, exc)
        raise
    except BaseException as exc:  # cancelled: the client left
        attempt_failed(span, exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
        raise
    attempt_answered(span, reply.status)
    return reply


def _edge_error(name: str, exc: TransportError) -> EdgeError:
    if isinstance(exc, ConnectFailed):
        return EdgeError(503, f"{name} unavailable", 1)
    if isinstance(exc, ReadTimeout):
        return EdgeError(504, f"{name} timed out")
    return EdgeError(502, f"{name} connection failed")
