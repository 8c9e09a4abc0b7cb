"""The edge's HTTP/1.1 client (``services/gateway/h1pool.py``) against raw loopback socket
servers: keep-alive reuse, the body framings, timeouts and broken connections, a pooled
connection the upstream closed, and when a request broken before its answer is re-sent —
the answers uvicorn never gives."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lab.runtime.processes import free_port
from services.gateway.client import ConnectFailed, ConnectionBroken, ReadTimeout
from services.gateway.h1pool import H1Pool

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return head + await reader.readexactly(int(line.split(b":")[1]))
    return head


def _answering(*answers: bytes, close: bool = False) -> tuple[Handler, list[bytes]]:
    """A server that answers each request on a connection with the next of ``answers``."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for answer in answers:
                seen.append(await _read_request(reader))
                writer.write(answer)
                await writer.drain()
            if not close:
                await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return handle, seen


async def _with_pool(handle: Handler, scenario: Callable[[H1Pool, str], Awaitable[None]]) -> None:
    """Run ``scenario`` against a server running ``handle``; close every socket after."""
    handlers: list[tuple[asyncio.Task[Any], asyncio.StreamWriter]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append((task, writer))
        await handle(reader, writer)

    server = await asyncio.start_server(tracked, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = H1Pool(connect_timeout=0.5, read_timeout=0.5, keepalive=4.0)
    try:
        await scenario(pool, f"http://127.0.0.1:{port}")
    finally:
        await pool.close()
        server.close()
        await server.wait_closed()
        for task, writer in handlers:
            task.cancel()
            writer.close()
        await asyncio.gather(*(task for task, _ in handlers), return_exceptions=True)
        await asyncio.sleep(0.01)  # let the closed transports finish closing


def test_h1pool_reuses_connections_and_sends_what_it_is_given() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Served-By: raw\r\n\r\nok"
    handle, seen = _answering(ok, ok)

    async def scenario(pool: H1Pool, base: str) -> None:
        first = await pool.request(base, "GET", "/a?b=%20", [(b"x-one", b"1")], b"")
        second = await pool.request(base, "POST", "/c", [], b'{"k": 1}')
        assert (first.status, first.body) == (200, b"ok")
        assert (b"X-Served-By", b"raw") in first.headers
        assert second.body == b"ok"

    asyncio.run(_with_pool(handle, scenario))
    assert len(seen) == 2  # both on the one connection the handler serves
    assert seen[0].startswith(b"GET /a?b=%20 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nx-one: 1\r\n" in seen[0] and b"content-length" not in seen[0]
    assert seen[1].endswith(b'content-length: 8\r\n\r\n{"k": 1}')


def test_h1pool_reads_chunked_close_delimited_and_head_answers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    until_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close"
    handle, _ = _answering(chunked, head, until_close, close=True)

    async def scenario(pool: H1Pool, base: str) -> None:
        assert (await pool.request(base, "GET", "/", [], b"")).body == b"abcde"
        answer = await pool.request(base, "HEAD", "/", [], b"")
        assert (answer.status, answer.body) == (200, b"")
        # A HEAD connection is never reused, so this one is new: the handler starts over.
        assert (await pool.request(base, "GET", "/", [], b"")).body == b"abcde"

    asyncio.run(_with_pool(handle, scenario))
    handle, _ = _answering(until_close, close=True)

    async def eof(pool: H1Pool, base: str) -> None:
        assert (await pool.request(base, "GET", "/", [], b"")).body == b"until close"

    asyncio.run(_with_pool(handle, eof))


def test_h1pool_transport_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(2)
        writer.close()

    async def timeout(pool: H1Pool, base: str) -> None:
        started = time.perf_counter()
        with pytest.raises(ReadTimeout):
            await pool.request(base, "GET", "/", [], b"")
        assert time.perf_counter() - started < 1.0

    asyncio.run(_with_pool(silent, timeout))

    garbage, _ = _answering(b"NOT HTTP AT ALL\r\n\r\n")
    hangup, _ = _answering(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", close=True)

    async def broken(pool: H1Pool, base: str) -> None:
        with pytest.raises(ConnectionBroken):
            await pool.request(base, "POST", "/", [], b"x")

    asyncio.run(_with_pool(garbage, broken))
    asyncio.run(_with_pool(hangup, broken))

    async def refused() -> None:
        pool = H1Pool(connect_timeout=0.5, read_timeout=0.5, keepalive=4.0)
        with pytest.raises(ConnectFailed):
            await pool.request(f"http://127.0.0.1:{free_port()}", "GET", "/", [], b"")

    asyncio.run(refused())


class ThreadedServer:
    """A blocking loopback server in a thread: each connection gets ``script(conn, n)``.

    Unlike the asyncio servers above it runs while the test's event loop is blocked, so a
    close can reach the kernel before the edge's loop has seen it."""

    def __init__(self, script: Callable[[socket.socket, int], None]) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request head)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        n = 0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            n += 1
            with conn, contextlib.suppress(OSError):
                self.script(conn, n)

    def read_request(self, conn: socket.socket, n: int) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        self.requests.append((n, data.split(b"\r\n", 1)[0]))
        return data

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        self.thread.join(timeout=5)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_h1pool_replaces_a_pooled_connection_the_upstream_closed_for_any_method() -> None:
    closed = threading.Event()

    def script(conn: socket.socket, n: int) -> None:
        server.read_request(conn, n)
        conn.sendall(OK)
        if n == 1:
            conn.close()  # idle close, as a unit does at its keep-alive timeout or shutdown
            closed.set()

    server = ThreadedServer(script)

    async def scenario() -> None:
        pool = H1Pool(connect_timeout=0.5, read_timeout=2.0, keepalive=4.0)
        try:
            assert (await pool.request(server.base, "GET", "/first", [], b"")).body == b"ok"
            # Block the loop: the close reaches our kernel, not yet our event loop.
            assert closed.wait(5)
            time.sleep(0.2)
            answer = await pool.request(server.base, "POST", "/orders", [], b"{}")
            assert answer.status == 200  # a keyless POST: not retryable, yet never written
        finally:
            await pool.close()

    try:
        asyncio.run(scenario())
    finally:
        server.close()
    assert server.requests == [(1, b"GET /first HTTP/1.1"), (2, b"POST /orders HTTP/1.1")]


@pytest.mark.parametrize("retryable", [True, False])
def test_h1pool_resends_a_request_broken_before_its_answer_only_when_retryable(
    retryable: bool,
) -> None:
    def script(conn: socket.socket, n: int) -> None:
        server.read_request(conn, n)
        conn.sendall(OK)
        if n == 1:
            server.read_request(conn, n)  # read, then gone without an answer

    server = ThreadedServer(script)

    async def scenario() -> None:
        pool = H1Pool(connect_timeout=0.5, read_timeout=2.0, keepalive=4.0)
        try:
            await pool.request(server.base, "GET", "/first", [], b"")
            if retryable:
                answer = await pool.request(server.base, "POST", "/o", [], b"", retryable=True)
                assert answer.status == 200
            else:
                with pytest.raises(ConnectionBroken):
                    await pool.request(server.base, "POST", "/o", [], b"")
        finally:
            await pool.close()

    try:
        asyncio.run(scenario())
    finally:
        server.close()
    sent = [(1, b"GET /first HTTP/1.1"), (1, b"POST /o HTTP/1.1")]
    assert server.requests == ([*sent, (2, b"POST /o HTTP/1.1")] if retryable else sent)
