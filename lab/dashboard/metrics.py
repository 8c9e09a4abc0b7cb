"""Request rate, error rate and p95 per route group, read from an edge's Prometheus ``/metrics``.

The edges count ``twinshop_requests_total{unit,route,method,status}`` and time
``twinshop_request_seconds{unit,route,method}`` (a histogram); on an edge ``route`` is the
upstream's name (catalog, orders, monolith). A route that starts with ``/`` is taken as a
path instead, so the same code reads a unit's own ``/metrics`` too.

The groups: **browse** is a GET to catalog (or a GET of ``/products…``), **checkout** a POST
to orders (or a POST of ``/orders…``). Behind the monolith's edge every route is
``monolith``, so there browse is any GET and checkout any POST: close enough, since the
shop's only other POST (``/products``, admin) is rare.

Counters only grow, so rates come from the difference between two scrapes a few seconds
apart (``Window``). Nothing here measures requests itself: without ``/metrics`` the figures
are ``None`` and the page shows "—".
"""

from __future__ import annotations

import math
import re
import time
from collections import deque
from dataclasses import dataclass, field

REQUESTS = "twinshop_requests_total"
SECONDS = "twinshop_request_seconds"
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


def totals(text: str, unit: str | None = None) -> Totals | None:
    """Sum one scrape per group; ``unit`` keeps only that unit's samples when they carry a
    ``unit`` label. None when the text has no ``twinshop_requests_total`` at all."""
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


class Window:
    """The last few scrapes of one edge; figures are the difference between the newest and
    the oldest within ``seconds`` (a counter that went down means the edge restarted: start
    over)."""

    def __init__(self, seconds: float = 5.0) -> None:
        self.seconds = seconds
        self.samples: deque[tuple[float, Totals]] = deque()

    def add(self, sample: Totals | None, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if sample is None:
            self.samples.clear()
            return
        if self.samples and any(
            sample.requests[g] < self.samples[-1][1].requests[g] for g in GROUPS
        ):
            self.samples.clear()
        self.samples.append((now, sample))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.seconds:
            self.samples.popleft()

    def figures(self) -> dict[str, dict[str, float | None]]:
        """Per group: ``rps``, ``error_rate`` (0..1, None without requests) and ``p95``
        (seconds, None without requests); all None until two scrapes exist."""
        empty = {g: {"rps": None, "error_rate": None, "p95": None} for g in GROUPS}
        if len(self.samples) < 2:
            return empty  # type: ignore[return-value]
        (t0, old), (t1, new) = self.samples[0], self.samples[-1]
        elapsed = t1 - t0
        if elapsed <= 0:
            return empty  # type: ignore[return-value]
        out: dict[str, dict[str, float | None]] = {}
        for g in GROUPS:
            requests = new.requests[g] - old.requests[g]
            errors = new.errors[g] - old.errors[g]
            out[g] = {
                "rps": requests / elapsed,
                "error_rate": errors / requests if requests > 0 else None,
                "p95": quantile(0.95, _minus(new.buckets[g], old.buckets[g]))
                if requests > 0
                else None,
            }
        return out
