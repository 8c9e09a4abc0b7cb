"""The edge's HTTP protocol (client limits) driven byte by byte, with a fake transport.

No sockets: ``EdgeProtocol`` gets the bytes a client would send and writes its answers into
a list; an ASGI app records what reached it.  Deadlines are a few hundredths of a second.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from services.gateway import limits as edge_limits
from services.gateway.limits import LIMITED, EdgeLimits
from services.gateway.protocol import EdgeProtocol, protocol_for

SHORT = 0.05  # seconds: every deadline in these tests

GET = b"GET /products/1 HTTP/1.1\r\nHost: edge\r\n\r\n"


class FakeTransport:
    """What the protocol writes, and whether it closed, half-closed or paused reading."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closing = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.eof, "wrote after write_eof"
        self.written += data

    def write_eof(self) -> None:
        self.eof = True

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def answers(self) -> list[bytes]:
        """The status lines written, in order."""
        return re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", bytes(self.written))


class RecordingApp:
    """Answers 200 ``ok`` after reading the whole body; keeps every scope and message."""

    def __init__(self, *, read_body: bool = True, status: int = 200) -> None:
        self.scopes: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.read_body = read_body
        self.status = status

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        self.scopes.append(scope)
        if self.read_body:
            while True:
                message = await receive()
                self.messages.append(message)
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    break
            if self.messages[-1]["type"] == "http.disconnect":
                return
        headers = [(b"content-length", b"2")]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})


class Edge:
    """One protocol instance on a fake transport, inside a running event loop."""

    def __init__(self, app: RecordingApp, limits: EdgeLimits, state: ServerState) -> None:
        config = Config(app=app, lifespan="off", log_level="critical", proxy_headers=False)
        config.load()
        self.transport = FakeTransport()
        self.protocol = protocol_for(limits)(config, state, {}, asyncio.get_running_loop())
        self.protocol.connection_made(self.transport)  # type: ignore[arg-type]

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)


LIMITS = EdgeLimits(
    max_header_bytes=1024,
    max_headers=10,
    max_body_bytes=1000,
    header_timeout=SHORT,
    body_timeout=SHORT,
    idle_timeout=SHORT,
    max_connections=4,
    max_in_flight=2,
    linger=SHORT,
    served_by="gateway/test@v1",
)


@pytest.fixture(autouse=True)
def fresh_counters() -> Iterator[None]:
    LIMITED.clear()
    yield
    LIMITED.clear()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


async def settle(seconds: float = 0.0) -> None:
    """Let the app's tasks (and, with ``seconds``, the deadlines) run."""
    for _ in range(5):
        await asyncio.sleep(0)
    if seconds:
        await asyncio.sleep(seconds)


def test_normal_requests_on_one_connection_are_answered_and_kept_alive() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        for _ in range(3):
            edge.send(GET)
            await settle()
        assert edge.transport.answers == [b"HTTP/1.1 200 OK"] * 3
        assert not edge.transport.closing and not LIMITED

    run(scenario)


def test_pipelined_requests_are_answered_in_order_and_a_cut_one_still_times_out() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(
            GET + GET.replace(b"/products/1", b"/products/2") + b"GET /products/3 HTTP/1.1\r\nHo"
        )
        await settle()
        await settle()
        assert [scope["path"] for scope in app.scopes] == ["/products/1", "/products/2"]
        await settle(4 * SHORT)
        assert edge.transport.answers == [b"HTTP/1.1 200 OK"] * 2 + [
            b"HTTP/1.1 408 Request Timeout"
        ]

    run(scenario)


def test_a_huge_header_is_refused_after_the_first_chunks_without_reaching_the_app() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"GET /products/1 HTTP/1.1\r\nHost: edge\r\nX-Big: ")
        chunks = 0
        while not edge.transport.written and chunks < 100:
            edge.send(b"a" * 1000)
            chunks += 1
        assert chunks <= 3  # refused at twice the limit, not at the end of the header
        assert edge.transport.answers == [b"HTTP/1.1 431 Request Header Fields Too Large"]
        assert b"connection: close" in edge.transport.written
        assert b'{"detail":"request header fields too large"}' in edge.transport.written
        assert edge.transport.eof  # lingering: no more writes, the rest is read and dropped
        edge.send(b"a" * 100_000)
        await settle(3 * SHORT)
        assert edge.transport.closing and app.scopes == []
        assert LIMITED == {"header_too_large": 1}

    run(scenario)


def test_a_head_over_the_limit_in_one_piece_is_refused() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"GET /p HTTP/1.1\r\nHost: edge\r\nX-Big: " + b"a" * 1100 + b"\r\n\r\n")
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 431 Request Header Fields Too Large"]
        assert app.scopes == []

    run(scenario)


def test_too_many_header_fields_are_refused() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        fields = b"".join(b"X-%d: y\r\n" % i for i in range(11))
        edge.send(b"GET /p HTTP/1.1\r\n" + fields + b"\r\n")
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 431 Request Header Fields Too Large"]
        assert b"too many request header fields" in edge.transport.written
        assert app.scopes == [] and LIMITED == {"too_many_headers": 1}

    run(scenario)


def test_trailers_never_become_request_headers() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        # All in one piece, so the trailers are parsed before the app even starts.
        edge.send(
            b"POST /orders HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\n{}\r\n0\r\nAuthorization: Bearer stolen\r\nIdempotency-Key: k\r\n\r\n"
        )
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 200 OK"]
        names = [name for name, _ in app.scopes[0]["headers"]]
        assert names == [b"host", b"transfer-encoding"]
        assert b"".join(m.get("body", b"") for m in app.messages) == b"{}"

    run(scenario)


def test_trailers_count_against_the_head_limits() -> None:
    async def scenario() -> None:
        edge = Edge(RecordingApp(), LIMITS, ServerState())
        trailers = b"".join(b"X-%d: y\r\n" % i for i in range(20))
        edge.send(
            b"POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + trailers + b"\r\n"
        )
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 431 Request Header Fields Too Large"]

    run(scenario)


def test_slow_headers_get_408_and_the_connection_closes() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"GET /products/1 HTTP/1.1\r\nHost: ed")
        await settle(4 * SHORT)
        assert edge.transport.answers == [b"HTTP/1.1 408 Request Timeout"]
        await settle(2 * SHORT)
        assert edge.transport.closing and app.scopes == []
        assert LIMITED == {"header_timeout": 1}

    run(scenario)


def test_a_body_that_never_ends_gets_408_and_the_app_sees_the_client_gone() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
        await settle(4 * SHORT)
        assert edge.transport.answers == [b"HTTP/1.1 408 Request Timeout"]
        assert app.messages[-1] == {"type": "http.disconnect"}
        assert LIMITED == {"body_timeout": 1}

    run(scenario)


def test_an_idle_connection_is_closed_without_an_answer() -> None:
    async def scenario() -> None:
        edge = Edge(RecordingApp(), LIMITS, ServerState())
        await settle(3 * SHORT)
        assert edge.transport.closing and edge.transport.written == b""
        assert LIMITED == {"idle": 1}

    run(scenario)


def test_a_kept_alive_connection_is_closed_once_idle_after_its_answer() -> None:
    async def scenario() -> None:
        edge = Edge(RecordingApp(), LIMITS, ServerState())
        edge.send(GET)
        await settle()
        assert not edge.transport.closing
        await settle(3 * SHORT)
        assert edge.transport.closing
        assert edge.transport.answers == [b"HTTP/1.1 200 OK"]

    run(scenario)


def test_past_max_connections_a_new_connection_gets_503_at_once() -> None:
    async def scenario() -> None:
        state = ServerState()
        open_ = [Edge(RecordingApp(), LIMITS, state) for _ in range(LIMITS.max_connections)]
        extra = Edge(RecordingApp(), LIMITS, state)
        assert extra.transport.answers == [b"HTTP/1.1 503 Service Unavailable"]
        assert b"retry-after: 1" in extra.transport.written
        assert extra.protocol not in state.connections
        extra.send(GET)  # dropped: lingering
        assert len(extra.transport.answers) == 1
        assert all(not edge.transport.written for edge in open_)

    run(scenario)


def test_past_max_in_flight_a_request_gets_503_and_keeps_its_connection() -> None:
    async def scenario() -> None:
        state = ServerState()
        slow = [Edge(RecordingApp(), LIMITS, state) for _ in range(LIMITS.max_in_flight)]
        for edge in slow:  # bodies that have not arrived yet keep these in flight
            edge.send(b"POST /orders HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
        await settle()
        app = RecordingApp()
        busy = Edge(app, LIMITS, state)
        busy.send(GET)
        await settle()
        assert busy.transport.answers == [b"HTTP/1.1 503 Service Unavailable"]
        assert b"retry-after: 1" in busy.transport.written
        assert b"connection: close" not in busy.transport.written
        assert not busy.transport.closing and app.scopes == []
        assert LIMITED["too_many_in_flight"] == 1

    run(scenario)


def test_an_answer_before_the_body_ended_closes_instead_of_reading_the_rest() -> None:
    async def scenario() -> None:
        app = RecordingApp(read_body=False, status=413)
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"POST /orders HTTP/1.1\r\nContent-Length: 900\r\n\r\n" + b"x" * 100)
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 413 Request Entity Too Large"]
        assert edge.transport.eof
        edge.send(b"x" * 800 + GET)  # the rest, and a request that must not be answered
        await settle(2 * SHORT)
        assert len(edge.transport.answers) == 1 and edge.transport.closing

    run(scenario)


def test_a_message_far_over_the_body_limit_is_refused_while_it_arrives() -> None:
    async def scenario() -> None:
        app = RecordingApp()
        edge = Edge(app, LIMITS, ServerState())
        edge.send(b"POST /orders HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(10):  # 1-byte chunks: framing far larger than the body
            edge.send(b"1\r\na\r\n" * 100)
        await settle()
        assert edge.transport.answers == [b"HTTP/1.1 413 Request Entity Too Large"]
        assert LIMITED == {"body_too_large": 1}

    run(scenario)


def test_the_default_limits_are_the_settings_defaults() -> None:
    from services.gateway.config import EdgeSettings

    limits = EdgeLimits.from_settings(EdgeSettings(INSTANCE="i"))
    assert limits.max_header_bytes == 16 * 1024 and limits.max_headers == 100
    assert limits.max_body_bytes == 64 * 1024
    assert limits.served_by == "gateway/i@v1"
    assert edge_limits.HEADER_TOO_LARGE.status == 431


def test_the_protocol_class_carries_its_limits() -> None:
    bound = protocol_for(LIMITS)
    assert issubclass(bound, EdgeProtocol) and bound.limits is LIMITS
    assert EdgeProtocol.limits is None  # the base reads the environment when used alone


def test_the_entry_point_serves_the_edge_with_its_protocol_and_settings() -> None:
    from services.gateway.app import create_app
    from services.gateway.config import EdgeSettings
    from services.gateway.server import config, parse_args

    app = create_app(EdgeSettings(INSTANCE="i", IDLE_TIMEOUT=3))
    limits = EdgeLimits.from_settings(app.settings)
    served = config(parse_args(["--host", "0.0.0.0", "--port", "8000"]), app, limits)
    assert isinstance(served.http, type) and issubclass(served.http, EdgeProtocol)
    assert served.http.limits == limits and limits.idle_timeout == 3
    assert (served.host, served.port, served.access_log) == ("0.0.0.0", 8000, False)
    plain = config(parse_args(["--http", "httptools"]), app, limits)
    assert plain.http == "httptools"  # for benchmarks: uvicorn's own, without the limits
