"""A warm-up, then a steady load, then stop: the shape the lab's measurements assume.

    locust -f loadtests/locustfile.py,loadtests/shapes.py --host http://127.0.0.1:8080

The first ``TWINSHOP_WARMUP`` seconds (default 5) run half the users (connections, caches,
JIT-less Python warming up); then ``TWINSHOP_USERS`` users (default 8) for ``TWINSHOP_STEADY``
seconds (default 60); then the test stops. ``twinshop load --warmup S`` measures the same way
by leaving the first S seconds out of its totals.
"""

from __future__ import annotations

import os

from locust import LoadTestShape


def _number(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class WarmupThenSteady(LoadTestShape):
    def __init__(self) -> None:
        super().__init__()
        self.users = max(1, int(_number("TWINSHOP_USERS", 8)))
        self.warmup = _number("TWINSHOP_WARMUP", 5)
        self.steady = _number("TWINSHOP_STEADY", 60)

    def tick(self) -> tuple[int, float] | None:
        elapsed = self.get_run_time()
        if elapsed < self.warmup:
            return max(1, self.users // 2), float(self.users)
        if elapsed < self.warmup + self.steady:
            return self.users, float(self.users)
        return None
