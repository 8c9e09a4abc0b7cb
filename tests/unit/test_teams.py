"""The teams experiment's parts: how far a change reaches, the history it replays, the
figures and verdicts it computes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lab import history
from lab.experiments import teams
from lab.imports import ImportGraph, repo_files
from lab.reach import Layout

ROOT = Path(__file__).parents[2]
CATALOG, ORDERS, PLATFORM = "@twinshop/catalog-team", "@twinshop/orders-team", "@twinshop/platform"


@pytest.fixture(scope="module")
def layout() -> Layout:
    return Layout.read(ROOT)


def test_the_import_graph_follows_what_each_entry_really_imports() -> None:
    graph = ImportGraph(ROOT, repo_files(ROOT))
    catalog = graph.closure_files(["services.catalog.app"])
    monolith = graph.closure_files(["monolith.app"])
    gateway = graph.closure_files(["services.gateway.app"])
    assert "services/catalog/reservations.py" in catalog  # the HTTP reservations: micro only
    assert "services/catalog/reservations.py" not in monolith
    assert "shop/orders/saga.py" not in monolith  # the monolith checks out in one transaction
    assert {"shop/orders/services.py", "monolith/inventory.py"} <= monolith
    assert "services/catalog/__init__.py" in catalog  # the packages above the entry run too
    assert not any(f.startswith(("shop/catalog", "shop/orders")) for f in gateway)


def test_a_catalog_change_needs_one_team_in_micro_and_every_team_in_the_monolith(
    layout: Layout,
) -> None:
    micro = layout.impact(["shop/catalog/model.py"], "micro")
    mono = layout.impact(["shop/catalog/model.py"], "mono")
    assert (micro.images, micro.units, micro.teams) == (["catalog"], ["catalog"], [CATALOG])
    assert (mono.images, mono.units) == (["monolith"], ["monolith"])
    assert mono.teams == [CATALOG, ORDERS, PLATFORM]
    assert micro.test_files < mono.test_files
    assert 0 < micro.lines < mono.lines  # a catalog redeploy puts less code at risk


def test_a_kernel_change_reaches_every_service_that_runs_it(layout: Layout) -> None:
    micro = layout.impact(["shop/core/metrics.py"], "micro")
    mono = layout.impact(["shop/core/metrics.py"], "mono")
    assert micro.images == ["catalog", "orders", "gateway"]
    assert sorted(micro.units) == ["catalog", "gateway", "orders"]
    assert mono.images == ["gateway", "monolith"] and sorted(mono.units) == ["lb", "monolith"]
    assert len(micro.images) > len(mono.images)


def test_a_file_copied_but_not_imported_rebuilds_the_image_without_a_redeploy(
    layout: Layout,
) -> None:
    mono = layout.impact(["shop/orders/saga.py"], "mono")  # copied with shop/orders, not run
    assert (mono.images, mono.units) == (["monolith"], [])


def test_docs_and_tooling_reach_no_unit(layout: Layout) -> None:
    for arch in ("micro", "mono"):
        assert layout.impact(["README.md"], arch).images == []
    assert layout.tooling(["loadtests/locustfile.py"]) == ["locust"]
    assert layout.impact(["loadtests/locustfile.py"], "micro").units == []


def test_measured_suite_and_build_times_add_up_per_change(layout: Layout) -> None:
    layout.suite_seconds.update({name: 1.5 for name in layout.suites})
    layout.build_seconds.update({"catalog": 10.0, "orders": 20.0, "gateway": 5.0})
    try:
        micro = layout.impact(["shop/core/metrics.py"], "micro")
        assert (micro.test_seconds, micro.build_seconds) == (4.5, 35.0)
    finally:
        layout.suite_seconds.clear()
        layout.build_seconds.clear()
    micro = layout.impact(["shop/core/metrics.py"], "micro")
    assert (micro.test_seconds, micro.build_seconds) == (None, None)


def test_distribution_median_p90_and_mean() -> None:
    found = teams.distribution([1, 1, 1, 1, 1, 1, 1, 1, 3, 5])
    assert (found["median"], found["p90"], found["mean"], found["max"]) == (1, 3, 1.6, 5)
    assert teams.distribution([])["median"] is None


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_history_lists_each_commit_with_its_changed_files_and_survives_shallow_clones(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for number, path in enumerate(["a.txt", "shop/catalog/x.py", "b.txt"]):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(str(number))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"change {number}")
    full = history.read(repo)
    assert [c.files for c in full.commits] == [("b.txt",), ("shop/catalog/x.py",), ("a.txt",)]
    assert full.total == 3 and "3 of 3" in full.note
    assert [c.subject for c in history.read(repo, last=2).commits] == ["change 2", "change 1"]
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{repo}", "shallow")
    shallow = history.read(tmp_path / "shallow")
    assert [c.files for c in shallow.commits] == [("b.txt",)]  # the boundary commit left out
    assert "shallow clone" in shallow.note


def test_no_git_gives_no_history_and_says_so(tmp_path: Path) -> None:
    found = history.read(tmp_path)
    assert found.commits == [] and "not replayed" in found.note


def test_the_rows_carry_figures_and_a_verdict_computed_from_them(layout: Layout) -> None:
    commits = [
        history.Commit("a" * 40, "catalog only", ("shop/catalog/model.py",)),
        history.Commit("b" * 40, "orders only", ("shop/orders/model.py",)),
        history.Commit("c" * 40, "kernel", ("shop/core/metrics.py",)),
        history.Commit("d" * 40, "docs", ("README.md",)),
    ]
    replayed = teams.replay(layout, commits)
    summary = teams.summarise(teams._impacts(replayed))
    assert (summary["changes"], summary["reaching"]) == (4, 3)
    assert summary["micro"]["one_image_share"] == pytest.approx(2 / 3, abs=0.001)
    assert summary["micro"]["teams"]["median"] == 1
    assert summary["mono"]["teams"]["median"] == 3
    arches = ("micro", "mono")
    modules = {m: {a: vars(layout.impact([m], a)) for a in arches} for m in layout.modules()}
    data = {
        "history": "4 of 4 commits replayed",
        "commits": replayed,
        "commit_summary": summary,
        "modules": modules,
        "module_summary": teams.summarise(teams._impacts(list(modules.values()))),
        "release_teams": {n: sorted(t) for n, t in layout.release.items()},
        "builds": "not measured",
        "pipelines": {a: [d.name for d in layout.deployables(a)] for a in arches},
    }
    team_row, dev_row = teams.rows(data)
    assert team_row.aspect == "Team structure" and dev_row.aspect == "Development and maintenance"
    assert "microservices needs fewer" in team_row.verdict
    assert "the monolith ships only when 3 teams agree" in team_row.verdict
    assert "a kernel change" in team_row.verdict
    assert "66.7% of changes rebuild one image only" in team_row.micro
    assert (
        "test time not measured" in dev_row.micro
        and "image builds (warm) not measured" in dev_row.mono
    )
