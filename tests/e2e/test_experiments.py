"""`twinshop report --quick` on the process runtime (the run WORKSHOP.md's §9 makes, see
tests/e2e/workshop_run.py): every experiment runs, and the qualitative outcomes that must
hold on any machine do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.report import EXPERIMENTS
from tests.e2e.workshop_run import WORKSHOP_TIMEOUT, WorkshopRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(WORKSHOP_TIMEOUT)]


@pytest.fixture(scope="module")
def report(workshop: WorkshopRun) -> tuple[Path, dict[str, dict[str, Any]]]:
    if not workshop.reports:
        pytest.fail("the workshop's `twinshop report --quick` wrote no report", pytrace=False)
    return workshop.reports[-1].parent, workshop.results()


def test_every_experiment_ran_and_the_report_has_every_row(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    folder, results = report
    assert set(results) == set(EXPERIMENTS) and "teams" in results
    text = (folder / "report.md").read_text()
    for aspect in ("Structure", "Scalability", "Deployment", "Technological flexibility",
                   "Development and maintenance", "Resilience", "Team structure",
                   "Inter-service communication", "Consistency under crashes"):  # fmt: skip
        assert f"| {aspect} |" in text
    assert (folder / "report.html").read_text().count("<tr>") >= 10
    assert [row["aspect"] for row in results["teams"]["rows"]] == [
        "Team structure", "Development and maintenance",
    ]  # fmt: skip
    for result in results.values():
        for chart in result["charts"]:  # saved relative to where `twinshop report` ran
            assert (folder / Path(chart).name).stat().st_size > 10_000


def test_invariants_hold_after_every_experiment(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    for name, result in report[1].items():
        for arch, problems in result["invariants"].items():
            assert problems == [], (name, arch)


def test_an_orders_crash_stays_local_in_micro_and_takes_the_monolith_down(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["resilience"]["data"]
    assert data["micro"]["crash"]["browse_success"] >= 0.99
    assert data["mono"]["crash"]["browse_success"] < 0.5


def test_a_rolling_redeploy_with_two_replicas_fails_no_request(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["redeploy"]["data"]
    for arch in ("micro", "mono"):
        rolling = data[arch]["2_replica"]
        assert (rolling["failed_browse"], rolling["failed_checkout"]) == (0, 0), arch


def test_scaling_catalog_to_three_spreads_requests_over_three_instances(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    steps = report[1]["scaling"]["data"]["micro"]["steps"]
    assert steps[-1]["replicas"] == 3
    assert steps[-1]["instances_seen"] == 3
    assert all(step["rps"] > 0 for step in steps)


def test_a_checkout_against_a_slow_catalog_fails_within_its_budget(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    one = report[1]["communication"]["data"]["micro"]["one_checkout_while_slow"]
    assert one["status"] == 503
    assert one["seconds"] < 2.9  # budget 2 s; catalog answers only after 3 s


def test_the_consistency_soak_found_no_violation(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["consistency"]["data"]
    for arch in ("micro", "mono"):
        assert data[arch]["violations"] == []
        assert sum(data[arch]["kills"].values()) >= 8
