"""The dashboard: its figures from Prometheus text, and the page in a real browser (Debian's
chromium driven by Playwright) following a unit that dies and comes back.

Without chromium or playwright the browser tests skip and say why, unless
``TWINSHOP_REQUIRE_BROWSER=1`` (CI, after ``.ci/browser.sh``), which makes that a failure."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.dashboard.app import create_app
from lab.dashboard.metrics import Window, group_of, parse, quantile, totals
from lab.dashboard.state import Snapshot
from lab.runtime.processes import free_port
from tests.support import Stack, running_stack

CHROMIUM = os.environ.get("TWINSHOP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
UNITS = [("micro", "gateway"), ("micro", "catalog"), ("micro", "orders"), ("mono", "lb"),
         ("mono", "monolith")]  # fmt: skip


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


def browser_or_skip() -> None:
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e '.[dev]')")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append(f"no chromium at {CHROMIUM} (apt-get install chromium, or .ci/browser.sh)")
    if not problems:
        return
    reason = "; ".join(problems)
    if os.environ.get("TWINSHOP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"TWINSHOP_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab = browser.new_page(viewport={"width": 1920, "height": 1080})
            tab.goto(dashboard_url)
            yield tab
        finally:
            browser.close()


def unit_box(page: Any, arch: str, unit: str, healthy: bool | None = None) -> str:
    selector = f'[data-arch="{arch}"][data-unit="{unit}"]'
    return selector if healthy is None else selector + f'[data-healthy="{str(healthy).lower()}"]'


def test_page_shows_both_architectures_healthy(page: Any) -> None:
    for arch, unit in UNITS:
        page.wait_for_selector(unit_box(page, arch, unit, healthy=True), timeout=10_000)
    assert page.locator("[data-unit]").count() == len(UNITS)
    orders = page.locator(unit_box(page, "micro", "orders"))
    assert orders.get_attribute("data-replicas") == "1"
    assert "v1" in orders.inner_text()
    state = httpx.get(page.url.rstrip("/") + "/api/state").json()
    assert [a["arch"] for a in state["architectures"]] == ["micro", "mono"]
    figures = page.locator("[data-group][data-metric]")
    assert figures.count() == 2 * 2 * 3  # 2 arches x browse/checkout x rps/errors/p95


class Traffic:
    """Browsing and checkouts on both entries in a thread, so that the figures move."""

    def __init__(self, entries: dict[str, str]) -> None:
        self.entries = entries
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="traffic", daemon=True)

    def run(self) -> None:
        order = {"customer": "ada", "items": [{"product_id": 1, "quantity": 1}]}
        with httpx.Client(timeout=2.0) as client:
            while not self.stop.is_set():
                for entry in self.entries.values():
                    try:
                        client.get(entry + "/products?limit=3")
                        client.post(entry + "/orders", json=order)
                    except httpx.HTTPError:
                        pass
                self.stop.wait(0.1)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def figure(page: Any, arch: str, group: str, metric: str) -> str:
    selector = f'td[data-arch="{arch}"][data-group="{group}"][data-metric="{metric}"]'
    return str(page.locator(selector).inner_text())


def test_killed_unit_turns_red_and_comes_back(page: Any, dash_stack: Stack) -> None:
    runtime = dash_stack.runtime
    assert runtime is not None
    with Traffic(dash_stack.entries):
        killed_and_restarted(page, runtime)


def killed_and_restarted(page: Any, runtime: Any) -> None:
    page.wait_for_selector(unit_box(page, "micro", "orders", healthy=True), timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)

    runtime.kill("orders")
    killed = time.monotonic()
    page.wait_for_selector(unit_box(page, "micro", "orders", healthy=False), timeout=3_000)
    shown_down = time.monotonic() - killed
    assert page.locator(unit_box(page, "micro", "orders")).get_attribute("data-state") == "down"
    for arch, unit in UNITS:  # only orders went down
        if unit != "orders":
            assert page.locator(unit_box(page, arch, unit)).get_attribute("data-healthy") == "true"
    state = httpx.get(page.url.rstrip("/") + "/api/state").json()
    if all(a["metrics"]["available"] for a in state["architectures"]):
        # the edges count: browsing goes on on both, checkout fails behind the gateway only
        page.wait_for_function(
            """() => {
              const cell = (a, g, m) => document.querySelector(
                `td[data-arch="${a}"][data-group="${g}"][data-metric="${m}"]`).textContent;
              return parseFloat(cell("micro", "checkout", "error_rate")) > 50
                && parseFloat(cell("micro", "browse", "rps")) > 0
                && parseFloat(cell("mono", "browse", "rps")) > 0;
            }""",
            timeout=8_000,
        )
        assert figure(page, "mono", "checkout", "error_rate") in ("0.0 %", "—")
    else:  # no /metrics at the edges: the page says so instead of guessing
        assert figure(page, "micro", "browse", "rps") == "—"
    page.screenshot(path=str(ARTIFACTS / "dashboard-orders-down.png"))

    runtime.start("orders")
    started = time.monotonic()
    page.wait_for_selector(unit_box(page, "micro", "orders", healthy=True), timeout=3_000)
    shown_up = time.monotonic() - started
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    print(f"dashboard: kill shown in {shown_down:.2f} s, start shown in {shown_up:.2f} s")
