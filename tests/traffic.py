"""Traffic for the operations suites: one GET in a loop on a thread while an operation runs;
every answer but 200 (or no answer) is a failure, kept with the moment it happened."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import TracebackType

import httpx


class Traffic:
    def __init__(self, url: str, *, timeout: float = 15.0, pause: float = 0.01) -> None:
        self.url = url
        self.timeout = timeout
        self.pause = pause
        self.codes: Counter[int | str] = Counter()
        self.failed_at: list[float] = []
        self.served_by: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                try:
                    response = client.get(self.url)
                    outcome: int | str = response.status_code
                    self.served_by.add(response.headers.get("x-served-by", "?"))
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.codes[outcome] += 1
                if outcome != 200:
                    self.failed_at.append(time.monotonic())
                time.sleep(self.pause)

    def __enter__(self) -> Traffic:
        self._thread.start()
        time.sleep(0.2)  # some requests before the operation begins
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        time.sleep(0.3)  # and some after it ended
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def total(self) -> int:
        return sum(self.codes.values())

    @property
    def failed(self) -> int:
        return sum(n for code, n in self.codes.items() if code != 200)

    @property
    def failing_seconds(self) -> float:
        """From the first failed request to the last (0 when none failed)."""
        return self.failed_at[-1] - self.failed_at[0] if self.failed_at else 0.0
