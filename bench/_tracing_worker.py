"""One measurement of ``tracing.py --cpu``: the CPU time of one request, in this process.

    python bench/_tracing_worker.py edge|unit off|unrecorded|recorded N

``edge``: the edge's ASGI app (``services.gateway.app.Edge``) with an upstream client that
answers at once; ``unit``: the catalog's app on SQLite, ``GET /products/1``. Both called
directly on one event loop, N times after a warm-up; prints the CPU µs per request (JSON).
Spans are recorded into nothing (no exporter): what is measured is making them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from typing import Any

WHAT, MODE, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.environ.update(
    TWINSHOP_TRACING="0" if MODE == "off" else "1",
    TWINSHOP_TRACE_SAMPLE="1" if MODE == "recorded" else "0",
    TWINSHOP_TRACE_EVERY="0",
    TWINSHOP_LOG_REQUESTS="1",
)
os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)

Message = dict[str, Any]


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    pass


def scope(path: str) -> Message:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"shop"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip


def edge_app() -> Any:
    from services.gateway.app import Edge
    from services.gateway.config import EdgeSettings
    from services.gateway.transport import RawResponse

    class Instant:
        async def request(self, *args: Any, **kwargs: Any) -> RawResponse:
            return RawResponse(200, [(b"content-type", b"application/json")], b"{}")

        def sweep(self) -> None:
            pass

        async def close(self) -> None:
            pass

    settings = EdgeSettings(
        UNIT="lb", INSTANCE="b", ROUTES={"/": "monolith"}, UPSTREAMS={"monolith": "list:http://a:1"}
    )
    edge = Edge(settings)
    for upstream in edge.upstreams.values():
        upstream.balancer.update(upstream.discovery.replicas())
        upstream._client = Instant()
    edge._started = True
    return edge


async def run(app: Any) -> float:
    request = scope("/products/1")
    for _ in range(max(200, COUNT // 10)):
        await app(request, receive, send)
    started = time.process_time()
    for _ in range(COUNT):
        await app(request, receive, send)
    return (time.process_time() - started) / COUNT * 1e6


async def main() -> float:
    if WHAT == "edge":
        return await run(edge_app())
    from services.catalog.app import create_app
    from shop.kernel.config import UnitSettings

    folder = tempfile.mkdtemp(prefix="twinshop-tracing-")
    settings = UnitSettings(
        UNIT="catalog", INSTANCE="b", DATABASE_URL=f"sqlite:///{folder}/c.db", SEED_PRODUCTS=3
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        return await run(app)


if __name__ == "__main__":
    with open(os.devnull, "w") as quiet:  # the request log lines
        sys.stdout = quiet
        cpu_us = asyncio.run(main())
        sys.stdout = sys.__stdout__
    print(json.dumps({"what": WHAT, "mode": MODE, "cpu_us": round(cpu_us, 1)}))
