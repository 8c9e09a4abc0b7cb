"""The public API as the edge exposes it: its upstreams' documents, merged and trimmed.

Only the paths the route table sends to an upstream are kept, and only the components
those paths reference, so a gateway over catalog + orders and an lb over a monolith
with the same public paths publish the same document.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from services.gateway.routes import RouteTable

Doc = dict[str, Any]

INFO = {"title": "twinshop", "version": "1"}
DEFAULT_OPENAPI_VERSION = "3.1.0"
EDGE_PATHS = frozenset({"/health", "/ready", "/openapi.json", "/docs", "/metrics"})
EDGE_TAG = "edge"
REF_PREFIX = "#/components/"

EDGE_SCHEMAS: dict[str, Doc] = {
    "EdgeHealth": {
        "title": "EdgeHealth",
        "type": "object",
        "required": ["status", "unit", "version", "instance", "upstreams"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "unit": {"type": "string"},
            "version": {"type": "string"},
            "instance": {"type": "string"},
            "upstreams": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/EdgeUpstreamHealth"},
            },
        },
    },
    "EdgeUpstreamHealth": {
        "title": "EdgeUpstreamHealth",
        "type": "object",
        "required": ["replicas", "healthy", "breaker"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "healthy": {"type": "integer", "minimum": 0},
            "breaker": {"type": "string", "enum": ["closed", "open", "half_open"]},
        },
    },
    "EdgeReady": {
        "title": "EdgeReady",
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string", "enum": ["ready"]}},
    },
    "EdgeError": {
        "title": "EdgeError",
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
    },
}


def _json(schema: str, description: str) -> Doc:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


EDGE_OPERATIONS: dict[str, Doc] = {
    "/health": {
        "get": {
            "tags": [EDGE_TAG],
            "summary": "Edge health",
            "description": "Is the edge up, and how are its upstreams' replicas and breakers?",
            "operationId": "edge_health",
            "responses": {"200": _json("EdgeHealth", "The edge and its upstreams")},
        }
    },
    "/ready": {
        "get": {
            "tags": [EDGE_TAG],
            "summary": "Edge readiness",
            "description": "Ready when every upstream has at least one discovered replica.",
            "operationId": "edge_ready",
            "responses": {
                "200": _json("EdgeReady", "Every upstream has a replica"),
                "503": _json("EdgeError", "Some upstream has no replica"),
            },
        }
    },
}


def merge_openapi(docs: Mapping[str, Doc | None], routes: RouteTable) -> Doc:
    """One document from the upstreams' ``docs`` (name -> document, None when missing)."""
    version: str | None = None
    paths: dict[str, Doc] = {}
    components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Doc] = {}
    for name in sorted(docs):
        doc = docs[name]
        if not doc:
            continue
        version = version or doc.get("openapi")
        for path, item in (doc.get("paths") or {}).items():
            if path.startswith("/_") or path in EDGE_PATHS or routes.match(path) != name:
                continue
            paths.setdefault(path, item)
        for section, entries in (doc.get("components") or {}).items():
            if isinstance(entries, dict):
                for key, value in entries.items():
                    components.setdefault(section, {}).setdefault(key, value)
        for tag in doc.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    paths.update(EDGE_OPERATIONS)
    components.setdefault("schemas", {}).update(EDGE_SCHEMAS)

    merged: Doc = {
        "openapi": version or DEFAULT_OPENAPI_VERSION,
        "info": dict(INFO),
        "paths": {path: paths[path] for path in sorted(paths)},
    }
    kept = _referenced_components(merged["paths"], components)
    if kept:
        merged["components"] = kept
    used_tags = {t for op in _operations(merged["paths"]) for t in op.get("tags", [])}
    if any(t in tags for t in used_tags):
        merged["tags"] = [tags[t] for t in sorted(used_tags) if t in tags]
    return copy.deepcopy(merged)


def _operations(paths: Mapping[str, Doc]) -> Iterator[Doc]:
    for item in paths.values():
        for key, op in item.items():
            if key in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}:
                yield op


def _referenced_components(paths: Doc, components: dict[str, dict[str, Any]]) -> Doc:
    """The components reachable from ``paths`` through ``$ref``, plus used security schemes."""
    kept: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    while pending:
        section, _, key = pending.pop().removeprefix(REF_PREFIX).partition("/")
        if key in kept.get(section, {}) or key not in components.get(section, {}):
            continue
        value = components[section][key]
        kept.setdefault(section, {})[key] = value
        pending.extend(_refs(value))
    schemes = components.get("securitySchemes", {})
    for op in _operations(paths):
        for requirement in op.get("security", []):
            for scheme in requirement:
                if scheme in schemes:
                    kept.setdefault("securitySchemes", {})[scheme] = schemes[scheme]
    return {section: dict(sorted(kept[section].items())) for section in sorted(kept)}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


DOCS_PACKAGE = "fastapi_offline"
"""The PyPI package whose Swagger UI files the edge serves (pinned in pyproject.toml and
docker/requirements/gateway.txt). Only its static files are read: nothing of it is imported."""
DOCS_ASSETS: dict[str, tuple[str, str]] = {
    "/docs/swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "/docs/swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "/docs/favicon.png": ("favicon.png", "image/png"),
}
"""The edge's own asset paths -> (file in the package's ``static`` folder, content type)."""


@functools.cache
def docs_asset(path: str) -> tuple[bytes, str] | None:
    """The body and content type of one ``DOCS_ASSETS`` path; None when the package is not
    installed (then ``/docs`` says so instead of showing a white page)."""
    if path not in DOCS_ASSETS:
        return None
    name, content_type = DOCS_ASSETS[path]
    spec = importlib.util.find_spec(DOCS_PACKAGE)  # finds it without running its code
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        body = (Path(spec.submodule_search_locations[0]) / "static" / name).read_bytes()
    except OSError:
        return None
    return body, content_type


def docs_html(openapi_url: str = "/openapi.json", title: str = "twinshop") -> str:
    """A Swagger UI page that renders ``openapi_url`` with the edge's own copy of Swagger UI
    (``DOCS_ASSETS``): it works with no internet, as in a workshop room."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API</title>
<link rel="icon" type="image/png" href="/docs/favicon.png">
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
if (window.SwaggerUIBundle) {{
  SwaggerUIBundle({{url: "{openapi_url}", dom_id: "#swagger-ui"}});
}} else {{
  document.getElementById("swagger-ui").textContent = "Swagger UI's files are missing on "
    + "this edge (pip install fastapi-offline); the API document is at {openapi_url}";
}}
</script>
</body>
</html>
"""
