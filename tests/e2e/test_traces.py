"""Distributed traces on the process runtime: the units export their spans to the dashboard's
receiver; a checkout through each entry is one trace across every unit it touched, a
caller's ``traceparent`` is honoured, the log lines carry its trace id, a failure shows as a
failed span, and the page draws both waterfalls (Debian's chromium, via Playwright)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab import impls
from lab.dashboard.app import create_app
from lab.experiments.traced import measure
from lab.runtime.processes import free_port
from tests.dashboard_page import ARTIFACTS, browser_or_skip, open_page
from tests.support import Stack, eventually, running_stack

pytestmark = pytest.mark.slow

ORDER = {"customer": "tracer", "items": [{"product_id": 3, "quantity": 1}]}


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    """Both architectures, exporting to a dashboard (uvicorn in a thread) on a free port."""
    with traced_stack(tmp_path_factory.mktemp("traces")) as found:
        yield found


@contextmanager
def traced_stack(home: Path, **options: Any) -> Iterator[tuple[Stack, str]]:
    import uvicorn

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    every_request = {"TWINSHOP_TRACE_SAMPLE": "1"}
    units = ("gateway", "orders", "catalog", "lb", "monolith")
    with running_stack(
        home, traces_to=url, unit_env={unit: every_request for unit in units}, **options
    ) as stack:
        assert stack.runtime is not None
        config = uvicorn.Config(
            create_app(stack.runtime), host="127.0.0.1", port=port, log_level="warning",
            access_log=False, ws="none",
        )  # fmt: skip
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
        thread.start()
        eventually(lambda: server.started, within=15, what="the dashboard started")
        try:
            yield stack, url
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def new_traceparent() -> tuple[str, str]:
    trace_id = os.urandom(16).hex()
    return trace_id, f"00-{trace_id}-{os.urandom(8).hex()}-01"


def trace_with(dashboard: str, trace_id: str, units: set[str], within: float = 15.0) -> Any:
    """The trace once spans of every one of ``units`` arrived."""
    found: dict[str, Any] = {}

    def arrived() -> bool:
        response = httpx.get(f"{dashboard}/api/traces/{trace_id}")
        if response.status_code != 200:
            return False
        found.update(response.json())
        return units <= set(found["units"])

    eventually(arrived, within=within, what=f"trace {trace_id} has spans of {sorted(units)}")
    return found


def checkout_works(entry: str) -> bool:
    """One checkout; True when it was taken (a restarted unit may need a moment)."""
    return httpx.post(entry + "/orders", json=ORDER, timeout=10.0).status_code == 201


def log_lines_with(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    assert stack.runtime is not None
    out = []
    for path in Path(stack.runtime.state.logs).glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if request_id in line and line.startswith("{"):
                out.append(json.loads(line))
    return out


def test_a_checkout_through_each_entry_is_one_trace(traced: tuple[Stack, str]) -> None:
    stack, dashboard = traced
    micro_id, micro_parent = new_traceparent()
    mono_id, mono_parent = new_traceparent()
    with httpx.Client(timeout=10.0) as client:
        micro = client.post(
            stack.entries["micro"] + "/orders", json=ORDER, headers={"traceparent": micro_parent}
        )
        mono = client.post(
            stack.entries["mono"] + "/orders", json=ORDER, headers={"traceparent": mono_parent}
        )
    assert (micro.status_code, mono.status_code) == (201, 201)
    # the caller's trace continues through twinshop: same trace id, every unit in it
    micro_trace = trace_with(dashboard, micro_id, {"gateway", "orders", "catalog"})
    mono_trace = trace_with(dashboard, mono_id, {"lb", "monolith"})
    assert (micro_trace["arch"], micro_trace["group"]) == ("micro", "checkout")
    assert (mono_trace["arch"], mono_trace["group"]) == ("mono", "checkout")
    names = {row["name"] for row in micro_trace["rows"]}
    assert {"saga: pending commit", "saga: reserve", "saga: confirm"} <= names
    assert "reserve (in process)" in {row["name"] for row in mono_trace["rows"]}
    assert [(h["from"], h["to"]) for h in micro_trace["calls"]] == [
        ("gateway", "orders"),
        ("orders", "catalog"),
    ]
    assert [(h["from"], h["to"]) for h in mono_trace["calls"]] == [("lb", "monolith")]
    assert all(row["instance"] and row["version"] for row in micro_trace["rows"])
    assert not micro_trace["error"] and not mono_trace["error"]
    # every log line of the checkout carries its trace id
    eventually(
        lambda: len(log_lines_with(stack, micro.headers["x-request-id"])) >= 3,
        within=5,
        what="the gateway's, orders' and catalog's log lines",
    )
    lines = log_lines_with(stack, micro.headers["x-request-id"])
    assert {line["unit"] for line in lines} >= {"gateway", "orders", "catalog"}
    assert {line["trace_id"] for line in lines} == {micro_id}
    latest = httpx.get(dashboard + "/api/waterfall").json()
    assert latest["micro"]["checkout"]["trace_id"] == micro_id
    assert latest["mono"]["checkout"]["trace_id"] == mono_id


def test_the_report_measures_hops_and_network_time_from_traces(
    traced: tuple[Stack, str],
) -> None:
    stack, dashboard = traced
    measured = measure(stack.entries, dashboard, checkouts=2)
    micro, mono = measured["micro"]["checkout"], measured["mono"]["checkout"]
    assert (micro["hops"], micro["path"]) == (2, ["gateway→orders", "orders→catalog"])
    assert (mono["hops"], mono["path"]) == (1, ["lb→monolith"])
    assert measured["micro"]["browse"]["path"] == ["gateway→catalog"]
    for found in (micro, mono):
        assert found["traces"] == 2
        assert 0 < found["network_ms"] < found["total_ms"]
        assert found["process_ms"] == pytest.approx(
            found["total_ms"] - found["network_ms"], abs=0.02
        )
    assert len(measured["micro"]["order_ids"]) == 2


def test_with_orders_killed_the_failed_checkout_shows_a_failed_span(
    traced: tuple[Stack, str],
) -> None:
    stack, dashboard = traced
    runtime = stack.runtime
    assert runtime is not None
    trace_id, parent = new_traceparent()
    try:
        runtime.kill("orders")
        response = httpx.post(
            stack.entries["micro"] + "/orders", json=ORDER, headers={"traceparent": parent}
        )
    finally:
        runtime.start("orders")
    assert response.status_code >= 500
    found = trace_with(dashboard, trace_id, {"gateway"})
    assert found["error"]
    failed = {(row["unit"], row["kind"]): row for row in found["rows"] if row["error"]}
    # the 503 the client got, and why (a call to orders that failed, when one was tried)
    assert "orders" in failed["gateway", "server"]["message"]
    assert set(failed) <= {("gateway", "server"), ("gateway", "client")}


def test_the_page_draws_both_waterfalls(traced: tuple[Stack, str]) -> None:
    browser_or_skip()
    stack, dashboard = traced
    for arch in ("micro", "mono"):  # after the last test orders is back, maybe not yet seen
        eventually(lambda: checkout_works(stack.entries[arch]), within=15, what=arch, every=0.5)  # noqa: B023
        assert httpx.get(stack.entries[arch] + "/products/2").status_code == 200
    with open_page(dashboard) as page:
        every = {"micro": ("gateway", "orders", "catalog"), "mono": ("lb", "monolith")}
        for arch, units in every.items():
            panel = f'div.trace[data-arch="{arch}"][data-group="checkout"]'
            page.wait_for_function(  # a row for every unit of the architecture
                """(selectors) => selectors.every(s => document.querySelector(s))""",
                arg=[f'{panel} .srow[data-unit="{unit}"]' for unit in units],
                timeout=15_000,
            )
            assert page.locator(f"{panel} .gap").count() >= 2  # network drawn around a call
        assert page.locator('div.trace[data-group="browse"] .srow').count() >= 3
        runtime = stack.runtime
        assert runtime is not None
        try:
            runtime.kill("orders")
            httpx.post(stack.entries["micro"] + "/orders", json=ORDER, timeout=10.0)
        finally:
            runtime.start("orders")
        page.wait_for_selector(
            'div.trace[data-arch="micro"][data-group="checkout"] .srow[data-error="true"]',
            timeout=15_000,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-traces.png"), full_page=True)


@pytest.mark.skipif(
    shutil.which("cargo") is None
    and not impls.binary_path("catalog").exists()
    and not os.environ.get(impls.BINARY_ENV),
    reason="no cargo and no prebuilt Rust catalog",
)
def test_the_rust_catalog_continues_the_trace(tmp_path: Path) -> None:
    with traced_stack(tmp_path, arches=("micro",), catalog_impl="rust") as (stack, dashboard):
        trace_id, parent = new_traceparent()
        response = httpx.post(
            stack.entries["micro"] + "/orders", json=ORDER, headers={"traceparent": parent},
            timeout=10.0,
        )  # fmt: skip
        assert response.status_code == 201
        found = trace_with(dashboard, trace_id, {"gateway", "orders", "catalog"})
        assert [(h["from"], h["to"]) for h in found["calls"]] == [
            ("gateway", "orders"),
            ("orders", "catalog"),
        ]
        (catalog,) = [row for row in found["rows"] if row["unit"] == "catalog"]
        assert catalog["name"] == "PUT /reservations/{order_id}" and catalog["instance"]
        eventually(
            lambda: any(
                line["unit"] == "catalog"
                for line in log_lines_with(stack, response.headers["x-request-id"])
            ),
            within=5,
            what="the Rust catalog's log line",
        )
        lines = log_lines_with(stack, response.headers["x-request-id"])
        assert {line["trace_id"] for line in lines if line["unit"] == "catalog"} == {trace_id}
