"""``twinshop dashboard``: serve the live page in the foreground until Ctrl-C."""

from __future__ import annotations

import errno
import socket
from typing import Annotated
from urllib.parse import urlsplit

import typer

from lab.console import console, friendly
from lab.errors import LabError
from lab.runtime.process import ProcessRuntime, default_traces_to
from lab.runtimes import HomeOpt, RuntimeOpt, make_runtime


def check_port(host: str, port: int) -> None:
    """A clear error now rather than uvicorn's traceback later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LabError(
                    f"port {port} on {host} is in use; stop what uses it or pick another "
                    "port (twinshop dashboard --port N)"
                ) from None
            raise LabError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@friendly
def dashboard_command(
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    port: Annotated[int, typer.Option("--port", help="port of the dashboard")] = 8090,
    host: Annotated[
        str, typer.Option("--host", help="address to listen on (0.0.0.0 to share it)")
    ] = "127.0.0.1",
) -> None:
    """Show both architectures live in a browser (read-only; Ctrl-C stops it)."""
    import uvicorn

    from lab.dashboard.app import create_app

    rt = make_runtime(runtime, home)
    try:
        check_port(host, port)
    except LabError:
        if port != getattr(rt, "dashboard_port", None):  # only the docker runtime has one
            raise
        raise LabError(
            f"port {port} is in use: the compose stack serves its own dashboard there "
            f"(open http://127.0.0.1:{port}); to run this one too, pick another port "
            "(twinshop dashboard --runtime docker --port N)"
        ) from None
    app = create_app(rt)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(
        f"dashboard of the {rt.name} runtime at [bold]http://{shown}:{port}[/] · Ctrl-C stops it"
    )
    if isinstance(rt, ProcessRuntime):
        traces_to = rt.state.load().get("traces_to") or default_traces_to()
        if urlsplit(traces_to).port != port:
            console.print(
                f"[yellow]the units send their traces to {traces_to}, not here: to see them, "
                f"start the shop with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:{port}[/]"
            )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, ws="none")
    console.print("dashboard stopped")
