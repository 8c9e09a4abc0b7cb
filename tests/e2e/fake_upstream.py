"""A tiny upstream for edge tests and benchmarks: an echoing ASGI app served by uvicorn.

Every answer carries ``X-Served-By: fake/<n>`` and echoes ``X-Request-ID``.  Paths:

- ``/openapi.json`` -> the document given at construction (404 without one);
- ``.../slow/<seconds>`` -> waits, then echoes (read timeouts);
- ``.../status/<code>`` -> that status with the echo body;
- anything else -> 200 with the echo: method, path, query, body and request headers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn

Message = dict[str, Any]


class FakeApp:
    """The ASGI app of replica ``n``."""

    def __init__(self, n: int, openapi: dict[str, Any] | None = None) -> None:
        self.n = n
        self.openapi = openapi
        self.served_by = f"fake/{n}".encode()
        self.hits = 0

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        self.hits += 1
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        path: str = scope["path"]
        status = 200
        if path == "/openapi.json":
            payload = json.dumps(self.openapi).encode() if self.openapi else b'{"detail":"none"}'
            status = 200 if self.openapi else 404
        else:
            parts = path.split("/")
            if "slow" in parts[:-1]:
                await asyncio.sleep(float(parts[parts.index("slow") + 1]))
            elif "status" in parts[:-1]:
                status = int(parts[parts.index("status") + 1])
            echo = {
                "server": self.n,
                "method": scope["method"],
                "path": path,
                "raw_path": scope["raw_path"].decode("latin-1"),
                "query": scope["query_string"].decode("latin-1"),
                "body": body.decode("latin-1"),
                "headers": headers,
            }
            payload = json.dumps(echo).encode()
        out = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"x-served-by", self.served_by),
            (b"connection", b"keep-alive"),
        ]
        if "x-request-id" in headers:
            out.append((b"x-request-id", headers["x-request-id"].encode()))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})


def bound_socket(port: int = 0) -> socket.socket:
    """A listening loopback socket (port 0: a free one), reusable after a restart."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


class FakeServer:
    """Replica ``n`` served by uvicorn in a thread; ``stop`` and ``start`` keep the port."""

    def __init__(self, n: int, openapi: dict[str, Any] | None = None) -> None:
        self.app = FakeApp(n, openapi)
        self._sock: socket.socket | None = bound_socket()
        self.port: int = self._sock.getsockname()[1]
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, as discovery lists it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeServer:
        """Serve (again) on the same port; returns once the socket accepts."""
        if self._server is not None:
            return self
        sock, self._sock = self._sock or bound_socket(self.port), None
        config = uvicorn.Config(
            self.app, lifespan="off", ws="none", log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 5
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError(f"fake upstream on {self.url} did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Close the socket and every connection: the port refuses from now on."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._server = self._thread = None


if __name__ == "__main__":  # a benchmark upstream: python -m tests.e2e.fake_upstream PORT
    import sys

    uvicorn.run(
        FakeApp(1),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
