"""A circuit breaker per upstream: stop calling an upstream that keeps failing.

Only transport failures count (refused, reset, timed out, no usable replica); an HTTP
status from the upstream, even a 5xx, proves it is reachable and counts as a success.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """closed --N failures--> open --delay--> half_open --success--> closed.

    In ``half_open`` exactly one trial request is let through; its failure re-opens the
    breaker for another full delay.  Every caller that got ``allow() == True`` must end
    with ``success()``, ``failure()`` or ``release()``, so that a trial cannot leak.
    """

    def __init__(
        self,
        failure_threshold: int,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.open_seconds = open_seconds
        self._clock = clock
        self._state: State = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> State:
        """The state as a caller would find it now (open turns half_open once due)."""
        if self._state == "open" and self._clock() >= self._opened_at + self.open_seconds:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Transport failures since the last success."""
        return self._failures

    def allow(self) -> bool:
        """May a request go to the network now?  In half_open only the trial may."""
        if self._state == "closed":
            return True
        if self._state == "open":
            if self._clock() < self._opened_at + self.open_seconds:
                return False
            self._state = "half_open"
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def success(self) -> None:
        """The upstream answered: close the breaker and forget past failures."""
        self._state = "closed"
        self._failures = 0
        self._trial_in_flight = False

    def failure(self) -> None:
        """A transport failure: open after N in a row, or at once when a trial fails."""
        self._failures += 1
        if self._state == "half_open" or self._failures >= self.failure_threshold:
            self.trip()

    def trip(self) -> None:
        """Open now (for instance because no replica is usable)."""
        self._state = "open"
        self._opened_at = self._clock()
        self._trial_in_flight = False

    def release(self) -> None:
        """The allowed request ended with neither verdict (cancelled): free the trial."""
        self._trial_in_flight = False

    def probe_now(self) -> None:
        """Let the next request be a trial at once (a new replica was discovered)."""
        if self._state == "open":
            self._opened_at = self._clock() - self.open_seconds

    def retry_after(self) -> int:
        """Whole seconds (at least 1) until a trial request will be let through."""
        if self._state != "open":
            return 1
        remaining = self._opened_at + self.open_seconds - self._clock()
        return max(1, math.ceil(remaining))
