"""Clients that misbehave on purpose (raw sockets), and one that behaves, for comparison."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def connect(host: str, port: int) -> socket.socket:
    return socket.create_connection((host, port), timeout=10)


def read_until_closed(sock: socket.socket, *, within: float) -> bytes:
    """Everything the edge sends until it closes the connection (``within`` seconds at most)."""
    deadline = time.monotonic() + within
    data = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"still open after {within} s; got {data[:200]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def status_of(answer: bytes) -> int:
    """The status code of the first answer in ``answer`` (0 when there is none)."""
    if not answer.startswith(b"HTTP/1.1 "):
        return 0
    return int(answer[9:12])


def header_of(answer: bytes, name: bytes) -> bytes | None:
    head = answer.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


@dataclass
class Streamed:
    """What a client that streams a request head saw: the answer, and when."""

    answer: bytes
    seconds: float
    bytes_sent: int


def stream_header(host: str, port: int, *, total: int, chunk: int = 1 << 20) -> Streamed:
    """Send a request whose one header value is ``total`` bytes, as fast as the edge reads,
    and stop as soon as an answer arrives."""
    sock = connect(host, port)
    try:
        start = time.monotonic()
        sock.sendall(b"GET /products/1 HTTP/1.1\r\nHost: edge\r\nX-Big: ")
        sock.setblocking(False)
        block = b"a" * chunk
        sent = 0
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break
            if not writable:
                raise AssertionError("the edge neither reads nor answers")
            try:
                sent += sock.send(block[: total - sent])
            except (BlockingIOError, InterruptedError):
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        answer = read_until_closed(sock, within=10)
        return Streamed(answer, time.monotonic() - start, sent)
    finally:
        sock.close()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Meanwhile:
    """What a well-behaved client got while something else happened."""

    statuses: list[int | str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def assert_served(self, *, slowest: float) -> None:
        assert self.statuses, "the normal client got no answer at all"
        assert set(self.statuses) == {200}, self.statuses
        assert max(self.seconds) < slowest, f"slowest answer {max(self.seconds):.2f} s"


@contextmanager
def normal_client(url: str, path: str = "/products/1") -> Iterator[Meanwhile]:
    """A shopper on one kept-alive connection, asking every 20 ms while the block runs."""
    seen = Meanwhile()
    stop = threading.Event()
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
        client.get(path)  # connected before the trouble starts

        def shop() -> None:
            while not stop.is_set():
                start = time.monotonic()
                try:
                    status: int | str = client.get(path).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                seen.seconds.append(time.monotonic() - start)
                seen.statuses.append(status)
                stop.wait(0.02)

        thread = threading.Thread(target=shop, daemon=True)
        thread.start()
        try:
            yield seen
        finally:
            stop.set()
            thread.join(timeout=15)
