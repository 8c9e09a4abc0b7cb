"""`twinshop report --quick` on the process runtime: every experiment runs, and the
qualitative outcomes that must hold on any machine do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.experiments.common import Lab
from lab.experiments.model import ExperimentResult
from lab.report import EXPERIMENTS, run_all
from tests.support import running_stack

QUICK_SAGA = {"orders": {"TWINSHOP_RECONCILE_AFTER": "3", "TWINSHOP_RECONCILE_INTERVAL": "0.5"}}


@pytest.fixture(scope="module")
def report(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, ExperimentResult]]]:
    home = tmp_path_factory.mktemp("experiments")
    with running_stack(home, unit_env=QUICK_SAGA, supervise=True) as stack:
        assert stack.runtime is not None
        lab = Lab(stack.runtime, home / "results", quick=True, entries=stack.entries)
        results = run_all(lab)
        yield lab.results, {r.name: r for r in results}


def test_every_experiment_ran_and_the_report_has_every_row(
    report: tuple[Path, dict[str, ExperimentResult]],
) -> None:
    folder, results = report
    assert set(results) == set(EXPERIMENTS) and "teams" in results
    text = (folder / "report.md").read_text()
    for aspect in ("Structure", "Scalability", "Deployment", "Technological flexibility",
                   "Development and maintenance", "Resilience", "Team structure",
                   "Inter-service communication"):  # fmt: skip
        assert f"| {aspect} |" in text
    assert (folder / "report.html").read_text().count("<tr>") >= 9
    for result in results.values():
        assert (folder / f"{result.name}.json").exists()
        for chart in result.charts:
            assert Path(chart).stat().st_size > 10_000


def test_invariants_hold_after_every_experiment(
    report: tuple[Path, dict[str, ExperimentResult]],
) -> None:
    for result in report[1].values():
        for arch, problems in result.invariants.items():
            assert problems == [], (result.name, arch)


def test_an_orders_crash_stays_local_in_micro_and_takes_the_monolith_down(
    report: tuple[Path, dict[str, ExperimentResult]],
) -> None:
    data = report[1]["resilience"].data
    assert data["micro"]["crash"]["browse_success"] >= 0.99
    assert data["mono"]["crash"]["browse_success"] < 0.5


def test_a_rolling_redeploy_with_two_replicas_fails_no_request(
    report: tuple[Path, dict[str, ExperimentResult]],
) -> None:
    data = report[1]["redeploy"].data
    for arch in ("micro", "mono"):
        rolling = data[arch]["2_replica"]
        assert (rolling["failed_browse"], rolling["failed_checkout"]) == (0, 0), arch


def test_scaling_catalog_to_three_spreads_requests_over_three_instances(
    report: tuple[Path, dict[str, ExperimentResult]],
) -> None:
    steps = report[1]["scaling"].data["micro"]["steps"]
    assert steps[-1]["replicas"] == 3
    assert steps[-1]["instances_seen"] == 3
    assert all(step["rps"] > 0 for step in steps)
