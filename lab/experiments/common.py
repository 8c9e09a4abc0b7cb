"""What every load experiment shares: the lab it runs in, invariants around it, the
figures read off a time series, and its chart."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.errors import LabError
from lab.invariants import Snapshot, violations
from lab.load import Bucket
from lab.runtime.base import Runtime

ARCHES = ("micro", "mono")
HOSTING_ORDERS = {"micro": "orders", "mono": "monolith"}
HOSTING_CATALOG = {"micro": "catalog", "mono": "monolith"}


@dataclass
class Lab:
    """Where an experiment runs: a started runtime, a results folder, quick or full."""

    runtime: Runtime
    results: Path
    quick: bool = False
    entries: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.entries:
            status = self.runtime.status()["architectures"]
            missing = [arch for arch in ARCHES if arch not in status]
            if missing:
                raise LabError(
                    f"{' and '.join(missing)} not running; start both with: "
                    f"twinshop up --runtime {self.runtime.name}"
                )
            self.entries = {arch: status[arch]["entry"] for arch in ARCHES}

    def seconds(self, quick: float, full: float) -> float:
        return quick if self.quick else full


@contextmanager
def invariants_checked(lab: Lab, record: dict[str, list[str]]) -> Iterator[dict[str, list[str]]]:
    """Snapshot both architectures before; after, check the three invariants (waiting for
    the reconciler up to a minute). ``acknowledged[arch]`` is filled by the experiment.
    A violation fails the experiment loudly."""
    acknowledged: dict[str, list[str]] = {arch: [] for arch in ARCHES}
    before = {arch: _snapshot(lab.entries[arch]) for arch in ARCHES}
    yield acknowledged
    deadline = time.monotonic() + 60
    for arch in ARCHES:
        while True:
            problems = violations(
                before[arch], _snapshot(lab.entries[arch]), acknowledged=acknowledged[arch]
            )
            if not problems or time.monotonic() > deadline:
                break
            time.sleep(1)
        record[arch] = problems
        if problems:
            raise LabError(f"invariants broken in {arch}: " + "; ".join(problems))


def _snapshot(entry: str) -> Snapshot:
    deadline = time.monotonic() + 60
    while True:
        try:
            with httpx.Client(base_url=entry, timeout=10) as client:
                return Snapshot.take(client)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def window(series: Sequence[Bucket], start: float, end: float) -> tuple[int, int]:
    """(requests, failures) in the seconds [start, end)."""
    picked = [b for b in series if start <= b.t < end]
    return sum(b.requests for b in picked), sum(b.failures for b in picked)


def success(series: Sequence[Bucket], start: float, end: float) -> float | None:
    requests, failures = window(series, start, end)
    return None if requests == 0 else (requests - failures) / requests


def error_seconds(series: Sequence[Bucket]) -> int:
    return sum(1 for b in series if b.failures)


def recovered_at(
    series: Sequence[Bucket], after: float, *, threshold: float = 0.95
) -> float | None:
    """The first second after ``after`` that was (again) at least ``threshold`` successful,
    having been below it at some point after ``after``."""
    dipped = False
    for bucket in series:
        if bucket.t < after or bucket.requests == 0:
            continue
        rate = (bucket.requests - bucket.failures) / bucket.requests
        if rate < threshold:
            dipped = True
        elif dipped:
            return bucket.t
    return None if dipped else after


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def silent_spans(series: Sequence[Sequence[Bucket]], end: float) -> list[tuple[float, float]]:
    """The stretches of whole seconds in [0, end) in which no request of any series got an
    answer (each a (start, stop) pair): on a chart they would be a blank gap."""
    answered = {int(b.t) for one in series for b in one if b.requests}
    spans: list[tuple[float, float]] = []
    for second in range(int(end)):
        if second in answered:
            continue
        if spans and spans[-1][1] == second:
            spans[-1] = (spans[-1][0], second + 1)
        else:
            spans.append((second, second + 1))
    return spans


def timeline_chart(
    path: Path,
    title: str,
    results: dict[str, Any],
    *,
    events: Sequence[tuple[float, str]] = (),
) -> str:
    """Success rate and p95 per second, browse and checkout, micro and mono. The two columns
    share their y-scales row by row (so that micro and mono compare at a glance); only the
    route groups that ran are drawn and named; seconds in which no request got an answer are
    shaded and say so."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4), sharex=True, sharey="row")
    for column, arch in enumerate(ARCHES):
        result = results[arch]
        ran = []
        for group, colour in (("browse", "tab:blue"), ("checkout", "tab:orange")):
            series = result.series.get(group, [])
            if not any(b.requests for b in series):
                continue  # no such load here: no line, no legend entry
            ran.append(series)
            ts = [b.t for b in series]
            nan = float("nan")
            rates = [100 * (b.requests - b.failures) / b.requests if b.requests else nan
                     for b in series]  # fmt: skip
            p95 = [b.p95_ms if b.p95_ms is not None else nan for b in series]
            axes[0][column].plot(ts, rates, label=group, color=colour)
            axes[1][column].plot(ts, p95, label=group, color=colour)
        end = float(
            getattr(result, "duration_s", 0) or max((b.t + 1 for s in ran for b in s), default=0)
        )
        for number, (start, stop) in enumerate(silent_spans(ran, end)):
            label = "no request answered" if number == 0 else None
            for row in axes:
                row[column].axvspan(start, stop, color="grey", alpha=0.15, lw=0, label=label)
        axes[0][column].set_title(f"{arch} — success per second (%)", fontsize=10)
        axes[1][column].set_title(f"{arch} — p95 latency (ms)", fontsize=10)
        axes[0][column].set_ylim(-5, 118)
        axes[1][column].set_ylim(bottom=0)
        for number, (t, label) in enumerate(events):
            for row in axes:
                row[column].axvline(t, color="grey", linestyle="--", linewidth=1)
            axes[0][column].annotate(
                label, (t, 112 - 9 * (number % 2)), fontsize=8, ha="left", va="center",
                xytext=(3, 0), textcoords="offset points",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "grey", "lw": 0.5},
            )  # fmt: skip
        if axes[0][column].get_legend_handles_labels()[0]:
            axes[0][column].legend(loc="lower left", fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("seconds since the load started")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)
