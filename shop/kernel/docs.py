"""``/docs`` on a unit: FastAPI's Swagger UI page, its files served by the unit itself.

FastAPI's own page loads Swagger UI from a CDN: a white page in a room without internet.
Here the JavaScript, CSS and icon come from the ``fastapi-offline`` package (pinned in
pyproject.toml and docker/requirements), read from disk once, never imported.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

PACKAGE = "fastapi_offline"
ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""File in the package's ``static`` folder -> content type; served at ``/docs/<file>``."""
PREFIX = "/docs"


@functools.cache
def asset(name: str) -> bytes | None:
    """One of ``ASSETS``, or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)  # finds it without running its code
    if name not in ASSETS or spec is None or not spec.submodule_search_locations:
        return None
    try:
        return (Path(spec.submodule_search_locations[0]) / "static" / name).read_bytes()
    except OSError:
        return None


def add_offline_docs(app: FastAPI, *, title: str) -> None:
    """``GET /docs`` and its files on ``app`` (built with ``docs_url=None``)."""
    openapi_url = app.openapi_url or "/openapi.json"

    async def docs() -> HTMLResponse:
        """Swagger UI for this unit's own API document."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
        )

    app.add_api_route(PREFIX, docs, methods=["GET"], include_in_schema=False)
    for name, media_type in ASSETS.items():
        app.add_api_route(
            f"{PREFIX}/{name}", _asset_endpoint(name, media_type), include_in_schema=False
        )


def _asset_endpoint(name: str, media_type: str) -> Callable[[], Awaitable[Response]]:
    async def get_asset() -> Response:
        body = asset(name)
        if body is None:
            return PlainTextResponse(
                "Swagger UI's files are not installed (pip install fastapi-offline)", 404
            )
        return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    return get_asset
