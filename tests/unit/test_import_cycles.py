"""No import cycle among the project's packages: each module can be read (and replaced)
after the ones it needs. Read with ``ast`` (lab/imports.py), so nothing is imported."""

from __future__ import annotations

from pathlib import Path

from lab.imports import ImportGraph, repo_files

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shop", "monolith", "services", "lab")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def project_edges() -> dict[str, set[str]]:
    graph = ImportGraph(ROOT, repo_files(ROOT))
    modules = [m for m in graph.files if m.split(".")[0] in PACKAGES]

    def above(module: str) -> set[str]:  # importing a.b.c runs a and a.b: not a cycle
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    return {
        m: {d for d in graph.imports(m) if d in graph.files and d != m and d not in above(m)}
        for m in modules
    }


def test_the_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_packages() -> None:
    assert cycles(project_edges()) == []
