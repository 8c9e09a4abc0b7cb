"""The dashboard: its figures from Prometheus text, and the page in a real browser (Debian's
chromium driven by Playwright, see tests/dashboard_page.py) following a unit that dies and
comes back, on the process runtime."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lab.dashboard.app import create_app
from lab.dashboard.metrics import Window, group_of, parse, quantile, totals
from lab.dashboard.state import Snapshot
from lab.runtime.processes import free_port
from tests.dashboard_page import (
    UNITS,
    Traffic,
    browser_or_skip,
    killed_and_restarted,
    open_page,
    shows_both_architectures_healthy,
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
