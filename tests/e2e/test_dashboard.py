"""The dashboard: its figures from Prometheus text, and the page in a real browser (Debian's
chromium driven by Playwright, see tests/dashboard_page.py) on the process runtime: a unit
that dies and comes back, a quiet spell, a dead monolith, a scaled catalog."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lab.dashboard.app import create_app
from lab.dashboard.metrics import Window, group_of, parse, quantile, totals
from lab.dashboard.state import Snapshot, unit_view
from lab.runtime.processes import free_port
from tests.dashboard_page import (
    ARTIFACTS,
    UNITS,
    Traffic,
    browser_or_skip,
    figure,
    killed_and_restarted,
    open_page,
    shows_both_architectures_healthy,
    unit_box,
    unit_state,
)
from tests.support import Stack, running_stack

# -- the figures, from Prometheus text (no browser, no stack) ----------------------------

EDGE = """\
# HELP twinshop_requests_total Requests.
# TYPE twinshop_requests_total counter
twinshop_requests_total{unit="gateway",route="catalog",method="GET",status="200"} {browse_ok}
twinshop_requests_total{unit="gateway",route="catalog",method="GET",status="503"} {browse_err}
twinshop_requests_total{unit="gateway",route="orders",method="POST",status="201"} {checkout}
twinshop_requests_total{unit="gateway",route="orders",method="GET",status="200"} 7
twinshop_requests_total{unit="catalog",route="/products",method="GET",status="200"} 999
# TYPE twinshop_request_seconds histogram
twinshop_request_seconds_bucket{unit="gateway",route="catalog",method="GET",le="0.01"} {b1}
twinshop_request_seconds_bucket{unit="gateway",route="catalog",method="GET",le="0.1"} {b2}
twinshop_request_seconds_bucket{unit="gateway",route="catalog",method="GET",le="+Inf"} {b3}
twinshop_request_seconds_count{unit="gateway",route="catalog",method="GET"} {b3}
twinshop_request_seconds_sum{unit="gateway",route="catalog",method="GET"} 1.5
"""


def edge_text(browse_ok: int, browse_err: int, checkout: int, b1: int, b2: int) -> str:
    values = dict(browse_ok=browse_ok, browse_err=browse_err, checkout=checkout, b1=b1, b2=b2,
                  b3=browse_ok + browse_err)  # fmt: skip
    text = EDGE
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def test_parse_reads_labels_values_and_skips_the_rest() -> None:
    text = 'a_total{x="1",y="say \\"hi\\""} 3\n# comment\nbroken line here\nb 2.5 1700000000\n'
    assert parse(text) == [("a_total", {"x": "1", "y": 'say "hi"'}, 3.0), ("b", {}, 2.5)]


@pytest.mark.parametrize(
    ("route", "method", "group"),
    [("catalog", "GET", "browse"), ("orders", "POST", "checkout"), ("orders", "GET", None),
     ("monolith", "GET", "browse"), ("monolith", "POST", "checkout"),
     ("/products/3", "GET", "browse"), ("/orders", "POST", "checkout"), ("/health", "GET", None)],
)  # fmt: skip
def test_route_groups(route: str, method: str, group: str | None) -> None:
    assert group_of(route, method) == group


def test_totals_keep_only_the_edge_and_need_the_counter() -> None:
    sample = totals(edge_text(90, 10, 5, 50, 90), unit="gateway")
    assert sample is not None
    assert sample.requests == {"browse": 100, "checkout": 5}
    assert sample.errors == {"browse": 10, "checkout": 0}
    assert sample.buckets["browse"] == {0.01: 50, 0.1: 90, math.inf: 100}
    assert totals("not found", unit="gateway") is None
    assert totals(edge_text(1, 0, 0, 1, 1), unit="lb") is None


def test_quantile_interpolates_like_prometheus() -> None:
    assert quantile(0.5, {0.1: 50, 0.2: 100, math.inf: 100}) == pytest.approx(0.1)
    assert quantile(0.95, {0.1: 50, 0.2: 100, math.inf: 100}) == pytest.approx(0.19)
    assert quantile(0.95, {0.1: 0, math.inf: 10}) == pytest.approx(0.1)
    assert quantile(0.95, {}) is None


def test_window_turns_counters_into_rates() -> None:
    window = Window(seconds=5)
    assert window.figures()["browse"]["rps"] is None  # one scrape is not a rate
    window.add(totals(edge_text(100, 0, 10, 100, 100), unit="gateway"), now=0.0)
    window.add(totals(edge_text(180, 20, 30, 140, 200), unit="gateway"), now=2.0)
    figures = window.figures()
    assert figures["browse"]["rps"] == pytest.approx(50.0)
    assert figures["browse"]["error_rate"] == pytest.approx(0.2)
    assert figures["browse"]["p95"] is not None and figures["browse"]["p95"] > 0.01
    assert figures["checkout"]["rps"] == pytest.approx(10.0)
    assert figures["checkout"]["p95"] is None  # no histogram for it in this text
    window.add(totals(edge_text(1, 0, 0, 1, 1), unit="gateway"), now=3.0)  # edge restarted
    assert window.figures()["browse"]["rps"] is None
    window.add(None, now=4.0)  # /metrics gone
    assert window.figures()["checkout"]["rps"] is None


def test_window_gives_p50_beside_p95() -> None:
    window = Window(seconds=5)
    window.add(totals(edge_text(0, 0, 0, 0, 0), unit="gateway"), now=0.0)
    window.add(totals(edge_text(100, 0, 0, 60, 100), unit="gateway"), now=1.0)
    browse = window.figures()["browse"]
    assert browse["p50"] is not None and browse["p95"] is not None
    assert browse["p50"] <= 0.01 < browse["p95"]


def test_a_window_never_spans_a_gap_between_scrapes() -> None:
    """After a quiet spell with no scrape, the errors from before it are not averaged in."""
    window = Window(seconds=5, max_gap=2.5)
    window.add(totals(edge_text(0, 0, 0, 0, 0), unit="gateway"), now=0.0)
    window.add(totals(edge_text(10, 20, 0, 30, 30), unit="gateway"), now=1.0)  # errors
    assert window.figures()["browse"]["error_rate"] == pytest.approx(20 / 30)
    window.add(totals(edge_text(20, 20, 0, 40, 40), unit="gateway"), now=31.0)  # a gap
    assert window.figures()["browse"]["rps"] is None  # one scrape since: no figure yet
    window.add(totals(edge_text(30, 20, 0, 50, 50), unit="gateway"), now=32.0)
    assert window.figures()["browse"]["error_rate"] == 0.0
    assert window.span() == pytest.approx(1.0)
    for t in range(33, 45):  # regular scrapes: the window stays about 5 s long
        window.add(totals(edge_text(30 + t, 20, 0, 50 + t, 50 + t), unit="gateway"), now=t)
    assert 5.0 <= (window.span() or 0) <= 6.0


REPLICAS = """twinshop_requests_total{unit="lb",route="own",method="GET",status="200"} 3
twinshop_edge_healthy_replicas{upstream="monolith"} {healthy}
twinshop_edge_breaker_open{upstream="monolith"} 0.0
twinshop_edge_replica_requests_total{upstream="monolith",replica="http://127.0.0.1:1"} {a}
twinshop_edge_replica_requests_total{upstream="monolith",replica="http://127.0.0.1:2"} {b}
"""


def lb_text(healthy: int, a: int, b: int) -> str:
    return REPLICAS.replace("{healthy}", str(healthy)).replace("{a}", str(a)).replace("{b}", str(b))


def test_replica_rates_and_upstream_health_from_the_edge() -> None:
    first, second = totals(lb_text(2, 10, 0), unit="lb"), totals(lb_text(0, 30, 5), unit="lb")
    assert first is not None and second is not None
    assert first.blocked() == [] and second.blocked() == ["monolith"]
    window = Window(seconds=5)
    window.add(first, now=0.0)
    window.add(second, now=2.0)
    assert window.replica_rates() == {
        ("monolith", "http://127.0.0.1:1"): pytest.approx(10.0),
        ("monolith", "http://127.0.0.1:2"): pytest.approx(2.5),
    }


def test_an_edge_with_nothing_healthy_behind_it_is_not_up() -> None:
    up = [{"instance": "e1", "healthy": True, "version": "1", "url": "http://e"}]
    lb = unit_view("lb", True, up, blocked=["monolith"], upstreams=("monolith",))
    assert (lb["state"], lb["healthy"], lb["label"]) == ("down", False, "NO UPSTREAM")
    assert "monolith" in lb["reason"]
    gateway = unit_view("gateway", True, up, blocked=["orders"], upstreams=("catalog", "orders"))
    assert (gateway["state"], gateway["healthy"]) == ("degraded", False)
    fine = unit_view("gateway", True, up, blocked=[], upstreams=("catalog", "orders"))
    assert (fine["state"], fine["healthy"], fine["reason"]) == ("up", True, None)
    catalog = unit_view(
        "catalog", False, [{**up[0], "url": "http://c/"}], rates={("catalog", "http://c"): 4.0}
    )
    assert catalog["replicas"][0]["rps"] == 4.0


class CountingRuntime:
    name = "process"

    def __init__(self) -> None:
        self.calls = 0

    def status(self) -> dict[str, Any]:
        self.calls += 1
        return {"runtime": "process", "architectures": {}}


def test_the_sampler_runs_with_nobody_watching() -> None:
    runtime = CountingRuntime()
    snapshot = Snapshot(runtime, ttl=0.05)

    async def run() -> None:
        snapshot.start()
        await asyncio.sleep(1.0)
        await snapshot.aclose()

    asyncio.run(run())
    assert runtime.calls >= 3  # no get(), yet it sampled


class BrokenRuntime:
    name = "process"

    def status(self) -> dict[str, Any]:
        raise RuntimeError("no state here")


def test_state_shows_every_unit_even_when_status_fails() -> None:
    snapshot = Snapshot(BrokenRuntime())
    try:
        state = snapshot.compute()
    finally:
        snapshot.close()
    assert "no state here" in state["error"]
    got = [(a["arch"], u["name"], u["healthy"]) for a in state["architectures"] for u in a["units"]]
    assert got == [(arch, unit, False) for arch, unit in UNITS]
    assert all(not a["metrics"]["available"] for a in state["architectures"])


# -- the page in a browser, on a real stack ----------------------------------------------


@pytest.fixture(scope="module")
def dash_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    browser_or_skip()
    with running_stack(tmp_path_factory.mktemp("dashboard")) as stack:
        yield stack


@pytest.fixture(scope="module")
def dashboard_url(dash_stack: Stack) -> Iterator[str]:
    """The dashboard app in this process (uvicorn in a thread), on that stack's runtime."""
    import uvicorn

    assert dash_stack.runtime is not None
    port = free_port()
    config = uvicorn.Config(
        create_app(dash_stack.runtime),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the dashboard did not start"
        time.sleep(0.05)
    assert httpx.get(url + "/health").status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(dashboard_url: str) -> Iterator[Any]:
    with open_page(dashboard_url) as tab:
        yield tab


def test_page_shows_both_architectures_healthy(page: Any) -> None:
    shows_both_architectures_healthy(page)


def test_killed_unit_turns_red_and_comes_back(page: Any, dash_stack: Stack) -> None:
    runtime = dash_stack.runtime
    assert runtime is not None
    with Traffic(dash_stack.entries):
        killed_and_restarted(page, runtime)


ORDER = {"customer": "quiet", "items": [{"product_id": 2, "quantity": 1}]}
QUIET_SECONDS = 6.0
"""Longer than the dashboard's 5 s window."""


def test_a_quiet_spell_then_clean_traffic_shows_no_errors(page: Any, dash_stack: Stack) -> None:
    """Checkouts fail while nobody watches; after a quiet spell, clean traffic shows 0 %."""
    runtime = dash_stack.runtime
    assert runtime is not None
    gateway = dash_stack.entries["micro"]
    dashboard = page.url
    page.goto("about:blank")  # no browser on the dashboard from here on
    with httpx.Client(timeout=5.0) as client:
        try:
            runtime.kill("orders")
            failed = [client.post(gateway + "/orders", json=ORDER).status_code for _ in range(10)]
        finally:
            runtime.start("orders")
        assert all(status >= 500 for status in failed), failed  # 503, or 502 mid-kill
        time.sleep(QUIET_SECONDS)
        with Traffic(dash_stack.entries):
            page.goto(dashboard)
            page.wait_for_function(
                """() => {
                  const cell = document.querySelector(
                    'td[data-arch="micro"][data-group="checkout"][data-metric="rps"]');
                  return cell && parseFloat(cell.textContent) > 0;
                }""",
                timeout=10_000,
            )
            assert figure(page, "micro", "checkout", "error_rate") == "0.0 %"


def test_a_killed_monolith_turns_its_column_red(page: Any, dash_stack: Stack) -> None:
    runtime = dash_stack.runtime
    assert runtime is not None
    page.wait_for_selector(unit_box(page, "mono", "monolith", healthy=True), timeout=10_000)
    try:
        runtime.kill("monolith")
        unit_state(page, "mono", "monolith", "down", within=5)
        unit_state(page, "mono", "lb", "down", within=10)  # answers, but nothing behind it
        page.wait_for_selector('section[data-arch="mono"][data-state="down"]', timeout=5_000)
        assert "monolith" in page.locator(unit_box(page, "mono", "lb")).inner_text()
        for arch, unit in UNITS:
            if arch == "micro":
                assert page.locator(unit_box(page, arch, unit)).get_attribute("data-state") == "up"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-monolith-down.png"))
    finally:
        runtime.start("monolith")
    unit_state(page, "mono", "lb", "up", within=15)


def test_each_catalog_replica_shows_its_rate_after_scale_3(page: Any, dash_stack: Stack) -> None:
    runtime = dash_stack.runtime
    assert runtime is not None
    with Traffic(dash_stack.entries):
        runtime.scale("catalog", 3)
        try:
            page.wait_for_function(
                """() => {
                  const rows = [...document.querySelectorAll(
                    '[data-arch="micro"][data-unit="catalog"] li[data-instance]')];
                  return rows.length === 3 && rows.every(r => parseFloat(r.dataset.rps) > 0);
                }""",
                timeout=20_000,
            )
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-catalog-3.png"))
        finally:
            runtime.scale("catalog", 1)
