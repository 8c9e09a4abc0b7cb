"""The operations suite runs every test once per runtime, as the contract suite runs once per
architecture: ``process`` (a stack of its own, real processes) and ``docker`` (the docker
suite's compose stack, see tests/engine.py; skipped without an engine unless
TWINSHOP_REQUIRE_DOCKER=1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab.runtime.base import Runtime
from lab.runtime.docker import DockerRuntime
from tests.support import running_stack


@dataclass
class Operated:
    """A runtime under test and its two entries; ``shared``: other suites use this stack
    too, so every test leaves it as it found it (one replica each, the same versions)."""

    kind: str
    runtime: Runtime
    entries: dict[str, str]
    shared: bool


@pytest.fixture(scope="module")
def process_operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operated]:
    """Its own stack: these tests change how many replicas run and which version."""
    with running_stack(tmp_path_factory.mktemp("ops")) as stack:
        assert stack.runtime is not None
        yield Operated("process", stack.runtime, stack.entries, shared=False)


RUNTIMES = [
    pytest.param("process", id="process"),
    # under pytest -n, on the worker that has the compose stack (tests/parallel.py)
    pytest.param("docker", id="docker", marks=pytest.mark.docker),
]


@pytest.fixture(params=RUNTIMES)
def operated(request: pytest.FixtureRequest) -> Iterator[Operated]:
    if request.param == "process":
        operated = request.getfixturevalue("process_operated")
    else:
        runtime: DockerRuntime = request.getfixturevalue("docker_runtime")
        entries = {arch: runtime._entry(arch) for arch in ("micro", "mono")}
        operated = Operated("docker", runtime, entries, shared=True)
    before = _versions(operated)
    yield operated
    after = _versions(operated)
    for unit, versions in after.items():  # one replica each again, at the versions found
        if len(versions) != 1:
            operated.runtime.scale(unit, 1)
        if operated.shared and set(versions) != set(before[unit]):
            operated.runtime.redeploy(unit, before[unit][0])


SCALED = {"catalog": "micro", "orders": "micro", "monolith": "mono"}


def units(operated: Operated, arch: str) -> dict[str, list[dict[str, object]]]:
    """Each unit's instances as ``status`` reports them."""
    return dict(operated.runtime.status()["architectures"][arch]["units"])


def _versions(operated: Operated) -> dict[str, list[str]]:
    """Each scaled unit's instances' versions, from one ``status``."""
    architectures = operated.runtime.status()["architectures"]
    return {
        unit: [str(i["version"]) for i in architectures[arch]["units"][unit]]
        for unit, arch in SCALED.items()
    }
