"""The project's import graph, read with ``ast`` (nothing is imported): which of the
repository's Python files a module needs, transitively."""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Iterable
from pathlib import Path

SKIP = (".git", ".venv", "venv", "node_modules", "__pycache__", "results", ".twinshop")


def repo_files(root: Path) -> list[str]:
    """Every file of the repository (tracked, or new and not ignored) where git knows the
    folder, else a walk of it (without virtual environments, caches and results)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        if listed.returncode == 0 and listed.stdout.strip():
            return [line for line in listed.stdout.splitlines() if (root / line).is_file()]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not any(part in SKIP for part in p.relative_to(root).parts)
    )


def module_name(path: str) -> str:
    """``shop/kernel/db.py`` -> ``shop.kernel.db``; ``shop/__init__.py`` -> ``shop``."""
    parts = path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class ImportGraph:
    """Modules (by dotted name) of the repository and the project modules each imports."""

    def __init__(self, root: Path, files: Iterable[str]) -> None:
        self.root = root
        self.all_files = tuple(files)
        self.files = {module_name(f): f for f in self.all_files if f.endswith(".py")}
        self._edges: dict[str, set[str]] = {}

    def imports(self, module: str) -> set[str]:
        """The project modules ``module`` imports directly (at any depth of its code), with
        the packages above each (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
        if module in self._edges:
            return self._edges[module]
        found: set[str] = set()
        path = self.files.get(module)
        if path is not None:
            try:
                tree = ast.parse((self.root / path).read_text(), filename=path)
            except (OSError, SyntaxError, ValueError):
                tree = ast.Module(body=[], type_ignores=[])
            package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        found |= self._known(alias.name)
                elif isinstance(node, ast.ImportFrom):
                    base = self._absolute(node.module, node.level, package)
                    found |= self._known(base)
                    for alias in node.names:
                        found |= self._known(f"{base}.{alias.name}" if base else alias.name)
        found.discard(module)
        self._edges[module] = found
        return found

    def closure(self, modules: Iterable[str]) -> set[str]:
        """Every project module reachable from ``modules`` (themselves included)."""
        seen: set[str] = set()
        todo = [known for m in modules for known in self._known(m)]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            todo += [m for m in self.imports(module) if m not in seen]
        return seen

    def closure_files(self, modules: Iterable[str]) -> set[str]:
        return {self.files[m] for m in self.closure(modules)}

    def _known(self, name: str) -> set[str]:
        """``name`` and its parent packages, as far as they are project modules."""
        parts = name.split(".")
        prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
        return {prefix for prefix in prefixes if prefix in self.files}

    @staticmethod
    def _absolute(name: str | None, level: int, package: str) -> str:
        if level == 0:
            return name or ""
        base = package.split(".") if package else []
        base = base[: len(base) - (level - 1)] if level > 1 else base
        return ".".join([*base, *([name] if name else [])])
