"""Three swarm nodes on this machine (Docker-in-Docker, see ``tests/swarm/nodes.py``), the
microservices deployed across them by the swarm runtime with placement spread, then one worker
node is stopped: the entry keeps answering and swarm reschedules the lost tasks on the nodes
left. Prints the timeline.

Slow (it builds a node image once, loads the images into every node, and waits for swarm to
notice a dead node): it runs only with TWINSHOP_SWARM_NODES=1 (and is a failure rather than a
skip where it cannot run if TWINSHOP_REQUIRE_SWARM=1 too)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from lab.compose import compose_env
from lab.runtime.swarm import SwarmRuntime
from lab.state import StateDir
from tests.swarm.conftest import REQUIRE_SWARM
from tests.swarm.nodes import Nodes, build_node_image
from tests.traffic import Traffic

pytestmark = [pytest.mark.swarm, pytest.mark.slow]
UNITS = ("catalog", "orders")


def _placement(runtime: SwarmRuntime) -> dict[str, Counter[str]]:
    """unit -> how many running tasks each node has."""
    from lab.runtime.docker import _client

    names = {n.id: n.attrs["Description"]["Hostname"] for n in _client().nodes.list()}
    out: dict[str, Counter[str]] = {}
    for unit in UNITS:
        service = runtime._service(unit)
        out[unit] = Counter(
            names.get(t.get("NodeID", ""), "?")
            for t in service.tasks()
            if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
        )
    return out


def _node_states() -> dict[str, str]:
    from lab.runtime.docker import _client

    return {
        n.attrs["Description"]["Hostname"]: n.attrs["Status"]["State"]
        for n in _client().nodes.list()
    }


def test_losing_a_node_keeps_the_entry_answering_and_reschedules_its_tasks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.environ.get("TWINSHOP_SWARM_NODES") != "1":
        pytest.skip("the multi-node test is slow: run it with TWINSHOP_SWARM_NODES=1")
    try:
        build_node_image(tmp_path)
    except (OSError, RuntimeError) as exc:
        if REQUIRE_SWARM:
            pytest.fail(f"cannot build the node image: {exc}")
        pytest.skip(f"cannot build the node image: {exc}")
    nodes = Nodes(prefix=f"tsn-{uuid.uuid4().hex[:6]}")
    timeline: list[tuple[float, str]] = []
    try:
        started = time.monotonic()
        nodes.start()
        postgres = compose_env().get("TWINSHOP_POSTGRES_IMAGE", "postgres:15")
        images = ["twinshop/gateway:latest", "twinshop/catalog:latest", "twinshop/orders:latest"]
        nodes.load([*images, postgres])
        nodes.form_swarm()
        setup = time.monotonic() - started
        manager = nodes.names[0]
        monkeypatch.setenv("DOCKER_HOST", nodes.engine(manager))
        runtime = SwarmRuntime(
            StateDir(tmp_path / "home"),
            stack="shop",
            host=nodes.addresses[manager],
            edges_on_managers=True,
        )
        runtime.up(("micro",), timeout=600)
        runtime.scale("catalog", 3, timeout=300)
        runtime.scale("orders", 2, timeout=300)
        before = _placement(runtime)
        print(f"\nset-up {setup:.0f} s; tasks per node before: {before}")
        workers = nodes.names[1:]
        hosted = Counter({w: sum(c[w.rsplit("-", 1)[1]] for c in before.values()) for w in workers})
        victim = hosted.most_common(1)[0][0]
        assert hosted[victim] >= 1, before
        assert len({node for c in before.values() for node in c}) >= 2, before
        entry = runtime._entry("micro")
        lost = victim.rsplit("-", 1)[1]
        with Traffic(entry + "/products/1") as traffic:
            time.sleep(3)
            t0 = time.monotonic()
            nodes.stop(victim)
            timeline.append((0.0, f"docker stop {lost} ({hosted[victim]} unit tasks on it)"))
            seen_down = rescheduled = False
            deadline = t0 + 240
            while time.monotonic() < deadline and not (seen_down and rescheduled):
                now = round(time.monotonic() - t0, 1)
                if not seen_down and _node_states().get(lost) == "down":
                    seen_down = True
                    timeline.append((now, f"{lost} is Down in docker node ls"))
                placement = _placement(runtime)
                if not rescheduled and all(
                    lost not in placement[u]
                    and sum(placement[u].values()) == sum(before[u].values())
                    for u in UNITS
                ):
                    rescheduled = True
                    timeline.append((now, f"every task running again elsewhere: {placement}"))
                time.sleep(1)
            time.sleep(3)
        failures = traffic.failed_at
        timeline.append(
            (
                round(time.monotonic() - t0, 1),
                f"GET {entry}/products/1 on a loop: {dict(traffic.codes)}; failures between "
                f"{round(failures[0] - t0, 1) if failures else '-'} s and "
                f"{round(failures[-1] - t0, 1) if failures else '-'} s",
            )
        )
        print("node-loss timeline:\n" + "\n".join(f"  +{t:6.1f} s  {what}" for t, what in timeline))
        assert seen_down and rescheduled, timeline
        assert httpx.get(entry + "/products/1", timeout=10).status_code == 200
        assert traffic.codes[200] > 0.9 * sum(traffic.codes.values()), dict(traffic.codes)
    finally:
        nodes.remove()
