"""The consistency soak (``twinshop experiment consistency --quick``) on the process
runtime: random SIGKILLs of every unit under retrying clients, zero violations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.experiments import consistency
from lab.experiments.common import Lab
from lab.topology import UNITS
from tests.support import running_stack

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

FAST = {"TWINSHOP_IDEMPOTENCY_LEASE": "2", "TWINSHOP_RECONCILE_AFTER": "3"}


def test_quick_soak_kills_every_kind_of_unit_and_finds_no_violation(tmp_path: Path) -> None:
    env = {"orders": FAST, "monolith": FAST}
    with running_stack(tmp_path / "lab", unit_env=env, supervise=True) as stack:
        lab = Lab(stack.runtime, tmp_path / "results", quick=True)
        result = consistency.run(lab)
    for arch in ("micro", "mono"):
        figures = result.data[arch]
        assert sum(figures["kills"].values()) >= consistency.QUICK.kills
        assert set(figures["kills"]) <= {u.name for u in UNITS[arch]}  # type: ignore[index]
        assert figures["acks"] > 0
        assert figures["violations"] == []
        assert figures["recovery_s"]["max"] is not None
    assert result.invariants == {"micro": [], "mono": []}
    assert result.rows[0].aspect == "Consistency under crashes"
    json.dumps(result.data)  # saved as JSON by the lab
