"""The compose stack for the docker suite: its own project name and free ports, removed
(with its volumes) at the end. Skips where no engine or no images are found, unless
TWINSHOP_REQUIRE_DOCKER=1: then that is a failure."""

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

REQUIRE_DOCKER = os.environ.get("TWINSHOP_REQUIRE_DOCKER") == "1"


def unavailable(reason: str) -> None:
    if REQUIRE_DOCKER:
        pytest.fail(f"{reason} (and TWINSHOP_REQUIRE_DOCKER=1)", pytrace=False)
    pytest.skip(reason)


def _engine_answers() -> bool:
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _missing_images() -> list[str]:
    return [
        image
        for image in IMAGES
        if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode
    ]


@pytest.fixture(scope="session")
def docker_runtime() -> Iterator[DockerRuntime]:
    if not _engine_answers():
        unavailable("no Docker engine answers")
    if missing := _missing_images():
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
