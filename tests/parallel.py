"""The suite on several pytest-xdist workers (``python3 -m pytest -n auto``), as a pytest
plugin that tests/conftest.py loads.

Work is shared out by *group*, never test by test: a group runs on one worker, so what its
tests share starts once, as in a serial run. A group is what a test needs (``group_of``):

- ``workshop``: WORKSHOP.md run once, its ``twinshop report --quick`` included (the longest);
- ``swarm``: the engine made a swarm once, for the swarm suite;
- ``docker``: the one compose stack of the docker suite and the operations suite's docker runs;
- otherwise the test's module, so a module's own stack (a fixture) starts once.

The long groups go first, and the other workers share out the rest meanwhile. Most of a
worker's time is spent waiting on the processes and containers it started, so ``-n auto``
starts one worker more than there are cores (at least three; ``TWINSHOP_TEST_WORKERS``
overrides it). Without pytest-xdist, or with ``-n 0``, nothing here runs.

(pytest-xdist's own ``--dist loadgroup`` reads a group from a suffix it writes into the node
id, which pytest 9.2 no longer keeps: pytest-xdist issue #1386. Hence a scheduler of our own,
on pytest-xdist's documented hook.)"""

from __future__ import annotations

import os
from typing import Any

import pytest

WORKSHOP_MODULES = ("tests/e2e/test_workshop.py", "tests/e2e/test_experiments.py")
LONG_GROUPS = ("workshop", "swarm", "docker")
"""In the order the workers pick them up, longest first."""


def group_of(nodeid: str) -> str:
    """The group of a test, from its node id alone (the controller has no items)."""
    module = nodeid.split("::")[0]
    if module in WORKSHOP_MODULES:
        return "workshop"
    if module.startswith("tests/swarm/"):
        return "swarm"
    if module.startswith("tests/docker/") and module != "tests/docker/test_base_images.py":
        return "docker"  # base images: containers of their own, no compose stack
    if module.startswith("tests/operations/") and nodeid.endswith("[docker]"):
        return "docker"
    return module


def _rank(nodeid: str) -> int:
    group = group_of(nodeid)
    return LONG_GROUPS.index(group) if group in LONG_GROUPS else len(LONG_GROUPS)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    wanted = os.environ.get("TWINSHOP_TEST_WORKERS")
    return int(wanted) if wanted else max(3, (os.cpu_count() or 1) + 1)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # another mode asked for by name: pytest-xdist's own
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False  # keep the collection's order: long groups first
    return ByGroup(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: the long groups first (a stable sort: each group keeps its order)."""
    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: _rank(item.nodeid))
