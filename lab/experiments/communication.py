"""Inter-service communication: what the network between orders and catalog costs
(latency, hops) and what it does to consistency when catalog is slow or dies mid-checkout."""

from __future__ import annotations

import statistics
import time
from typing import Any

import httpx

from lab.experiments import hops, traced
from lab.experiments.common import ARCHES, Lab, invariants_checked, timeline_chart, window
from lab.experiments.model import ExperimentResult, Row

SLOW_MS = 3000
BUDGET_S = 2.0  # TWINSHOP_CHECKOUT_BUDGET's default


def _timed_checkout(entry: str) -> tuple[int | str, float, str | None]:
    """One checkout through an entry: (status or error, seconds, order id if confirmed)."""
    body = {"customer": "comm-probe", "items": [{"product_id": 1, "quantity": 1}]}
    started = time.monotonic()
    try:
        response = httpx.post(entry + "/orders", json=body, timeout=30.0)
    except httpx.HTTPError as exc:
        return type(exc).__name__, round(time.monotonic() - started, 2), None
    seconds = round(time.monotonic() - started, 2)
    order_id = response.json().get("id") if response.status_code == 201 else None
    return response.status_code, seconds, order_id


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    data: dict[str, dict[str, object]] = {arch: {} for arch in ARCHES}
    record: dict[str, list[str]] = {}
    charts = []
    with invariants_checked(lab, record) as acknowledged:
        # 0. Hops: one browse and one checkout, counted from their request id in the logs.
        for arch in ARCHES:
            counted = hops.count(lab.runtime, lab.entries[arch])
            if (order := counted.pop("order_id", None)) is not None:
                acknowledged[arch].append(str(order))
            data[arch]["hops"] = counted
        # 0b. The same, measured from traces: which calls crossed the network, and how much
        #     of a checkout was spent on it (lab/experiments/traced.py).
        receiver = traced.receiver_of(lab.runtime)
        if receiver:
            with traced.receiving(receiver) as url:
                measured = (
                    traced.measure(lab.entries, url, checkouts=3 if lab.quick else 10)
                    if url
                    else {}
                )
            for arch, found in measured.items():
                acknowledged[arch] += found.pop("order_ids")
                data[arch]["traced"] = found
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
        #    First one checkout alone against a slow catalog: how fast does it fail?
        lab.runtime.chaos("catalog", latency_ms=SLOW_MS)
        try:
            status, seconds, order_id = _timed_checkout(lab.entries["micro"])
        finally:
            lab.runtime.chaos("catalog", latency_ms=0)
        if order_id:
            acknowledged["micro"].append(order_id)
        data["micro"]["one_checkout_while_slow"] = {"status": status, "seconds": seconds}
        slow_at, dead_at, back_at = lab.seconds(3, 5), lab.seconds(9, 15), lab.seconds(12, 20)
        duration = lab.seconds(16, 26)
        results = run_load(
            targets=lab.entries,
            scenario="checkout",
            users=int(lab.seconds(4, 8)),
            duration=duration,
            actions=[
                (slow_at, lambda: lab.runtime.chaos("catalog", latency_ms=SLOW_MS)),
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
            slow = [b.p50_ms for b in checkout if slow_at + 1 <= b.t < dead_at and b.p50_ms]
            data[arch]["faults"] = {
                "checkout_p50_ms_while_slow": round(statistics.median(slow)) if slow else None,
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
                events=[
                    (slow_at, "catalog slow (3 s)"),
                    (dead_at, "catalog killed"),
                    (back_at, "catalog started"),
                ],
            )
        )

    def hop_text(arch: str, group: str) -> str:
        measured = data[arch].get("traced")
        if isinstance(measured, dict) and measured.get(group):
            return traced.text(measured, group)
        counted = data[arch]["hops"]
        assert isinstance(counted, dict)
        if counted.get(group) is None:
            return "hops not measured: the request failed"
        return f"{counted[group]} hops: {', '.join(counted[f'{group}_path'])}"

    def latency(arch: str) -> str:
        d = data[arch]
        return (
            f"checkout p50 {d['checkout']['p50_ms']} ms / p95 {d['checkout']['p95_ms']} ms "  # type: ignore[index]
            f"({hop_text(arch, 'checkout')}); browse p50 {d['browse']['p50_ms']} ms "  # type: ignore[index]
            f"({hop_text(arch, 'browse')})"
        )

    def faults(arch: str) -> str:
        d = data[arch]["faults"]
        assert isinstance(d, dict)
        return (
            f"{d['failed_while_slow']} checkouts failed (503) while catalog was slow "
            f"(checkout p50 {d['checkout_p50_ms_while_slow']} ms), "
            f"{d['failed_while_dead']} while it was dead; invariants "
            + ("hold" if not record.get(arch) else "BROKEN")
        )

    one = data["micro"]["one_checkout_while_slow"]
    assert isinstance(one, dict)
    fail_fast = (
        f"one checkout against a catalog {SLOW_MS / 1000:g} s slow: {one['status']} after "
        f"{one['seconds']} s (checkout budget {BUDGET_S:g} s, catalog told to give up too)"
    )

    ratio = data["micro"]["checkout"]["p50_ms"] / max(data["mono"]["checkout"]["p50_ms"], 0.001)  # type: ignore[index]
    rows = [
        Row(
            "Inter-service communication",
            "mixed load at 4 users: checkout and browse latency; network hops and the time "
            "spent on the network measured from each request's trace (from its request id in "
            "the units' logs when no trace arrived)",
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
            f"{fail_fast}; {faults('micro')}",
            "no network call inside checkout: one transaction, nothing to compensate; "
            + faults("mono").split("; ")[-1],
            f"micro stays correct (503 with Retry-After after {one['seconds']} s, release and "
            "reconciler, no stock leaked) at the cost of failed checkouts; the monolith needs "
            "no saga",
        ),
    ]
    return ExperimentResult("communication", rows, data=data, charts=charts, invariants=record)
