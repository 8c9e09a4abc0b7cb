"""Where a read-only request runs: on the event loop for a local SQLite file, in the thread
pool for a database across the network.

Measured (bench/README.md, "Profiles"): a sync endpoint costs a thread-pool hand-off (wake
a worker, two GIL switches, a condition wait) that was 15–23 % of a unit's CPU, while a
SQLite point read in WAL mode takes tens of microseconds and never waits for a writer. So
reads of a local SQLite database run inline; a PostgreSQL read waits on the network and
stays off the loop. Writes always run in the pool (``BEGIN IMMEDIATE`` may wait for the
write lock).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


class Reads:
    """``await reads.run(fn, *args)``: ``fn(*args)`` inline or in the thread pool (above)."""

    def __init__(self, engine: Engine) -> None:
        self.inline = engine.dialect.name == "sqlite"

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.inline:
            return fn(*args, **kwargs)
        return await run_in_threadpool(fn, *args, **kwargs)
