from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Shared browser checks live outside test modules: let pytest explain their asserts too.
pytest.register_assert_rewrite("tests.dashboard_page")

from tests.support import Api, Stack, running_stack, stack_from_env  # noqa: E402

# The Docker engine's fixtures (the compose stack), shared by the docker and operations suites.
pytest_plugins = ("tests.engine",)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both architectures, started once for the session as real processes."""
    existing = stack_from_env()
    if existing is not None:
        yield existing
        return
    with running_stack(tmp_path_factory.mktemp("twinshop")) as started:
        yield started


@pytest.fixture(params=["micro", "mono"])
def api(request: pytest.FixtureRequest, stack: Stack) -> Iterator[Api]:
    """The same test, once through the gateway (micro) and once through the lb (mono)."""
    client = Api(request.param, stack.entries[request.param], stack.admin_token)
    yield client
    client.close()


# -- running in parallel (pytest-xdist: ``python3 -m pytest -n auto``) -------------------------

SHARED_STACKS = {
    "docker_runtime": "docker",  # one compose project for the docker suite
    "swarm_runtime": "swarm",  # the engine becomes a swarm once, for the swarm suite
    "workshop": "workshop",  # WORKSHOP.md, `twinshop report --quick` included, runs once
}
"""A test that needs one of these session fixtures runs on the worker that made it."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than there are cores (at least three), since most of a
    worker's time is spent waiting on processes and containers it started, not on the CPU.
    ``TWINSHOP_TEST_WORKERS`` overrides it."""
    wanted = os.environ.get("TWINSHOP_TEST_WORKERS")
    return int(wanted) if wanted else max(3, (os.cpu_count() or 1) + 1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests for ``--dist loadgroup``: those sharing a session stack (above) on one
    worker, and otherwise each module's tests together, so a module fixture (a stack of its
    own) starts once, as in a serial run. The shared stacks' groups go first: they are the
    longest, and the other workers share out the rest meanwhile."""
    if config.getoption("dist", "no") == "no":
        return
    first = list(SHARED_STACKS.values())
    groups: dict[str, int] = {}
    for item in items:
        if mark := item.get_closest_marker("xdist_group"):  # set by the test itself
            name = mark.args[0] if mark.args else mark.kwargs.get("name")
            groups[item.nodeid] = first.index(name) if name in first else len(first)
            continue
        fixtures = set(getattr(item, "fixturenames", ()))
        shared = next((g for name, g in SHARED_STACKS.items() if name in fixtures), None)
        group = shared or item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
        groups[item.nodeid] = first.index(shared) if shared else len(first)
    items.sort(key=lambda item: groups[item.nodeid])  # stable: a group keeps its order
