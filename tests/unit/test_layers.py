"""The layers, read with ``ast`` (lab/imports.py): the framework-free core under everything,
the units' layer (FastAPI, SQL) only in units, the edge on the core alone. A new import
that crosses a line fails here, not first inside the gateway's image."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from lab.imports import ImportGraph, repo_files

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "httpx", "uvicorn", "aiohttp", "psycopg")


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph(ROOT, repo_files(ROOT))


def _modules(graph: ImportGraph, prefix: str) -> list[str]:
    found = [m for m in graph.files if m == prefix or m.startswith(prefix + ".")]
    assert found, prefix
    return found


def _imported(graph: ImportGraph, module: str) -> set[str]:
    """Every absolute name ``module`` imports, the project's and third parties' alike."""
    tree = ast.parse((ROOT / graph.files[module]).read_text())
    names = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    names |= {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
    }
    return names | graph.imports(module)


def _crossing(graph: ImportGraph, modules: list[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module in modules
        for name in _imported(graph, module)
        if name in banned or name.startswith(tuple(b + "." for b in banned))
    )


def test_the_core_imports_no_framework_and_nothing_above_it(graph: ImportGraph) -> None:
    core = _modules(graph, "shop.core")
    above = ("shop.kernel", "shop.catalog", "shop.orders", "services", "monolith", "lab")
    assert _crossing(graph, core, FRAMEWORKS + above) == []


def test_the_edge_runs_on_the_core_alone(graph: ImportGraph) -> None:
    """The gateway's image copies shop/core and nothing else of shop."""
    edge = _modules(graph, "services.gateway")
    assert _crossing(graph, edge, ("shop.kernel", "shop.catalog", "shop.orders")) == []
    closure = graph.closure_files(["services.gateway.app", "services.gateway.__main__"])
    assert {f for f in closure if f.startswith("shop/")} <= {
        "shop/__init__.py",
        *(f"shop/core/{p.name}" for p in (ROOT / "shop" / "core").glob("*.py")),
    }


def test_the_domain_imports_no_framework(graph: ImportGraph) -> None:
    models = [m for m in graph.files if m in ("shop.catalog.model", "shop.orders.model")]
    assert len(models) == 2
    assert _crossing(graph, models, FRAMEWORKS) == []


def test_the_finder_sees_a_crossing(graph: ImportGraph) -> None:
    """The check above can fail: the units' app factory does import FastAPI."""
    assert _crossing(graph, ["shop.kernel.app"], FRAMEWORKS)
