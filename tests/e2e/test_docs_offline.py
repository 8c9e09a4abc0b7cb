"""``/docs`` renders with no internet: Chromium, every request off 127.0.0.1 refused, opens
the docs of both entries and of a unit and sees the operations listed (process runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.dashboard_page import ARTIFACTS, CHROMIUM, browser_or_skip
from tests.support import Stack, running_stack

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    browser_or_skip()
    with running_stack(tmp_path_factory.mktemp("docs")) as stack:
        yield stack


@pytest.fixture(scope="module")
def offline_browser() -> Iterator[tuple[Any, list[str]]]:
    """A Chromium context in which every request to another host fails, as in a room with
    no internet; the second item lists the requests it refused."""
    from playwright.sync_api import sync_playwright

    refused: list[str] = []

    def only_local(route: Any) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_local)
            yield context, refused
        finally:
            browser.close()


def operations_listed(context: Any, url: str, screenshot: str) -> list[str]:
    """Open ``url``'s Swagger UI; the ``METHOD /path`` of every operation it lists."""
    tab = context.new_page()
    try:
        tab.goto(url, wait_until="load")
        tab.wait_for_selector(".opblock-summary-path", timeout=20_000)
        methods = tab.locator(".opblock-summary-method").all_inner_texts()
        paths = tab.locator(".opblock-summary-path").evaluate_all(
            "els => els.map(e => e.dataset.path || e.textContent)"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        return [f"{m.strip()} {p.strip()}" for m, p in zip(methods, paths, strict=True)]
    finally:
        tab.close()


@pytest.mark.parametrize("arch", ["micro", "mono"])
def test_docs_of_each_entry_render_offline(
    docs_stack: Stack, offline_browser: tuple[Any, list[str]], arch: str
) -> None:
    context, refused = offline_browser
    listed = operations_listed(context, docs_stack.entries[arch] + "/docs", f"docs-{arch}.png")
    assert {"GET /products", "POST /orders", "GET /orders/{order_id}"} <= set(listed), listed
    assert refused == []  # nothing on the page wanted the internet


def test_docs_of_a_unit_render_offline(
    docs_stack: Stack, offline_browser: tuple[Any, list[str]]
) -> None:
    context, refused = offline_browser
    assert docs_stack.runtime is not None
    catalog = docs_stack.runtime.instances("catalog")[0]["url"]
    listed = operations_listed(context, catalog + "/docs", "docs-catalog.png")
    assert "GET /products/{product_id}" in listed, listed
    assert refused == []
    assert httpx.get(catalog + "/redoc").status_code == 404  # its only doc page is /docs


def test_the_edge_serves_the_docs_files_itself(docs_stack: Stack) -> None:
    for entry in docs_stack.entries.values():
        for path, kind in [("/docs/swagger-ui-bundle.js", "javascript"),
                           ("/docs/swagger-ui.css", "text/css")]:  # fmt: skip
            response = httpx.get(entry + path)
            assert response.status_code == 200
            assert kind in response.headers["content-type"]
            assert response.headers["x-served-by"].startswith(("gateway/", "lb/"))
