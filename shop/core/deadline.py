"""A caller's time budget, passed along so that nobody works for a caller that gave up.

The orders service sends ``X-Deadline-Ms: <milliseconds it will still wait>`` with each
reservation; catalog counts them from the moment the request arrived (before any queueing
or injected latency) and refuses, without touching stock, once they are spent.
"""

from __future__ import annotations

import time

HEADER = "X-Deadline-Ms"


def parse(value: str | None, *, arrived: float) -> float | None:
    """The deadline (``time.monotonic()``) a header value gives; ``None``: no deadline."""
    if value is None:
        return None
    try:
        millis = int(value.strip())
    except ValueError:
        return None
    return arrived + millis / 1000


def header_value(deadline: float, *, now: float | None = None) -> str:
    """Milliseconds left until ``deadline``, never negative."""
    left = deadline - (time.monotonic() if now is None else now)
    return str(max(0, int(left * 1000)))


def passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline
