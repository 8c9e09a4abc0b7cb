"""One JSON line per request on stdout, from every unit and from the edge.

    {"ts":"2026-11-27T15:57:14.123Z","level":"info","unit":"orders","instance":"a1b2",
     "request_id":"...","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","method":"POST",
     "route":"/orders","status":201,"ms":3.1}

The same ``request_id`` shows in the gateway's, orders' and catalog's lines of one
request, and so does its ``trace_id`` (the OpenTelemetry trace, "" with tracing off), which
joins the lines to the request's trace.  On by default; ``TWINSHOP_LOG_REQUESTS=0`` turns
it off.  Kept cheap: the line is the small dict ``json.dumps`` would make, formatted by
hand, and the lines finished in one turn of the event loop leave in one
``sys.stdout.write`` at the start of the next (the runtimes run Python unbuffered, so they
are in the log file within a millisecond or so).

Standard library only: the edge's image ships this module without the units' packages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from typing import TextIO

ENV = "TWINSHOP_LOG_REQUESTS"
_OFF = frozenset({"0", "false", "no", "off"})
MAX_PENDING = 256  # lines held for one write at most
MAX_DELAY = 0.5  # seconds a line may wait for its write at most
REQUEST_ID_KEY = "twinshop.request_id"
"""ASGI scope key where a unit's ``UnitHeaders`` leaves the accepted request id."""


def enabled_from_env(default: bool = True) -> bool:
    """Is ``TWINSHOP_LOG_REQUESTS`` unset (``default``) or anything but 0/false/no/off?"""
    value = os.environ.get(ENV)
    if value is None:
        return default
    return value.strip().lower() not in _OFF


_quote = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


class RequestLog:
    """Writes the per-request line of one unit instance (a no-op when disabled)."""

    __slots__ = (
        "_fixed",
        "_pending",
        "_queued_at",
        "_second",
        "_stamp",
        "enabled",
        "instance",
        "stream",
        "unit",
    )

    def __init__(
        self, unit: str, instance: str, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self.unit = unit
        self.instance = instance
        self.enabled = enabled
        self.stream = stream  # None: sys.stdout at write time (so capture works in tests)
        fixed = {"level": "info", "unit": unit, "instance": instance}
        self._fixed = json.dumps(fixed, separators=(",", ":"))[1:-1]
        self._pending: list[str] = []
        self._queued_at = 0.0
        self._second = -1
        self._stamp = ""

    def request(
        self,
        request_id: str,
        method: str,
        route: str,
        status: int,
        seconds: float,
        trace_id: str = "",
    ) -> None:
        """Log one finished request; ``seconds`` is its duration."""
        if not self.enabled:
            return
        now = time.time()
        # The dict json.dumps would make, written out by hand: the fixed part is
        # encoded once, the free-form strings are escaped by json's C encoder.
        line = (
            f'{{"ts":"{self._stamp_of(now)}",{self._fixed},"request_id":{_quote(request_id)},'
            f'"trace_id":"{trace_id}","method":{_quote(method)},"route":{_quote(route)},"status":{status:d},'
            f'"ms":{round(seconds * 1000.0, 2)!r}}}\n'
        )
        pending = self._pending
        pending.append(line)
        if len(pending) == 1:
            # Lines finished in one turn of the event loop go out in one write at the
            # start of the next turn: one system call per burst, not per request
            # (stdout is unbuffered under the runtimes).
            self._queued_at = now
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no event loop: write now
                self.flush()
        elif now - self._queued_at > MAX_DELAY or len(pending) >= MAX_PENDING:
            self.flush()  # the loop that was to flush is gone, or the burst is long

    def flush(self) -> None:
        """Write the pending lines (one ``sys.stdout.write``)."""
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        stream = self.stream or sys.stdout
        with contextlib.suppress(OSError, ValueError):  # never fail a request over a log
            stream.write("".join(lines))

    def _stamp_of(self, now: float) -> str:
        """``now`` in UTC ISO-8601 with milliseconds; the formatted second is cached."""
        second = int(now)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((now - second) * 1000):03d}Z"
