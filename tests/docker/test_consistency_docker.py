"""The consistency soak on the compose stack: `docker kill` of random containers (edges
included), each started again at once, under retrying clients; zero violations."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.experiments import consistency
from lab.experiments.common import Lab
from lab.runtime.docker import DockerRuntime

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(900)]


def test_quick_soak_on_docker_finds_no_violation(
    docker_runtime: DockerRuntime, tmp_path: Path
) -> None:
    lab = Lab(docker_runtime, tmp_path, quick=True)
    result = consistency.run(lab)
    for arch in ("micro", "mono"):
        figures = result.data[arch]
        assert sum(figures["kills"].values()) >= consistency.QUICK.kills
        assert figures["acks"] > 0
        assert figures["violations"] == []
