"""Under ``pytest -n auto`` a test that needs a shared session stack must run on the worker
that made it. tests/parallel.py groups by node id alone (the controller has no test objects);
here the whole suite is collected and every test's group is checked against the fixtures it
really requests (tests/group_probe.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.parallel import group_of

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_that_needs_a_shared_stack_is_in_its_group(tmp_path: Path) -> None:
    probe = tmp_path / "groups.json"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "tests.group_probe", "tests"],
        cwd=ROOT, env={**os.environ, "TWINSHOP_GROUP_PROBE": str(probe)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    rows = json.loads(probe.read_text())
    needed = {group for _, groups in rows for group in groups}
    assert needed == {"docker", "swarm", "workshop"}  # the probe does see them
    misplaced = [
        (nodeid, g, group_of(nodeid)) for nodeid, g in rows if g and [group_of(nodeid)] != g
    ]
    assert misplaced == []


def test_the_groups_read_from_node_ids() -> None:
    assert group_of("tests/e2e/test_experiments.py::test_x") == "workshop"
    assert group_of("tests/docker/test_stack.py::test_x") == "docker"
    assert (
        group_of("tests/docker/test_base_images.py::test_x") == "tests/docker/test_base_images.py"
    )
    assert group_of("tests/operations/test_operations.py::test_x[docker]") == "docker"
    assert group_of("tests/operations/test_operations.py::test_x[process]") == (
        "tests/operations/test_operations.py"
    )
    assert group_of("tests/swarm/test_node_loss.py::test_x") == "swarm"
    assert group_of("tests/unit/test_x.py::test_y") == "tests/unit/test_x.py"
