"""The scaling row: a verdict only where the spread of the runs allows one, the whole
footprint beside the cost of a replica, whole-number ticks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.experiments.scaling import chart, compare_gains, gain_range, rows


def step(replicas: int, runs: list[float], memory: float, total: float) -> dict[str, Any]:
    median = sorted(runs)[len(runs) // 2]
    return {
        "replicas": replicas, "rps": median, "rps_runs": sorted(runs), "p95_ms": 50.0,
        "failures": 0, "memory_mb": memory, "total_memory_mb": total, "cpus": 1.5 + replicas / 2,
        "rps_per_cpu": median / (1.5 + replicas / 2), "rps_per_gb": median / (total / 1024),
        "instances_seen": replicas,
    }  # fmt: skip


def data(micro_last: list[float], mono_last: list[float]) -> dict[str, Any]:
    return {
        "micro": {"steps": [step(1, [100, 105, 110], 67, 200), step(3, micro_last, 201, 334)]},
        "mono": {"steps": [step(1, [100, 105, 110], 67, 125), step(3, mono_last, 201, 259)]},
        "cpu_limit": {"applied": True, "how": "a cgroup v1 CPU quota per instance"},
    }


def test_the_gain_range_pairs_the_worst_with_the_best() -> None:
    assert gain_range([100, 110], [200, 300]) == (2.38, 1.82, 3.0)


def test_overlapping_ranges_give_no_clear_difference() -> None:
    assert compare_gains((2.0, 1.5, 2.5), (1.8, 1.2, 2.1)) == "none"
    assert compare_gains((3.0, 2.6, 3.2), (1.8, 1.2, 2.1)) == "micro"
    assert compare_gains((1.0, 0.9, 1.1), (1.8, 1.2, 2.1)) == "mono"


def test_the_row_says_no_clear_difference_when_the_spread_overlaps() -> None:
    row = rows(data([180, 250, 300], [200, 240, 260]), users=8, repeats=3, counts=(1, 3))[0]
    assert row.verdict.startswith("no clear difference")
    assert "3 rounds over every step" in row.did


def test_the_row_names_a_winner_only_when_the_ranges_are_apart() -> None:
    row = rows(data([290, 300, 310], [150, 160, 170]), users=8, repeats=3, counts=(1, 3))[0]
    assert row.verdict.startswith("scaling the catalog alone went further")


def test_the_row_shows_the_whole_footprint_and_rps_per_cpu_and_gb() -> None:
    row = rows(data([180, 250, 300], [200, 240, 260]), users=8, repeats=3, counts=(1, 3))[0]
    assert "200 MB (micro: gateway, catalog, orders) vs 125 MB (mono" in row.verdict
    assert "67 MB (catalog) vs 67 MB (monolith)" in row.verdict
    assert "req/s per CPU" in row.micro and "req/s per GB" in row.mono
    assert "(100–110)" in row.micro  # the spread of the runs


def test_without_a_cpu_limit_the_row_recommends_docker() -> None:
    figures = data([180, 250, 300], [200, 240, 260])
    figures["cpu_limit"] = {"applied": False, "how": "no permission"}
    row = rows(figures, users=8, repeats=3, counts=(1, 3))[0]
    assert "--runtime docker" in row.verdict


def test_the_chart_has_whole_replica_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = data([180, 250, 300], [200, 240, 260])
    shown: list[list[float]] = []
    save = plt.Figure.savefig

    def spy(fig: Any, *args: Any, **kwargs: Any) -> None:
        shown.extend(list(ax.get_xticks()) for ax in fig.axes)
        save(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    chart(tmp_path / "scaling.png", figures, (1, 3))
    assert shown and all(ticks == [1, 3] for ticks in shown)
    assert (tmp_path / "scaling.png").stat().st_size > 10_000
