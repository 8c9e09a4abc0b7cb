"""The dashboard as a compose service (port 8090 by default): it sees both architectures from
inside the stack's network, with no Docker socket, and follows a kill and a start in a real
browser."""

from __future__ import annotations

import httpx
import pytest

from lab.runtime.docker import DockerRuntime
from tests.dashboard_page import (
    UNITS,
    Traffic,
    browser_or_skip,
    killed_and_restarted,
    open_page,
    shows_both_architectures_healthy,
)
from tests.support import eventually

pytestmark = pytest.mark.docker


def test_the_compose_dashboard_lists_every_unit_with_the_published_entries(
    docker_runtime: DockerRuntime,
) -> None:
    url = docker_runtime.dashboard

    def all_healthy() -> bool:
        state = httpx.get(url + "/api/state", timeout=5).json()
        return all(u["healthy"] for a in state["architectures"] for u in a["units"])

    eventually(all_healthy, within=20, what="every unit healthy on the compose dashboard")
    state = httpx.get(url + "/api/state", timeout=5).json()
    assert state["runtime"] == "compose"
    assert [(a["arch"], u["name"]) for a in state["architectures"] for u in a["units"]] == UNITS
    entries = {a["arch"]: a["entry"] for a in state["architectures"]}
    assert entries == {
        "micro": f"http://127.0.0.1:{docker_runtime.edge_ports['micro']}",
        "mono": f"http://127.0.0.1:{docker_runtime.edge_ports['mono']}",
    }
    for arch in state["architectures"]:  # it reads the edges' /metrics over the network
        assert arch["metrics"]["available"], arch["arch"]
    container = docker_runtime._unit_containers("dashboard", running=True)[0]
    mounts = [m.get("Source", "") for m in container.attrs["Mounts"]]
    assert not any("docker.sock" in m for m in mounts)


def test_the_compose_dashboard_turns_orders_red_and_green_again(
    docker_runtime: DockerRuntime,
) -> None:
    browser_or_skip()
    entries = {arch: docker_runtime._entry(arch) for arch in ("micro", "mono")}
    with open_page(docker_runtime.dashboard) as page:
        shows_both_architectures_healthy(page)
        with Traffic(entries):
            killed_and_restarted(page, docker_runtime, name="dashboard-compose")
