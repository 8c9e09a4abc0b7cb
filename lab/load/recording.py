"""The recording maths: requests bucketed per route group and second, latencies in a
fixed-precision histogram (3 significant digits), percentiles by nearest rank.

No I/O and no locust: the engine feeds :class:`Recorder` from locust's request event; the
unit tests feed it by hand.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from lab.load.result import Bucket, GroupTotals

GROUPS: tuple[str, ...] = ("browse", "checkout")
"""The route groups every result reports (``other`` appears only when something else ran)."""


def route_group(method: str, name: str) -> str:
    """browse = GET /products*, checkout = POST /orders*, anything else = other."""
    if method.upper() == "GET" and name.startswith("/products"):
        return "browse"
    if method.upper() == "POST" and name.startswith("/orders"):
        return "checkout"
    return "other"


def _key(ms: float) -> float:
    """``ms`` rounded to 3 significant digits: at most 0.5 % off, few distinct keys."""
    if ms <= 0 or not math.isfinite(ms):
        return 0.0
    return round(ms, 2 - math.floor(math.log10(ms)))


class Histogram:
    """Latency counts keyed by the value rounded to 3 significant digits; mergeable."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[float] = Counter()
        self.total = 0

    def add(self, ms: float, count: int = 1) -> None:
        self.counts[_key(ms)] += count
        self.total += count

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def percentile(self, q: float) -> float | None:
        """Nearest rank: the smallest value with at least ``q`` of the samples at or below
        it (``q`` in 0..1); None without samples."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be within 0..1, not {q}")
        if not self.total:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
                return value
        return max(self.counts)  # pragma: no cover - unreachable: seen ends at total


@dataclass
class _Second:
    requests: int = 0
    failures: int = 0
    latency: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    """Buckets requests per route group and second; no I/O, fed by the request event."""

    def __init__(self, groups: Iterable[str] = GROUPS) -> None:
        self.seconds: dict[str, dict[int, _Second]] = {g: {} for g in groups}

    def record(self, group: str, t: float, ms: float, failed: bool, error: str = "") -> None:
        second = self.seconds.setdefault(group, {}).setdefault(max(0, int(t)), _Second())
        second.requests += 1
        second.latency.add(ms)
        if failed:
            second.failures += 1
            second.errors[error[:160] or "failed"] += 1

    def series(self, elapsed: float) -> dict[str, list[Bucket]]:
        """Every second from 0 to the end of the load (empty seconds too), per group."""
        out: dict[str, list[Bucket]] = {}
        for group, seconds in self.seconds.items():
            last = max([math.ceil(elapsed) - 1, *seconds])
            out[group] = [
                Bucket(
                    t, s.requests, s.failures, s.latency.percentile(0.5), s.latency.percentile(0.95)
                )
                for t in range(last + 1)
                for s in [seconds.get(t) or _Second()]
            ]
        return out

    def totals(self, start: float, end: float) -> dict[str, GroupTotals]:
        """Totals over the seconds ``start <= t < end`` (whole seconds: ``start`` rounds up);
        rps divides by the length of that window."""
        first = math.ceil(start)
        width = end - first
        out = {}
        for group, seconds in self.seconds.items():
            chosen = [s for t, s in seconds.items() if first <= t < end]
            latency = Histogram()
            errors: Counter[str] = Counter()
            for s in chosen:
                latency.merge(s.latency)
                errors.update(s.errors)
            requests = sum(s.requests for s in chosen)
            out[group] = GroupTotals(
                requests=requests,
                failures=sum(s.failures for s in chosen),
                rps=round(requests / width, 2) if width > 0 else 0.0,
                p50_ms=latency.percentile(0.5),
                p95_ms=latency.percentile(0.95),
                p99_ms=latency.percentile(0.99),
                errors=dict(errors.most_common(5)),
            )
        return out
