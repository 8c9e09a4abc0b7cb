"""The measuring engine's arithmetic: route groups, per-second buckets, percentiles, JSON."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.errors import LabError
from lab.load import (
    DEFAULT_LOCUSTFILE,
    Bucket,
    Histogram,
    LoadResult,
    Recorder,
    describe_failure,
    import_locust,
    load_shoppers,
    route_group,
    run_load,
)


def histogram(values: list[float]) -> Histogram:
    h = Histogram()
    for v in values:
        h.add(v)
    return h


def test_percentiles_are_nearest_rank() -> None:
    h = histogram([float(v) for v in range(1, 101)])  # 1..100, shuffled order does not matter
    assert h.total == 100
    assert h.percentile(0.5) == 50
    assert h.percentile(0.95) == 95
    assert h.percentile(0.99) == 99
    assert h.percentile(1.0) == 100
    assert h.percentile(0.0) == 1
    assert histogram([7.0]).percentile(0.95) == 7.0
    assert Histogram().percentile(0.5) is None
    with pytest.raises(ValueError):
        h.percentile(95)


def test_values_keep_three_significant_digits() -> None:
    h = histogram([0.4567, 12.345, 1234.5, 0.0, -1.0])
    assert sorted(h.counts) == [0.0, 0.457, 12.3, 1230.0]
    assert h.counts[0.0] == 2
    skewed = histogram([1.0] * 90 + [500.0] * 10)
    assert skewed.percentile(0.5) == 1.0
    assert skewed.percentile(0.9) == 1.0
    assert skewed.percentile(0.91) == 500.0


def test_histograms_merge() -> None:
    a, b = histogram([1.0, 2.0]), histogram([3.0, 4.0])
    a.merge(b)
    assert a.total == 4 and a.percentile(0.5) == 2.0 and a.percentile(1.0) == 4.0


@pytest.mark.parametrize(
    ("method", "name", "group"),
    [
        ("GET", "/products", "browse"),
        ("GET", "/products/[id]", "browse"),
        ("get", "/products?limit=3", "browse"),
        ("POST", "/orders", "checkout"),
        ("GET", "/orders", "other"),
        ("POST", "/products", "other"),
        ("GET", "/health", "other"),
    ],
)
def test_route_groups(method: str, name: str, group: str) -> None:
    assert route_group(method, name) == group


def test_series_has_every_second_and_counts_failures() -> None:
    rec = Recorder()
    rec.record("browse", 0.2, 10.0, False)
    rec.record("browse", 0.9, 30.0, False)
    rec.record("browse", 1.5, 20.0, True, "HTTP 503")
    rec.record("browse", 3.1, 40.0, False)
    rec.record("checkout", -0.01, 5.0, False)  # a clock a hair early lands in second 0
    series = rec.series(elapsed=5.0)
    assert set(series) == {"browse", "checkout"}
    assert [b.t for b in series["browse"]] == [0, 1, 2, 3, 4]
    assert series["browse"][0] == Bucket(0, 2, 0, 10.0, 30.0)
    assert series["browse"][1] == Bucket(1, 1, 1, 20.0, 20.0)
    assert series["browse"][2] == Bucket(2, 0, 0, None, None)
    assert series["checkout"][0].requests == 1 and len(series["checkout"]) == 5


def test_totals_leave_out_the_warmup_and_divide_by_the_window() -> None:
    rec = Recorder()
    for t in range(10):
        for _ in range(t + 1):  # second t has t+1 requests
            rec.record("browse", t + 0.5, float(t + 1), t == 9, "HTTP 503")
    everything = rec.totals(0, 10)["browse"]
    assert everything.requests == 55 and everything.failures == 10
    assert everything.rps == 5.5
    assert everything.errors == {"HTTP 503": 10}
    later = rec.totals(2.5, 10)["browse"]  # a fractional warm-up rounds up to whole seconds
    assert later.requests == sum(range(4, 11))
    assert later.rps == round(later.requests / 7, 2)
    assert later.p50_ms == 8.0 and later.p99_ms == 10.0
    assert later.failure_ratio == pytest.approx(10 / later.requests)
    window = rec.totals(3, 5)["browse"]
    assert window.requests == 4 + 5 and window.errors == {}
    assert rec.totals(0, 10)["checkout"].requests == 0
    assert rec.totals(0, 10)["checkout"].p95_ms is None


def test_result_round_trips_through_json() -> None:
    rec = Recorder()
    rec.record("checkout", 0.5, 12.0, False)
    result = LoadResult(
        target="micro",
        host="http://127.0.0.1:1",
        scenario="mixed",
        users=2,
        spawn_rate=2.0,
        duration_s=1.0,
        warmup_s=0.0,
        started_at=100.0,
        ended_at=101.25,
        series=rec.series(1.0),
        totals=rec.totals(0, 1),
        order_ids=["o-1"],
        _recorder=rec,
    )
    assert result.window(0, 1)["checkout"].requests == 1
    body = result.to_dict()
    assert body["elapsed_s"] == 1.25 and "_recorder" not in body
    again = LoadResult.from_json(result.to_json())
    assert again.to_dict() == body
    assert again.series["checkout"][0] == Bucket(0, 1, 0, 12.0, 12.0)
    with pytest.raises(ValueError):
        again.window(0, 1)


def test_failure_reasons_group_well() -> None:
    import_locust()  # never import locust before lab.load did: it would monkey-patch
    from locust.exception import CatchResponseError

    assert describe_failure(CatchResponseError("201 without an order id")) == (
        "201 without an order id"
    )
    assert describe_failure(ValueError("x"), SimpleNamespace(status_code=503)) == "HTTP 503"
    refused = ConnectionRefusedError("refused by http://127.0.0.1:9/orders")
    assert describe_failure(refused) == "ConnectionRefusedError: refused by <url>"
    assert describe_failure(TimeoutError()) == "TimeoutError"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scenario": "shopping"},
        {"users": 0},
        {"duration": 0},
        {"warmup_seconds": 5, "duration": 5},
        {"actions": [(11.0, print)], "duration": 10},
    ],
)
def test_bad_arguments_fail_before_any_load(kwargs: dict[str, object]) -> None:
    with pytest.raises(LabError):
        run_load({"micro": "http://127.0.0.1:9"}, **kwargs)  # type: ignore[arg-type]


def test_the_locustfile_meets_the_engines_interface(tmp_path: Path) -> None:
    """The lab uses the User classes and ``acknowledged_orders(environment)``, kept per
    environment (the engine runs one per target in one process)."""
    shoppers = load_shoppers(DEFAULT_LOCUSTFILE)
    assert [cls.__name__ for cls in shoppers.users] == ["Shopper"]
    from locust.env import Environment

    micro, mono = Environment(), Environment()
    shoppers.acknowledged_orders(micro).append("o-1")
    assert shoppers.acknowledged_orders(micro) == ["o-1"]
    assert shoppers.acknowledged_orders(mono) == []
    without_orders = tmp_path / "plain.py"
    without_orders.write_text("from locust import HttpUser\n\nclass Reader(HttpUser):\n    pass\n")
    assert load_shoppers(without_orders).acknowledged_orders(micro) == []
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(LabError, match="no locust User"):
        load_shoppers(empty)
