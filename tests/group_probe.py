"""A pytest plugin for tests/unit/test_parallel_groups.py: after collecting, write which
shared session stacks each test needs (by the fixtures it really requests) to the JSON file
named by ``TWINSHOP_GROUP_PROBE``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SHARED = {  # session fixture -> the module that defines it -> its group (tests/parallel.py)
    "docker_runtime": ("tests.engine", "docker"),
    "swarm_runtime": ("tests.swarm.conftest", "swarm"),
    "workshop": ("tests.e2e.conftest", "workshop"),
}


def needs(item: pytest.Item) -> list[str]:
    """The shared stacks ``item`` uses: the fixtures it requests, or the compose stack the
    operations suite asks for by its ``docker`` parameter."""
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs if info is not None else {}
    found = {
        group
        for name, (module, group) in SHARED.items()
        if name in defs and defs[name][-1].func.__module__ == module
    }
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("operated") == "docker":
        found.add("docker")
    return sorted(found)


def pytest_collection_finish(session: pytest.Session) -> None:
    out = os.environ.get("TWINSHOP_GROUP_PROBE")
    if out:
        rows = [[item.nodeid, needs(item)] for item in session.items]
        Path(out).write_text(json.dumps(rows))
