"""Who owns a path: ``.github/CODEOWNERS`` read as GitHub reads it (the last matching rule
wins; gitignore-style patterns), and the teams that must agree to release a deployable."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CODEOWNERS = ".github/CODEOWNERS"
# The platform's shared code that every Python image carries: a change to it is reviewed by
# the platform team, but it does not make the platform a co-owner of every service's release.
SHARED = ("shop/__init__.py", "shop/core/", "shop/kernel/", "services/__init__.py", "docker/")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str]
    line: int


def _glob(pattern: str) -> re.Pattern[str]:
    """A CODEOWNERS (gitignore-style) pattern as a regular expression over repository paths."""
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    out = ""
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif body.startswith("**", i):
            out += ".*"
            i += 2
        elif body[i] == "*":
            out += "[^/]*"
            i += 1
        elif body[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(body[i])
            i += 1
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if directory else "(?:/.*)?"
    return re.compile(f"^{prefix}{out}{suffix}$")


def parse(text: str) -> list[Rule]:
    rules = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        pattern, *owners = line.split()
        rules.append(Rule(pattern, tuple(owners), _glob(pattern), number))
    return rules


def load(root: Path) -> list[Rule]:
    path = root / CODEOWNERS
    return parse(path.read_text()) if path.exists() else []


def owners_of(rules: list[Rule], path: str) -> tuple[str, ...]:
    """The owners of one repository path: those of the last rule that matches it."""
    found: tuple[str, ...] = ()
    for rule in rules:
        if rule.regex.match(path):
            found = rule.owners
    return found


def teams(rules: list[Rule], paths: Iterable[str]) -> set[str]:
    """Every team that must review a change to these paths."""
    return {owner for path in paths for owner in owners_of(rules, path)}


def release_teams(rules: list[Rule], files: Iterable[str]) -> set[str]:
    """The teams whose code is in a deployable (its image's ``files``), apart from the
    platform's shared code: the teams that must agree before it ships."""
    return teams(rules, (f for f in files if not shared(f)))


def shared(path: str) -> bool:
    return any(path == s or (s.endswith("/") and path.startswith(s)) for s in SHARED)
