"""The resilience experiment on the compose stack: the same qualitative outcome as in the
process runtime, with Docker's restart policy bringing the crashed unit back."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.experiments import resilience
from lab.experiments.common import Lab
from lab.runtime.docker import DockerRuntime
from tests.support import Stack

pytestmark = pytest.mark.docker


def test_an_orders_crash_stays_local_in_micro_on_docker(
    docker_runtime: DockerRuntime, docker_stack: Stack, tmp_path: Path
) -> None:
    lab = Lab(docker_runtime, tmp_path, quick=True, entries=docker_stack.entries)
    result = resilience.run(lab)
    crash = {arch: result.data[arch]["crash"] for arch in ("micro", "mono")}
    assert crash["micro"]["browse_success"] >= 0.99, crash
    assert crash["mono"]["browse_success"] < 0.5, crash
    assert all(problems == [] for problems in result.invariants.values())
    assert Path(result.charts[0]).exists()
