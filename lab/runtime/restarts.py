"""When the supervisor brings a dead instance back: at once, or after a back-off.

Two kinds of death look alike from outside (the process is gone) and need opposite
answers. A unit that *had started* — it logged "Application startup complete" — and then
died was killed or crashed while serving: a workshop's `kill -9`, the OOM killer, a crash
point. It comes back at once, every time. A unit that dies *before* it finished starting
is crash-looping on its own (a bad setting, a missing database): it is respawned after
0.5, 1, 2 … 10 s, so that a broken unit does not burn the CPU the others need.
"""

from __future__ import annotations

from pathlib import Path

STARTED = (b"Application startup complete", b"(impl rust) listening on")
MAX_DELAY = 10.0


def reached_startup(log: Path, offset: int) -> bool:
    """Did this life of the process (its log from ``offset`` on) finish starting?"""
    try:
        with log.open("rb") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return False
    return any(marker in text for marker in STARTED)


def restart_plan(failures_in_a_row: int, *, started: bool) -> tuple[int, float]:
    """``(failures in a row afterwards, seconds to wait before respawning)``."""
    if started:
        return 0, 0.0
    return failures_in_a_row + 1, min(MAX_DELAY, 0.5 * 2**failures_in_a_row)


def log_size(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0
