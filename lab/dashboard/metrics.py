"""Request rate, error rate, p50 and p95 per route group, each replica's request rate and the
upstreams' health, read from an edge's Prometheus ``/metrics``.

The edges count ``twinshop_requests_total{unit,route,method,status}`` and time
``twinshop_request_seconds{unit,route,method}`` (a histogram); on an edge ``route`` is the
upstream's name (catalog, orders, monolith). A route that starts with ``/`` is taken as a
path instead, so the same code reads a unit's own ``/metrics`` too.

The groups: **browse** is a GET to catalog (or a GET of ``/products…``), **checkout** a POST
to orders (or a POST of ``/orders…``). Behind the monolith's edge every route is
``monolith``, so there browse is any GET and checkout any POST: close enough, since the
shop's only other POST (``/products``, admin) is rare.

The edge also says, per upstream, how many replicas it could send to
(``twinshop_edge_healthy_replicas``) and whether its breaker is open
(``twinshop_edge_breaker_open``), and counts the requests it sent to each replica
(``twinshop_edge_replica_requests_total{upstream,replica}``).

Counters only grow, so rates come from the difference between two scrapes about five seconds
apart (``Window``); scrapes must come regularly (the dashboard samples in the background),
and a window that would span a gap between scrapes starts over instead, so a figure never
mixes in what happened long before. Nothing here measures requests itself: without
``/metrics`` the figures are ``None`` and the page shows "—".
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

REQUESTS = "twinshop_requests_total"
SECONDS = "twinshop_request_seconds"
REPLICA_REQUESTS = "twinshop_edge_replica_requests_total"
HEALTHY = "twinshop_edge_healthy_replicas"
BREAKER = "twinshop_edge_breaker_open"
GROUPS = ("browse", "checkout")

_SAMPLE = re.compile(
    r"^(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)"
    r"(?:\{(?P<labels>.*)\})?"
    r"\s+(?P<value>\S+)(?:\s+\S+)?\s*$"
)
_LABEL = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a Prometheus text exposition: (name, labels, value). Lines that do
    not parse are skipped (comments, blank lines, anything unexpected)."""
    out: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        labels = {
            key: raw.replace(r"\"", '"').replace(r"\n", "\n").replace("\\\\", "\\")
            for key, raw in _LABEL.findall(match["labels"] or "")
        }
        out.append((match["name"], labels, value))
    return out


def group_of(route: str, method: str) -> str | None:
    """browse, checkout or None (not shown) for one (route, method) label pair."""
    method = method.upper()
    route = route.strip()
    if route.startswith("/"):
        if method == "GET" and route.startswith("/products"):
            return "browse"
        if method == "POST" and route.startswith("/orders"):
            return "checkout"
        return None
    if method == "GET" and route in ("catalog", "monolith"):
        return "browse"
    if method == "POST" and route in ("orders", "monolith"):
        return "checkout"
    return None


@dataclass
class Totals:
    """Cumulative counts of one scrape, per group."""

    requests: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0.0))
    errors: dict[str, float] = field(default_factory=lambda: dict.fromkeys(GROUPS, 0.0))
    buckets: dict[str, dict[float, float]] = field(default_factory=lambda: {g: {} for g in GROUPS})
    replicas: dict[tuple[str, str], float] = field(default_factory=dict)
    """(upstream, replica URL) -> requests the edge sent it."""
    healthy: dict[str, float] = field(default_factory=dict)
    """upstream -> replicas the edge can send to (discovered, not ejected)."""
    breaker_open: dict[str, bool] = field(default_factory=dict)
    """upstream -> is its circuit breaker open (failing fast)?"""

    def blocked(self) -> list[str]:
        """The upstreams the edge cannot reach now: no healthy replica, or breaker open."""
        return sorted(
            name
            for name in self.healthy.keys() | self.breaker_open.keys()
            if self.healthy.get(name, 1) <= 0 or self.breaker_open.get(name, False)
        )


def totals(text: str, unit: str | None = None) -> Totals | None:
    """Sum one scrape per group; ``unit`` keeps only that unit's samples when they carry a
    ``unit`` label. None when the text has neither ``twinshop_requests_total`` nor the
    edge's replica gauges (not an edge's ``/metrics``)."""
    found = False
    out = Totals()
    for name, labels, value in parse(text):
        if unit is not None and labels.get("unit", unit) != unit:
            continue
        if name == REQUESTS:
            found = True
            group = group_of(labels.get("route", ""), labels.get("method", ""))
            if group is None or math.isnan(value):
                continue
            out.requests[group] += value
            if labels.get("status", "").startswith("5"):
                out.errors[group] += value
        elif name == REPLICA_REQUESTS:
            key = (labels.get("upstream", ""), labels.get("replica", "").rstrip("/"))
            out.replicas[key] = out.replicas.get(key, 0.0) + value
        elif name == HEALTHY and "upstream" in labels:
            found = True
            out.healthy[labels["upstream"]] = value
        elif name == BREAKER and "upstream" in labels:
            out.breaker_open[labels["upstream"]] = value >= 1.0
        elif name == SECONDS + "_bucket":
            group = group_of(labels.get("route", ""), labels.get("method", ""))
            if group is None or "le" not in labels:
                continue
            try:
                le = float(labels["le"])  # "+Inf" parses as inf
            except ValueError:
                continue
            bucket = out.buckets[group]
            bucket[le] = bucket.get(le, 0.0) + value
    return out if found else None


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' ``histogram_quantile``: cumulative buckets (upper bound -> count), linear
    inside the bucket; None with no observations."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower  # beyond the last finite bucket: its bound is all we know
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = (bound if not math.isinf(bound) else lower), count
    return lower


def _minus(new: dict[float, float], old: dict[float, float]) -> dict[float, float]:
    return {le: new[le] - old.get(le, 0.0) for le in new}


FIGURES = ("rps", "error_rate", "p50", "p95")


class Window:
    """The scrapes of one edge over the last ``seconds``; figures are the difference between
    the newest and the oldest (a counter that went down means the edge restarted: start over).

    Scrapes are expected every second or so; one that comes more than ``max_gap`` seconds
    after the previous also starts over, so that the figures never cover more than about
    ``seconds`` + ``max_gap`` of real time (without it, the first window after a quiet
    spell would average over the whole spell)."""

    def __init__(self, seconds: float = 5.0, *, max_gap: float = 2.5) -> None:
        self.seconds = seconds
        self.max_gap = max_gap
        self.samples: deque[tuple[float, Totals]] = deque()

    def add(self, sample: Totals | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if sample is None:
            self.samples.clear()
            return
        if self.samples and (
            now - self.samples[-1][0] > self.max_gap
            or any(sample.requests[g] < self.samples[-1][1].requests[g] for g in GROUPS)
        ):
            self.samples.clear()
        self.samples.append((now, sample))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.seconds:
            self.samples.popleft()

    def span(self) -> float | None:
        """The seconds the figures cover (None before two scrapes)."""
        if len(self.samples) < 2:
            return None
        return self.samples[-1][0] - self.samples[0][0]

    def figures(self) -> dict[str, dict[str, float | None]]:
        """Per group: ``rps``, ``error_rate`` (0..1), ``p50`` and ``p95`` (seconds); the last
        three None without requests, all None until two scrapes exist."""
        empty: dict[str, dict[str, float | None]] = {g: dict.fromkeys(FIGURES) for g in GROUPS}
        elapsed = self.span()
        if elapsed is None or elapsed <= 0:
            return empty
        old, new = self.samples[0][1], self.samples[-1][1]
        out: dict[str, dict[str, float | None]] = {}
        for g in GROUPS:
            requests = new.requests[g] - old.requests[g]
            errors = new.errors[g] - old.errors[g]
            buckets = _minus(new.buckets[g], old.buckets[g])
            out[g] = {
                "rps": requests / elapsed,
                "error_rate": errors / requests if requests > 0 else None,
                "p50": quantile(0.50, buckets) if requests > 0 else None,
                "p95": quantile(0.95, buckets) if requests > 0 else None,
            }
        return out

    def replica_rates(self) -> dict[tuple[str, str], float]:
        """(upstream, replica URL) -> requests per second the edge sent it over the window;
        a replica that appeared within the window counts from zero."""
        elapsed = self.span()
        if elapsed is None or elapsed <= 0:
            return {}
        old, new = self.samples[0][1], self.samples[-1][1]
        out = {}
        for key, count in new.replicas.items():
            before = old.replicas.get(key, 0.0)
            out[key] = (count - before if count >= before else count) / elapsed
        return out
