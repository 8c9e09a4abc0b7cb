"""The supervisor's rule: a unit killed after it started comes back at once; one that dies
while starting backs off."""

from __future__ import annotations

from pathlib import Path

from lab.runtime.restarts import reached_startup, restart_plan


def test_killed_after_start_comes_back_at_once_every_time() -> None:
    count = 0
    for _ in range(5):
        count, delay = restart_plan(count, started=True)
        assert (count, delay) == (0, 0.0)


def test_dying_while_starting_backs_off_up_to_ten_seconds() -> None:
    count, delays = 0, []
    for _ in range(7):
        count, delay = restart_plan(count, started=False)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_only_this_life_of_the_log_counts(tmp_path: Path) -> None:
    log = tmp_path / "unit.log"
    log.write_bytes(b"INFO:     Application startup complete.\nkilled\n")
    offset = log.stat().st_size
    with log.open("ab") as f:
        f.write(b"Traceback: bad setting\n")
    assert reached_startup(log, 0)
    assert not reached_startup(log, offset)
    assert not reached_startup(tmp_path / "missing.log", 0)
