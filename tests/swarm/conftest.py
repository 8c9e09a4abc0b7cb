"""A swarm stack for the swarm suite: its own stack name, state directory and free ports.
Teardown removes it with its volumes and secrets and checks that the engine's swarm state is
what it was before (``inactive`` stays ``inactive``: ``up`` made the swarm, ``down`` left it).

The suite turns this engine into a swarm for a few minutes, so it runs only when asked:
TWINSHOP_REQUIRE_SWARM=1. Then no engine, no images or an engine in a swarm it cannot manage
are failures, not skips."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.runtime.processes import free_port
from lab.runtime.swarm import SwarmRuntime, swarm_state
from lab.state import StateDir
from tests.engine import engine_answers, missing_images
from tests.engine import unavailable as engine_unavailable
from tests.support import Stack

REQUIRE_SWARM = os.environ.get("TWINSHOP_REQUIRE_SWARM") == "1"


def unavailable(reason: str) -> None:
    engine_unavailable(reason, required_by="TWINSHOP_REQUIRE_SWARM")


@pytest.fixture(scope="session")
def swarm_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmRuntime]:
    if not REQUIRE_SWARM:
        pytest.skip(
            "the swarm suite makes this engine a swarm for a few minutes: "
            "run it with TWINSHOP_REQUIRE_SWARM=1"
        )
    if not engine_answers():
        unavailable("no Docker engine answers")
    if missing := missing_images():
        unavailable(f"images not built ({', '.join(missing)}): run `twinshop images build`")
    found = swarm_state()
    if found not in ("inactive", "active"):
        unavailable(f"this engine's swarm is {found}")
    home = Path(tmp_path_factory.mktemp("swarm-home"))
    runtime = SwarmRuntime(
        StateDir(home),
        stack=f"twinshop-test-{uuid.uuid4().hex[:8]}",
        edge_ports={"micro": free_port(), "mono": free_port()},
        locust_port=free_port(),
        dashboard_port=free_port(),
    )
    try:
        runtime.up(("micro", "mono"), timeout=420)
        yield runtime
    except LabError as exc:
        pytest.fail(f"the swarm stack did not come up: {exc}", pytrace=False)
    finally:
        runtime.down(volumes=True)
        left = swarm_state()
        assert left == found, f"the engine's swarm was {found} before the tests, {left} after"


@pytest.fixture(scope="session")
def swarm_stack(swarm_runtime: SwarmRuntime) -> Stack:
    return Stack(
        {arch: swarm_runtime._entry(arch) for arch in ("micro", "mono")},
        swarm_runtime.admin_token(),
    )
