"""What a load leaves behind: per-second buckets and totals per route group, the scheduled
actions, the acknowledged orders; plain dataclasses that round-trip through JSON.

Nothing here measures: :mod:`lab.load.recording` fills these in, :mod:`lab.load.engine` runs
the load, experiments and reports read them (also from JSON written by an earlier run).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Bucket:
    """One second of one route group; ``t`` counts seconds from the start of the load (a
    request lands in the second it completed in)."""

    t: int
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class GroupTotals:
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)
    """The most frequent failure messages and how often each happened."""

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass
class ActionRecord:
    """What happened to one scheduled action: seconds are counted from the start of the load."""

    name: str
    at: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None


class Windows(Protocol):
    """What a live result keeps to answer :meth:`LoadResult.window` (a ``Recorder``)."""

    def totals(self, start: float, end: float) -> dict[str, GroupTotals]: ...


@dataclass
class LoadResult:
    """One target's load: per-second series and totals per route group, acknowledged orders."""

    target: str
    host: str
    scenario: str
    users: int
    spawn_rate: float
    duration_s: float
    warmup_s: float
    started_at: float
    """Wall clock (epoch seconds) when the users started."""
    ended_at: float
    series: dict[str, list[Bucket]]
    totals: dict[str, GroupTotals]
    """Over the seconds ``warmup_s <= t < duration_s``: without the warm-up, and without what
    completed while the users were stopping (the series has those)."""
    order_ids: list[str]
    """Every order the shop acknowledged with a 201."""
    actions: list[ActionRecord] = field(default_factory=list)
    generator_cpu_warning: bool = False
    """Locust's own process went above 90 % CPU: the generator, not the shop, may be the limit."""
    _recorder: Windows | None = field(default=None, repr=False, compare=False)

    @property
    def acknowledged(self) -> list[str]:
        """The same as ``order_ids``: what ``violations(..., acknowledged=...)`` takes."""
        return self.order_ids

    @property
    def elapsed_s(self) -> float:
        return self.ended_at - self.started_at

    def window(self, start_s: float, end_s: float) -> dict[str, GroupTotals]:
        """Totals over part of the load, e.g. the seconds while a unit was down."""
        if self._recorder is None:
            raise ValueError("window() needs the live result of run_load, not one read from JSON")
        return self._recorder.totals(start_s, end_s)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_recorder")
        out["elapsed_s"] = round(self.elapsed_s, 3)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        body = {k: v for k, v in data.items() if k != "elapsed_s"}
        body["series"] = {g: [Bucket(**b) for b in bs] for g, bs in data["series"].items()}
        body["totals"] = {g: GroupTotals(**t) for g, t in data["totals"].items()}
        body["actions"] = [ActionRecord(**a) for a in data.get("actions", [])]
        return cls(**body)

    @classmethod
    def from_json(cls, text: str) -> LoadResult:
        return cls.from_dict(json.loads(text))
