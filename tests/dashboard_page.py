"""The dashboard page in a real browser (Debian's chromium driven by Playwright): the
helpers and checks shared by the process-runtime test (tests/e2e) and the compose service's
test (tests/docker).

Without chromium or playwright the browser tests skip and say why, unless
``TWINSHOP_REQUIRE_BROWSER=1`` (CI, after ``.ci/browser.sh``), which makes that a failure."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("TWINSHOP_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
UNITS = [("micro", "gateway"), ("micro", "catalog"), ("micro", "orders"), ("mono", "lb"),
         ("mono", "monolith")]  # fmt: skip


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


@contextmanager
def open_page(url: str) -> Iterator[Any]:
    """A headless Chromium tab on ``url``, 1920x1080 (a projector)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab = browser.new_page(viewport={"width": 1920, "height": 1080})
            tab.goto(url)
            yield tab
        finally:
            browser.close()


def unit_box(page: Any, arch: str, unit: str, healthy: bool | None = None) -> str:
    selector = f'[data-arch="{arch}"][data-unit="{unit}"]'
    return selector if healthy is None else selector + f'[data-healthy="{str(healthy).lower()}"]'


def shows_both_architectures_healthy(page: Any) -> None:
    for arch, unit in UNITS:
        page.wait_for_selector(unit_box(page, arch, unit, healthy=True), timeout=10_000)
    assert page.locator("div.unit[data-unit]").count() == len(UNITS)  # not the span rows
    orders = page.locator(unit_box(page, "micro", "orders"))
    assert orders.get_attribute("data-replicas") == "1"
    assert "v1" in orders.inner_text()
    state = httpx.get(page.url.rstrip("/") + "/api/state").json()
    assert [a["arch"] for a in state["architectures"]] == ["micro", "mono"]
    figures = page.locator("[data-group][data-metric]")
    assert figures.count() == 2 * 2 * 4  # 2 arches x browse/checkout x rps/errors/p50/p95


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


def unit_state(page: Any, arch: str, unit: str, state: str, *, within: float) -> None:
    """Wait until that unit's box shows ``state`` (up, degraded, down)."""
    selector = unit_box(page, arch, unit) + f'[data-state="{state}"]'
    page.wait_for_selector(selector, timeout=int(within * 1000))


def killed_and_restarted(page: Any, runtime: Any, *, name: str = "dashboard") -> None:
    """Kill orders: its box turns red within 3 s, the gateway's turns degraded (checkout
    has nowhere to go), nothing else changes; start it: green again.
    Screenshots: ``test-artifacts/<name>-orders-down.png`` and ``<name>.png``."""
    page.wait_for_selector(unit_box(page, "micro", "orders", healthy=True), timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)

    restarted = False
    try:
        runtime.kill("orders")
        killed = time.monotonic()
        page.wait_for_selector(unit_box(page, "micro", "orders", healthy=False), timeout=3_000)
        shown_down = time.monotonic() - killed
        assert page.locator(unit_box(page, "micro", "orders")).get_attribute("data-state") == "down"
        # the gateway answers, but has no orders replica to send checkouts to
        unit_state(page, "micro", "gateway", "degraded", within=15)
        assert "orders" in page.locator(unit_box(page, "micro", "gateway")).inner_text()
        for arch, unit in UNITS:  # nothing else changed
            if unit not in ("orders", "gateway"):
                box = page.locator(unit_box(page, arch, unit))
                assert box.get_attribute("data-healthy") == "true"
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
        page.screenshot(path=str(ARTIFACTS / f"{name}-orders-down.png"))

        runtime.start("orders")
        restarted = True
    finally:
        if not restarted:  # leave the (possibly shared) stack as we found it
            runtime.start("orders")
    started = time.monotonic()
    page.wait_for_selector(unit_box(page, "micro", "orders", healthy=True), timeout=3_000)
    shown_up = time.monotonic() - started
    unit_state(page, "micro", "gateway", "up", within=20)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    print(f"{name}: kill shown in {shown_down:.2f} s, start shown in {shown_up:.2f} s")
