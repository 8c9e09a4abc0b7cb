"""Each replica's CPU budget on the process runtime: a cgroup quota, as compose's ``cpus``
(here against a fake cgroup tree in a temporary folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.runtime.cpu_budget import PERIOD_US, CpuBudget, cpus_for


def test_the_budget_per_replica_is_composes() -> None:
    assert cpus_for(edge=False, environ={}) == 0.5
    assert cpus_for(edge=True, environ={}) == 1.0
    assert cpus_for(edge=False, environ={"TWINSHOP_UNIT_CPUS": "0.25"}) == 0.25
    assert cpus_for(edge=True, environ={"TWINSHOP_EDGE_CPUS": "lots"}) == 1.0


def fake_v1(root: Path) -> Path:
    cpu = root / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    return root


def test_cgroup_v1_gets_a_quota_of_cpus_times_the_period(tmp_path: Path) -> None:
    budget = CpuBudget.detect(tmp_path / "home", cgroup_root=fake_v1(tmp_path / "cg"))
    assert budget.available and budget.version == 1
    assert budget.limit(os.getpid(), "micro-catalog-1234", 0.5)
    group = budget.base / "micro-catalog-1234"  # type: ignore[operator]
    assert (group / "cpu.cfs_quota_us").read_text() == str(PERIOD_US // 2)
    assert (group / "cpu.cfs_period_us").read_text() == str(PERIOD_US)
    assert (group / "cgroup.procs").read_text() == str(os.getpid())
    assert budget.applied(os.getpid(), "micro-catalog-1234") == 0.5
    assert budget.applied(os.getpid(), "mono-lb-1") is None


def test_cgroup_v2_writes_cpu_max(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    budget = CpuBudget.detect(tmp_path / "home", cgroup_root=root)
    assert budget.available and budget.version == 2
    assert budget.limit(os.getpid(), "mono-lb-8081", 1.0)
    assert (budget.base / "mono-lb-8081" / "cpu.max").read_text() == f"{PERIOD_US} {PERIOD_US}"  # type: ignore[operator]
    assert budget.applied(os.getpid(), "mono-lb-8081") == 1.0


def test_where_no_cgroup_can_be_made_it_says_why(tmp_path: Path) -> None:
    budget = CpuBudget.detect(tmp_path / "home", cgroup_root=tmp_path / "nothing")
    assert not budget.available
    assert "cgroup" in budget.reason
    assert budget.limit(os.getpid(), "x", 0.5) is False


def test_limits_can_be_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINSHOP_CPU_LIMIT", "0")
    budget = CpuBudget.detect(tmp_path / "home", cgroup_root=fake_v1(tmp_path / "cg"))
    assert not budget.available and "TWINSHOP_CPU_LIMIT" in budget.reason


def test_prune_removes_empty_groups(tmp_path: Path) -> None:
    budget = CpuBudget.detect(tmp_path / "home", cgroup_root=fake_v1(tmp_path / "cg"))
    assert budget.base is not None and not budget.base.exists()  # detecting makes nothing
    (budget.base / "micro-orders-1").mkdir(parents=True)
    budget.prune()
    assert not budget.base.exists()
