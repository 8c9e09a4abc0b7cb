"""The contract suite, unchanged, against the gateway and the lb of the swarm stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import Stack

pytestmark = pytest.mark.swarm

ROOT = Path(__file__).resolve().parents[2]


def test_contract_suite_passes_on_the_swarm_stack(swarm_stack: Stack) -> None:
    entries = ",".join(f"{arch}={url}" for arch, url in swarm_stack.entries.items())
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/contract", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={
            **os.environ,
            "TWINSHOP_TEST_ENTRIES": entries,
            "TWINSHOP_ADMIN_TOKEN": swarm_stack.admin_token,
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary
