"""Run the edge: uvicorn, configured in code, with the edge's own HTTP protocol.

    python -m services.gateway --host 0.0.0.0 --port 8000

Every setting comes from ``EdgeSettings`` (``TWINSHOP_*``); the options here are only
where to listen and how long to wait for in-flight requests at shutdown.  Starting the
edge this way (and not with ``uvicorn services.gateway.app:app``) is what puts its client
limits in force: ``services.gateway.protocol``.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import resource
from collections.abc import Sequence

import uvicorn

from services.gateway.app import Edge
from services.gateway.limits import EdgeLimits
from services.gateway.protocol import EdgeProtocol, protocol_for

log = logging.getLogger("twinshop.edge")

SPARE_FILES = 256
"""File descriptors beyond two per client connection (one upstream each, logs, DNS)."""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    p.add_argument(
        "--timeout-graceful-shutdown",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on SIGTERM, wait this long for in-flight requests (10)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn's log level (info)")
    p.add_argument(
        "--http",
        choices=["edge", "httptools", "h11"],
        default="edge",
        help="the HTTP protocol: the edge's (limits enforced), or uvicorn's own, without "
        "the limits (for benchmarks only)",
    )
    return p.parse_args(argv)


def config(args: argparse.Namespace, app: Edge, limits: EdgeLimits) -> uvicorn.Config:
    """The uvicorn configuration of ``app``, with the edge's protocol bound to ``limits``."""
    settings = app.settings
    http: type[EdgeProtocol] | str = protocol_for(limits) if args.http == "edge" else args.http
    return uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http=http,
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        ws="none",
        lifespan="on",
        access_log=False,  # the edge writes its own JSON line per request
        proxy_headers=False,  # nothing reads the client's address
        timeout_keep_alive=int(settings.IDLE_TIMEOUT) or 1,  # uvicorn's protocols only
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        log_level=args.log_level,
    )


def raise_open_files_limit(limits: EdgeLimits) -> None:
    """Let the process hold ``max_connections`` clients and their upstream connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2 * limits.max_connections + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < wanted:
        log.warning(
            "open files limited to %d: fewer than %d connections may fail to be accepted",
            target,
            limits.max_connections,
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    from services.gateway.app import app  # reads the settings from the environment

    limits = EdgeLimits.from_settings(app.settings)
    raise_open_files_limit(limits)
    uvicorn.Server(config(args, app, limits)).run()
