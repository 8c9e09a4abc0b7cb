"""Which runtime a command drives (``--runtime process|docker|swarm``), built from the options
and the environment; shared by every CLI module."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from lab.compose import DEFAULT_PROJECT, project_name
from lab.errors import LabError
from lab.runtime.base import Runtime
from lab.runtime.docker import DockerRuntime
from lab.runtime.process import ProcessRuntime
from lab.runtime.swarm import SwarmRuntime, advertise_addr, publish_mode
from lab.state import StateDir
from lab.topology import Arch

RuntimeOpt = Annotated[
    str,
    typer.Option(
        "--runtime",
        metavar="process|docker|swarm",
        help="process (local processes), docker (compose stack) or swarm (a swarm stack)",
    ),
]
HomeOpt = Annotated[
    str | None,
    typer.Option(
        "--home",
        metavar="DIR",
        help="state folder [env TWINSHOP_HOME, else ~/.local/state/twinshop]",
    ),
]


def make_runtime(
    runtime: str,
    home: str | None,
    *,
    gateway_port: int | None = None,
    lb_port: int | None = None,
) -> Runtime:
    """The runtime a person asked for. The process runtime runs a supervisor (crashed
    instances come back by themselves, as with Docker's restart policy)."""
    ports: dict[Arch, int] = {
        "micro": gateway_port or int(os.environ.get("TWINSHOP_GATEWAY_PORT", 8080)),
        "mono": lb_port or int(os.environ.get("TWINSHOP_LB_PORT", 8081)),
    }
    host = os.environ.get("TWINSHOP_BIND", "127.0.0.1")
    if runtime == "process":
        return ProcessRuntime(StateDir.from_env(home), host=host, edge_ports=ports, supervise=True)
    if runtime == "docker":
        project = project_name()
        return DockerRuntime(
            project=project,
            host=host,
            edge_ports=ports,
            locust_port=int(os.environ.get("TWINSHOP_LOCUST_PORT", 8089)),
            dashboard_port=int(os.environ.get("TWINSHOP_DASHBOARD_PORT", 8090)),
        )
    if runtime == "swarm":
        return SwarmRuntime(
            StateDir.from_env(home),
            stack=os.environ.get("TWINSHOP_STACK", DEFAULT_PROJECT),
            host=host,
            edge_ports=ports,
            locust_port=int(os.environ.get("TWINSHOP_LOCUST_PORT", 8089)),
            dashboard_port=int(os.environ.get("TWINSHOP_DASHBOARD_PORT", 8090)),
            advertise_addr=advertise_addr(),
            publish=publish_mode(),
        )
    raise LabError(f"--runtime must be process, docker or swarm, not {runtime!r}")
