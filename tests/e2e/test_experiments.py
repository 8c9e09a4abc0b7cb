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


def test_the_catalog_swapped_to_rust_and_back_failed_no_request(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["flexibility"]["data"]
    if "error" in data:
        pytest.skip(data["error"])
    for impl in ("rust", "python"):
        assert data["swap"][impl]["failed"] == 0, data["swap"]
        assert data["swap"][impl]["requests"] > 0
    assert data["catalogs"]["rust"]["rps"] > 0 and data["catalogs"]["python"]["rps"] > 0


def test_scaling_repeats_every_step_and_gives_each_replica_a_budget(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["scaling"]["data"]
    assert data["verdict"] in ("micro", "mono", "none")
    for arch in ("micro", "mono"):
        for step in data[arch]["steps"]:
            assert len(step["rps_runs"]) == 3
            assert step["total_memory_mb"] > step["memory_mb"] > 0
    assert "applied" in data["cpu_limit"] and data["cpu_limit"]["how"]


def test_hops_are_counted_from_the_logs(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    data = report[1]["communication"]["data"]
    assert data["micro"]["hops"]["checkout"] == 3  # client→gateway→orders→catalog
    assert data["mono"]["hops"]["checkout"] == 2  # client→lb→monolith
    assert data["micro"]["hops"]["browse"] == data["mono"]["hops"]["browse"] == 2


def test_the_html_report_has_the_invariants_and_a_caption_per_chart(
    report: tuple[Path, dict[str, dict[str, Any]]],
) -> None:
    page = (report[0] / "report.html").read_text()
    charts = sum(len(r["charts"]) for r in report[1].values())
    assert "<h2>Invariants</h2>" in page
    assert page.count("<figcaption>") == charts
