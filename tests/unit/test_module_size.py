"""No module over about 300 lines without a reason: a long module says in its docstring why it
stays one piece (a paragraph that names the 300 lines). Read as text and ``ast``; nothing is
imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOTS = ("shop", "monolith", "services", "lab", "bench", "loadtests")
LIMIT = 300
REASON = "300 lines"


def lacks_reason(source: str) -> bool:
    """Longer than ``LIMIT`` lines, and its docstring does not say why."""
    if len(source.splitlines()) <= LIMIT:
        return False
    doc = ast.get_docstring(ast.parse(source)) or ""
    return REASON not in doc


def modules() -> dict[str, str]:
    return {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for root in ROOTS
        for path in sorted((ROOT / root).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def test_the_check_tells_a_reason_from_none() -> None:
    body = "x = 1\n" * LIMIT
    assert not lacks_reason('"""Short."""\n' + "x = 1\n" * 10)
    assert lacks_reason('"""Long, and silent about it."""\n' + body)
    assert not lacks_reason(f'"""Long.\n\nWhy it stays above {REASON}: one concept."""\n' + body)


def test_every_long_module_says_why() -> None:
    found = modules()
    assert "lab/runtime/process.py" in found  # the walk sees the tree
    silent = sorted(path for path, source in found.items() if lacks_reason(source))
    assert silent == []
