"""A minimal keep-alive HTTP/1.1 client pool on httptools, for the edge's hot path.

Only what a proxy for small JSON services needs: one request at a time per connection,
whole bodies (length, chunked or close-delimited), TCP or TLS.  Idle connections are
reused newest first and dropped after ``keepalive`` seconds (below the units' keep-alive,
``shop.core.limits``).  Stale connections never cost a request:

- one the upstream closed while it sat in the pool (the end of the stream is waiting to
  be read, seen just before writing) is dropped, and the request goes out on another,
  whatever its method: not one byte of it was written;
- one that breaks after the request was written, before any byte of the answer, is
  re-sent once on a new connection only when the caller says the request is
  ``retryable`` (``services.gateway.proxy.retryable``).
"""

from __future__ import annotations

import asyncio
import select
import ssl
from typing import cast
from urllib.parse import urlsplit

import httptools

from services.gateway.transport import (
    ConnectFailed,
    ConnectionBroken,
    RawHeaders,
    RawResponse,
    ReadTimeout,
    TransportError,
)

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _Connection(asyncio.Protocol):
    """One TCP connection and the response being parsed on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[RawResponse] | None = None
        self._headers: RawHeaders = []
        self._body: list[bytes] = []
        self._head = False
        self._headers_done = False
        self.received = False  # any byte of the current answer arrived
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0
        self._poll: select.poll | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None and transport.get_extra_info("sslcontext") is None:
            # TLS may send records of its own (session tickets): no such check there.
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the stream is out of sync
            self.abort()
            return
        self.received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionBroken(f"unparsable answer: {exc}"))
            self.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._waiter is None or self._waiter.done():
            return
        if exc is None and self._headers_done and self._ends_at_close():
            self._finish()
        else:
            self._fail(ConnectionBroken("connection closed before the answer ended"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        if self._head:
            # The parser cannot know that a HEAD answer has no body: never reuse.
            self.reusable = False
            self._finish()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.reusable = self._parser.should_keep_alive() and not self._head
        self._finish()

    async def send(self, data: bytes, head: bool, timeout: float) -> RawResponse:
        """Write one serialised request and wait (at most ``timeout``) for its answer."""
        assert self._transport is not None
        self._headers, self._body = [], []
        self._head, self._headers_done = head, False
        self.received = self.reusable = False
        waiter = self._waiter = self._loop.create_future()
        self._transport.write(data)
        timer = self._loop.call_later(timeout, self._timed_out, timeout)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None
            if not waiter.done() or waiter.cancelled():  # the stream is out of sync
                self.abort()

    def stale(self) -> bool:
        """Anything to read on this idle connection (the upstream's close, most likely)?

        The event loop notices a close on its next turn; this asks the kernel now, so a
        request is not written into a connection that the upstream has already closed."""
        if self._poll is None:
            return False
        try:
            return bool(self._poll.poll(0))
        except OSError:
            return True

    @property
    def usable(self) -> bool:
        """Open, and not being closed by either side."""
        return not self.closed and self._transport is not None and not self._transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now; it will not be reused."""
        self.closed = True
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def _timed_out(self, timeout: float) -> None:
        self._fail(ReadTimeout(f"no complete answer within {timeout}s"))
        self.abort()

    def _finish(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            status = self._parser.get_status_code()
            waiter.set_result(RawResponse(status, self._headers, b"".join(self._body)))

    def _fail(self, exc: TransportError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _ends_at_close(self) -> bool:
        fields = {name.lower(): value.lower() for name, value in self._headers}
        chunked = b"chunked" in fields.get(b"transfer-encoding", b"")
        return b"content-length" not in fields and not chunked


class H1Pool:
    """``UpstreamClient`` over pooled ``_Connection`` objects, one idle list per base URL."""

    def __init__(self, connect_timeout: float, read_timeout: float, keepalive: float) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive = keepalive
        self._loop = asyncio.get_running_loop()
        self._idle: dict[str, list[_Connection]] = {}
        self._endpoints: dict[str, tuple[str, int, bytes, ssl.SSLContext | None]] = {}

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
        """See ``services.gateway.client.UpstreamClient.request``."""
        endpoint = self._endpoints.get(base_url) or self._endpoint(base_url)
        data = _serialise(method, target, endpoint[2], headers, body)
        head = method == "HEAD"
        timeout = timeout or self.read_timeout
        conn = self._take(base_url)
        if conn is not None:
            try:
                response = await conn.send(data, head, timeout)
            except ConnectionBroken:
                # Written, then closed with no answer: the upstream may have acted on it.
                if conn.received or not retryable:
                    raise
            else:
                self._give_back(base_url, conn)
                return response
        conn = await self._connect(base_url, endpoint)
        response = await conn.send(data, head, timeout)
        self._give_back(base_url, conn)
        return response

    def idle_connections(self) -> int:
        """Connections waiting in the pool for a request (for the edge's metrics)."""
        return sum(len(idle) for idle in self._idle.values())

    def sweep(self) -> None:
        """Close connections idle for longer than ``keepalive``; forget empty pools."""
        now = self._loop.time()
        for base_url, idle in list(self._idle.items()):
            for conn in idle:
                if not conn.usable or now - conn.idle_since >= self.keepalive:
                    conn.abort()
            idle[:] = [conn for conn in idle if not conn.closed]
            if not idle:
                del self._idle[base_url]

    async def close(self) -> None:
        """Close every idle connection (in-flight ones close when their request ends)."""
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()

    def _take(self, base_url: str) -> _Connection | None:
        idle = self._idle.get(base_url)
        now = self._loop.time()
        while idle:
            conn = idle.pop()
            if conn.usable and now - conn.idle_since < self.keepalive and not conn.stale():
                return conn
            conn.abort()
        return None

    def _give_back(self, base_url: str, conn: _Connection) -> None:
        if conn.reusable and not conn.closed:
            conn.idle_since = self._loop.time()
            self._idle.setdefault(base_url, []).append(conn)
        else:
            conn.abort()

    async def _connect(
        self, base_url: str, endpoint: tuple[str, int, bytes, ssl.SSLContext | None]
    ) -> _Connection:
        host, port, _, context = endpoint
        try:
            _, conn = await asyncio.wait_for(
                self._loop.create_connection(
                    lambda: _Connection(self._loop),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                ),
                self.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:
            raise ConnectFailed(f"cannot connect to {base_url}: {exc!r}") from exc
        return conn

    def _endpoint(self, base_url: str) -> tuple[str, int, bytes, ssl.SSLContext | None]:
        parts = urlsplit(base_url)
        if parts.hostname is None or parts.scheme not in {"http", "https"}:
            raise ConnectFailed(f"not an http(s) base URL: {base_url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        context = ssl.create_default_context() if tls else None
        endpoint = (parts.hostname, port, parts.netloc.encode("idna"), context)
        self._endpoints[base_url] = endpoint
        return endpoint


def _serialise(method: str, target: str, host: bytes, headers: RawHeaders, body: bytes) -> bytes:
    parts = [method.encode(), b" ", target.encode("latin-1"), b" HTTP/1.1\r\nhost: ", host]
    for name, value in headers:
        parts += (b"\r\n", name, b": ", value)
    if body or method in BODY_METHODS:
        parts += (b"\r\ncontent-length: ", str(len(body)).encode())
    parts += (b"\r\n\r\n", body)
    return b"".join(parts)
