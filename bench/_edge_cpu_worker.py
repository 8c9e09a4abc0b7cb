"""One measurement for ``edge_cpu.py``: client, edge and upstream in one process and thread.

    PYTHONPATH=TREE python bench/_edge_cpu_worker.py --http edge|httptools|none \\
        --requests N --connections C

A trivial upstream (an asyncio protocol with a canned answer), the edge of the checkout on
``PYTHONPATH`` served by uvicorn on loopback, and keep-alive clients, all on one uvloop
loop.  Prints the CPU time of this process per request (µs) as JSON.  Everything but the
edge is the same code in every variant, and a process's CPU time does not count the time
it waited for a core, so the differences between variants are the edge's own cost, even on
a machine that other work keeps busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from typing import Any

import uvloop

HOST = "127.0.0.1"
BODY = b'{"id": 1, "sku": "SKU-1", "name": "Product 1", "price_cents": 100, "stock": 5}'
ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-served-by: fake/1\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)
REQUEST = b"GET /products/1 HTTP/1.1\r\nHost: edge\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"


class Upstream(asyncio.Protocol):
    """Answers every request head with ``ANSWER`` (GET only, so no body to skip)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(ANSWER)


class Client(asyncio.Protocol):
    """Sends ``REQUEST`` again each time the previous answer has fully arrived."""

    def __init__(self, left: list[int], done: asyncio.Future[None]) -> None:
        self.left = left
        self.done = done
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.next()

    def next(self) -> None:
        if self.left[0] <= 0:
            if not self.done.done():
                self.done.set_result(None)
            return
        self.left[0] -= 1
        self.transport.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            start = head.find(b"content-length:") + 15
            stop = head.find(b"\r\n", start)
            length = int(head[start : stop if stop >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            assert head.startswith(b"http/1.1 200"), head[:40]
            self.buffer = self.buffer[end + 4 + length :]
            self.next()


async def drive(port: int, connections: int, requests: int) -> None:
    loop = asyncio.get_running_loop()
    left = [requests]
    done: asyncio.Future[None] = loop.create_future()
    transports = []
    for _ in range(connections):
        transport, _ = await loop.create_connection(lambda: Client(left, done), HOST, port)
        transports.append(transport)
    await done
    await asyncio.sleep(0.01)  # the last answers in flight
    for transport in transports:
        transport.close()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    upstream = await loop.create_server(Upstream, HOST, 0)
    upstream_port = upstream.sockets[0].getsockname()[1]
    os.environ.update(
        TWINSHOP_UNIT="gateway",
        TWINSHOP_INSTANCE="bench",
        TWINSHOP_LOG_REQUESTS="0",
        TWINSHOP_ROUTES=json.dumps({"/products": "upstream"}),
        TWINSHOP_UPSTREAMS=json.dumps({"upstream": f"list:http://{HOST}:{upstream_port}"}),
    )
    if args.http == "none":  # no edge: what the client and the upstream cost by themselves
        await drive(upstream_port, args.connections, args.requests // 5)
        start = time.process_time()
        await drive(upstream_port, args.connections, args.requests)
        cpu = time.process_time() - start
        upstream.close()
        return {"http": "none", "cpu_us_per_req": cpu / args.requests * 1e6}

    import uvicorn

    from services.gateway.app import app  # the checkout on PYTHONPATH

    http: Any = args.http
    if http == "edge":
        from services.gateway.limits import EdgeLimits
        from services.gateway.protocol import protocol_for

        http = protocol_for(EdgeLimits.from_settings(app.settings))
    sock = socket.create_server((HOST, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, http=http, lifespan="on", log_level="warning", access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    await drive(port, args.connections, args.requests // 5)  # warm-up
    start = time.process_time()
    await drive(port, args.connections, args.requests)
    cpu = time.process_time() - start
    server.should_exit = True
    await serving
    upstream.close()
    return {"http": args.http, "cpu_us_per_req": cpu / args.requests * 1e6}


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--http", default="httptools")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--connections", type=int, default=1)
    sys.stdout.write(json.dumps(uvloop.run(main(p.parse_args()))) + "\n")
