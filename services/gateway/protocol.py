"""The edge's HTTP/1.1 server: uvicorn's httptools protocol, with the edge's limits.

uvicorn's httptools mode has no header limit, and httptools grows a header value by
concatenation, so one 80 MB header took seconds of CPU and hundreds of MB; nor does it
time out a client that sends its request slowly, or one that connects and says nothing.
This subclass enforces ``EdgeLimits`` while it reads, before the application sees the
request:

- the head (URL, header names and values) over ``max_header_bytes`` or ``max_headers``
  fields: 431, counted as each field arrives; a head still incomplete after twice
  ``max_header_bytes`` bytes is refused without parsing further;
- the head not complete within ``header_timeout`` of its first byte, or the body within
  ``body_timeout`` of the head: 408;
- a message that grows past twice the body and head limits (chunk framing, trailers): 413;
- an idle connection (before its first request, or between requests) is closed after
  ``idle_timeout``;
- past ``max_connections`` open connections a new one gets 503 at once; past
  ``max_in_flight`` requests being answered a new request gets 503 (the connection stays);
- trailers of a chunked body are counted against the head's limits and then dropped:
  they never become request headers.

A refused client gets its answer with ``Connection: close``; the edge then stops writing
and drops what the client still sends for ``linger`` seconds, so that the answer is read
rather than lost to a reset.  An answer sent before the request body ended (413 from the
application, say) also closes the connection instead of reading the rest.

One timer per connection, re-armed only when it fires: a request on a kept-alive
connection moves timestamps, not timers.

Why it stays above 300 lines: one subclass of uvicorn's protocol, whose callbacks share the
connection's state (counts, timer, what was refused); split, that one state machine would be
read in several files.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Any, ClassVar

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from services.gateway import limits as edge_limits
from services.gateway.limits import LIMITED, EdgeLimits, Refusal
from shop.core import request_id

# Where the connection is; each phase has its own deadline (WAIT and CLOSING none).
IDLE = 0  # no request yet, or the last one answered: idle_timeout
HEAD = 1  # a request's first byte arrived, its head did not end yet: header_timeout
BODY = 2  # the head ended, the body did not: body_timeout
WAIT = 3  # the whole request arrived: the application answers it
CLOSING = 4  # refused or answered early: lingering, then closed


@lru_cache(maxsize=1)
def limits_from_environment() -> EdgeLimits:
    """The limits of ``EdgeSettings()``, for ``uvicorn --http ...:EdgeProtocol``."""
    from services.gateway.config import EdgeSettings

    return EdgeLimits.from_settings(EdgeSettings())


class EdgeProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that enforces ``limits`` (default: from the environment)."""

    limits: ClassVar[EdgeLimits | None] = None

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = self.limits or limits_from_environment()
        self._limits = limits
        self._phase = IDLE
        self._since = 0.0  # when the current phase began (loop time)
        self._raw = 0  # bytes received since the current request began
        self._head_bytes = 0  # URL + header (and trailer) names and values
        self._head_count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: Refusal | None = None
        self._max_header_bytes = limits.max_header_bytes
        self._max_headers = limits.max_headers
        self._max_in_flight = limits.max_in_flight
        self._head_raw_limit = 2 * limits.max_header_bytes
        self._message_raw_limit = 2 * (limits.max_header_bytes + limits.max_body_bytes)

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self._limits.max_connections:
            self.transport = transport
            self._refuse(edge_limits.TOO_MANY_CONNECTIONS, retry_after=1)
            return
        super().connection_made(transport)
        now = self.loop.time()
        self._since = now
        self._deadline(now + self._limits.idle_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = CLOSING
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, but a refusal raised in a parser callback is answered as such.
        if self._phase == CLOSING:
            return  # lingering after a refusal: read and drop
        self._raw += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            refusal, self._refusal = self._refusal, None
            if refusal is not None:
                self._refuse(refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self._phase = CLOSING
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # A request that arrived whole is in WAIT by now: nothing to time.  One that did
        # not gets its deadline here, once per phase, rather than in every callback.
        phase = self._phase
        if phase == HEAD:
            if self._since < 0:
                self._start_phase(self._limits.header_timeout)
            if self._raw > self._head_raw_limit:
                self._refuse(edge_limits.HEADER_TOO_LARGE)
        elif phase == BODY:
            if self._since < 0:
                self._start_phase(self._limits.body_timeout)
            if self._raw > self._message_raw_limit:
                self._refuse(edge_limits.BODY_TOO_LARGE)

    # -- parser callbacks ---------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = HEAD
        self._since = -1.0  # stamped by data_received if the head does not end in this read
        self._raw = self._head_bytes = self._head_count = 0

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        if self._head_bytes > self._max_header_bytes:
            self._stop(edge_limits.HEADER_TOO_LARGE)
        self.url += url  # uvicorn's on_url, inlined: this runs on every request

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        self._head_count += 1
        if self._head_bytes > self._max_header_bytes:
            self._stop(edge_limits.HEADER_TOO_LARGE)
        if self._head_count > self._max_headers:
            self._stop(edge_limits.TOO_MANY_HEADERS)
        if self._phase != HEAD:
            return  # a trailer, after a chunked body: counted above, never a header
        # uvicorn's on_header, inlined: this runs for every header of every request.
        name = name.lower()
        value = value.rstrip(b" \t")  # RFC 9110, 5.5: no trailing whitespace in a value
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._phase = BODY
        self._since = -1.0  # stamped by data_received if the body does not end in this read
        if len(self.tasks) < self._max_in_flight:
            super().on_headers_complete()
            return
        LIMITED[edge_limits.TOO_MANY_IN_FLIGHT.limit] += 1
        app, self.app = self.app, _TooManyInFlight(self._limits.served_by)  # this request
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        self._phase = WAIT
        super().on_message_complete()

    def on_response_complete(self) -> None:
        # uvicorn's, with the idle deadline instead of its keep-alive timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing() or self._phase == CLOSING:
            return
        cycle = self.cycle
        if cycle.response_complete and cycle.more_body:
            # Answered before the request body ended (413, or an edge route): do not
            # read the rest of a body nobody wants.
            self._linger()
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            if self._phase == BODY:  # its body waited for us, not for the client
                self._start_phase(self._limits.body_timeout)
        elif self._phase == WAIT:
            self._phase = IDLE
            now = self.loop.time()
            self._since = now
            self._deadline(now + self._limits.idle_timeout)

    # -- deadlines and refusals ---------------------------------------------------------

    def _start_phase(self, timeout: float) -> None:
        now = self.loop.time()
        self._since = now
        self._deadline(now + timeout)

    def _deadline(self, when: float) -> None:
        """Make sure the timer fires by ``when``; a later one is moved, an earlier kept."""
        timer = self._timer
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        phase = self._phase
        limits = self._limits
        if phase == IDLE:
            deadline = self._since + limits.idle_timeout
        elif phase == HEAD:
            deadline = self._since + limits.header_timeout
        elif phase == BODY:
            deadline = self._since + limits.body_timeout
        else:
            return  # WAIT: re-armed when the answer is sent; CLOSING: nothing left to time
        if self.loop.time() < deadline:
            self._timer = self.loop.call_at(deadline, self._on_timer)
        elif phase == IDLE:
            LIMITED["idle"] += 1
            self._phase = CLOSING
            self.transport.close()
        else:
            self._refuse(edge_limits.HEADER_TIMEOUT if phase == HEAD else edge_limits.BODY_TIMEOUT)

    def _stop(self, refusal: Refusal) -> None:
        """Stop the parser from a callback; ``data_received`` then sends the refusal."""
        self._refusal = refusal
        raise _Refused(refusal.detail)

    def _refuse(self, refusal: Refusal, *, retry_after: int | None = None) -> None:
        """Answer ``refusal`` (unless an answer is already under way), then linger."""
        if self._phase == CLOSING:
            return
        LIMITED[refusal.limit] += 1
        cycle = self.cycle
        answering = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            # The application is waiting for this request's body: it will not come.
            cycle.disconnected = True
            cycle.message_event.set()
        if not answering:
            self.transport.write(
                refusal.answer(
                    self._limits.served_by,
                    self.server_state.default_headers,
                    retry_after=retry_after,
                )
            )
        self._linger()

    def _linger(self) -> None:
        """Stop writing, drop what the client still sends, close after ``linger``."""
        self._phase = CLOSING
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport = self.transport
        if self.flow is not None:
            self.flow.resume_reading()
        if not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self._timer = self.loop.call_later(self._limits.linger, transport.close)


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a request the edge refuses."""


class _TooManyInFlight:
    """The application for a request over ``max_in_flight``: 503, ``Retry-After: 1``."""

    def __init__(self, served_by: str) -> None:
        self.headers = [
            (b"content-type", b"application/json"),
            (b"retry-after", b"1"),
            (b"x-served-by", served_by.encode()),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        body = b'{"detail":"' + edge_limits.TOO_MANY_IN_FLIGHT.detail.encode() + b'"}'
        headers = [
            *self.headers,
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.new().encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def protocol_for(limits: EdgeLimits) -> type[EdgeProtocol]:
    """An ``EdgeProtocol`` class bound to ``limits`` (uvicorn's ``http=`` option)."""
    return type("EdgeProtocol", (EdgeProtocol,), {"limits": limits})
