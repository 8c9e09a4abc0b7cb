"""The repository's own history: every commit and the files it changed (``git log``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

SEPARATOR = "\x1e"


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class History:
    commits: list[Commit]  # newest first
    note: str  # what was replayed, and what could not be (no git, shallow clone)
    total: int  # commits the repository's history holds (what git can see)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=120
    )


def read(root: Path, *, last: int | None = None) -> History:
    """The non-merge commits, newest first (the last ``last`` of them when given). A shallow
    clone's boundary commits are left out: their diff against a missing parent is unknown."""
    try:
        count = _git(root, "rev-list", "--count", "--no-merges", "HEAD")
    except (OSError, subprocess.TimeoutExpired):
        return History([], "no git here: history not replayed", 0)
    if count.returncode != 0:
        return History([], "not a git repository (or no commit): history not replayed", 0)
    total = int(count.stdout.strip() or 0)
    limit = ["-n", str(last)] if last else []
    log = _git(
        root,
        "log",
        "--no-merges",
        "--no-renames",
        *limit,
        f"--format={SEPARATOR}%H%x09%s",
        "--name-only",
    )
    boundary = set()
    shallow_file = _git(root, "rev-parse", "--git-path", "shallow").stdout.strip()
    shallow = (root / shallow_file) if shallow_file else None
    if shallow is not None and shallow.exists():
        boundary = set(shallow.read_text().split())
    commits = []
    for block in log.stdout.split(SEPARATOR)[1:]:
        head, _, body = block.partition("\n")
        sha, _, subject = head.partition("\t")
        if sha in boundary:
            continue
        commits.append(Commit(sha, subject, tuple(f for f in body.splitlines() if f.strip())))
    note = f"{len(commits)} of {total} commits replayed, merges aside"
    if boundary:
        note += f"; shallow clone: {len(boundary)} boundary commit(s) left out"
    return History(commits, note, total)
