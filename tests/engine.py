"""The Docker engine for the suites that need one, as a pytest plugin (tests/conftest.py
loads it, so the operations suite and the docker suite share one compose stack):

- ``docker_runtime`` / ``docker_stack``: the compose stack, with its own project name and free
  ports, removed (with its volumes) at the end of the session;
- ``engine_answers``, ``missing_images``, ``unavailable``: what the docker and swarm suites
  check first. Without an engine or images they skip, unless TWINSHOP_REQUIRE_DOCKER=1 (or
  TWINSHOP_REQUIRE_SWARM=1 for the swarm suite): then that is a failure."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from lab.errors import LabError
from lab.images import IMAGES
from lab.runtime.docker import DockerRuntime
from lab.runtime.processes import free_port
from tests.support import Stack


def unavailable(reason: str, *, required_by: str = "TWINSHOP_REQUIRE_DOCKER") -> None:
    """Skip, or fail where the variable ``required_by`` is 1: the engine is required."""
    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason} (and {required_by}=1)", pytrace=False)
    pytest.skip(reason)


def engine_answers() -> bool:
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def missing_images() -> list[str]:
    return [
        image
        for image in IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]


@pytest.fixture(scope="session")
def docker_runtime() -> Iterator[DockerRuntime]:
    if not engine_answers():
        unavailable("no Docker engine answers")
    if missing := missing_images():
        unavailable(f"images not built ({', '.join(missing)}): run `twinshop images build`")
    runtime = DockerRuntime(
        project=f"twinshop-test-{uuid.uuid4().hex[:8]}",
        edge_ports={"micro": free_port(), "mono": free_port()},
        locust_port=free_port(),
        dashboard_port=free_port(),
    )
    try:
        runtime.up(("micro", "mono"), timeout=240)
        yield runtime
    except LabError as exc:
        pytest.fail(f"the compose stack did not come up: {exc}", pytrace=False)
    finally:
        runtime.down(volumes=True)


@pytest.fixture(scope="session")
def docker_stack(docker_runtime: DockerRuntime) -> Stack:
    return Stack(
        {arch: docker_runtime._entry(arch) for arch in ("micro", "mono")},
        docker_runtime.admin_token(),
    )
