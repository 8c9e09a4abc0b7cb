"""Inter-service communication: what the network between orders and catalog costs
(latency, hops) and what it does to consistency when catalog is slow or dies mid-checkout."""

from __future__ import annotations

import statistics
from typing import Any

from lab.experiments.common import ARCHES, Lab, invariants_checked, timeline_chart, window
from lab.experiments.model import ExperimentResult, Row

# Network hops per request: client→edge, edge→unit, and orders→catalog in micro.
HOPS = {"micro": {"browse": 2, "checkout": 3}, "mono": {"browse": 2, "checkout": 2}}


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    data: dict[str, dict[str, object]] = {arch: {"hops": HOPS[arch]} for arch in ARCHES}
    record: dict[str, list[str]] = {}
    charts = []
    with invariants_checked(lab, record) as acknowledged:
        # 1. Latency at low load, one architecture at a time, alternating, repeated.
        runs: dict[str, list[Any]] = {arch: [] for arch in ARCHES}
        for _ in range(1 if lab.quick else 3):
            for arch in ARCHES:
                result = run_load(
                    targets={arch: lab.entries[arch]},
                    scenario="mixed",
                    users=4,
                    duration=lab.seconds(8, 15),
                    warmup_seconds=lab.seconds(2, 3),
                )[arch]
                acknowledged[arch] += list(result.acknowledged)
                runs[arch].append(result.totals)
        for arch in ARCHES:
            for group in ("browse", "checkout"):
                p50 = sorted(t[group].p50_ms or 0.0 for t in runs[arch])
                p95 = [t[group].p95_ms or 0.0 for t in runs[arch]]
                data[arch][group] = {
                    "p50_ms": round(statistics.median(p50), 1),
                    "p95_ms": round(statistics.median(p95), 1),
                    "p50_runs": [round(v, 1) for v in p50],
                }
        # 2. Catalog slow, then catalog dead, during checkouts (micro); the monolith has no
        #    network call inside checkout, so it runs the same load untouched.
        slow_at, dead_at, back_at = lab.seconds(3, 5), lab.seconds(9, 15), lab.seconds(12, 20)
        duration = lab.seconds(16, 26)
        results = run_load(
            targets=lab.entries,
            scenario="checkout",
            users=int(lab.seconds(4, 8)),
            duration=duration,
            actions=[
                (slow_at, lambda: lab.runtime.chaos("catalog", latency_ms=3000)),
                (
                    dead_at,
                    lambda: (
                        lab.runtime.chaos("catalog", latency_ms=0),
                        lab.runtime.kill("catalog"),
                    ),
                ),
                (back_at, lambda: lab.runtime.start("catalog")),
            ],
        )
        for arch in ARCHES:
            acknowledged[arch] += list(results[arch].acknowledged)
            checkout = results[arch].series["checkout"]
            data[arch]["faults"] = {
                "checkouts": window(checkout, 0, duration + 5)[0],
                "failed_while_slow": window(checkout, slow_at, dead_at)[1],
                "failed_while_dead": window(checkout, dead_at, back_at)[1],
                "acknowledged": len(results[arch].acknowledged),
                "series": results[arch].to_dict(),
            }
        charts.append(
            timeline_chart(
                lab.results / "communication.png",
                "Checkout while catalog is slow (3 s) and then dead (micro); the same load on mono",
                results,
                events=[(slow_at, "slow"), (dead_at, "dead"), (back_at, "back")],
            )
        )

    def latency(arch: str) -> str:
        d = data[arch]
        return (
            f"checkout p50 {d['checkout']['p50_ms']} ms / p95 {d['checkout']['p95_ms']} ms "  # type: ignore[index]
            f"({HOPS[arch]['checkout']} hops); browse p50 {d['browse']['p50_ms']} ms "  # type: ignore[index]
            f"({HOPS[arch]['browse']} hops)"
        )

    def faults(arch: str) -> str:
        d = data[arch]["faults"]
        assert isinstance(d, dict)
        return (
            f"{d['failed_while_slow']} checkouts failed (503) while catalog was slow, "
            f"{d['failed_while_dead']} while it was dead; invariants "
            + ("hold" if not record.get(arch) else "BROKEN")
        )

    ratio = data["micro"]["checkout"]["p50_ms"] / max(data["mono"]["checkout"]["p50_ms"], 0.001)  # type: ignore[index]
    rows = [
        Row(
            "Inter-service communication",
            "mixed load at 4 users: checkout and browse latency, and network hops",
            latency("micro"),
            latency("mono"),
            (
                f"the monolith wins: a micro checkout takes ×{ratio:.2f} the time (one more "
                "hop, two more commits for the saga log)"
                if ratio > 1.05
                else f"no clear difference at this load (micro/mono checkout p50 ×{ratio:.2f})"
            ),
        ),
        Row(
            "Consistency under faults",
            "checkout load while catalog is slow (3 s), then dead; invariants afterwards",
            faults("micro"),
            "no network call inside checkout: one transaction, nothing to compensate; "
            + faults("mono").split("; ")[-1],
            "micro stays correct (503 fast, release and reconciler, no stock leaked) at the "
            "cost of failed checkouts; the monolith needs no saga",
        ),
    ]
    return ExperimentResult("communication", rows, data=data, charts=charts, invariants=record)
