"""Scalability: the same browse load against catalog scaled 1→2→3 (micro) and the
monolith scaled 1→2→3 (mono). One architecture at a time, so each gets the whole machine;
the same budget per replica (docker: the compose CPU and memory limits)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

import httpx

from lab.experiments.common import ARCHES, HOSTING_CATALOG, Lab, invariants_checked
from lab.experiments.model import ExperimentResult, Row


def spread(entry: str, path: str, tries: int = 60) -> int:
    """How many distinct instances answered ``tries`` requests."""
    with httpx.Client(base_url=entry, timeout=5) as client:
        return len({client.get(path).headers.get("x-served-by") for _ in range(tries)})


def chart(path: Path, data: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for arch in ARCHES:
        steps = data[arch]["steps"]
        n = [s["replicas"] for s in steps]
        axes[0].plot(n, [s["rps"] for s in steps], marker="o", label=arch)
        axes[1].plot(n, [s["p95_ms"] for s in steps], marker="o", label=arch)
        axes[2].plot(n, [s["rps_per_gb"] for s in steps], marker="o", label=arch)
    for ax, title in zip(
        axes, ("browse throughput (req/s)", "browse p95 (ms)", "req/s per GB"), strict=True
    ):
        ax.set_title(title)
        ax.set_xlabel("replicas of catalog (micro) / monolith (mono)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    counts = (1, 3) if lab.quick else (1, 2, 3)
    users = int(lab.seconds(8, 16))  # no think time: enough to saturate 2 cores
    duration = lab.seconds(8, 20)
    warmup = lab.seconds(2, 5)
    repeats = 1 if lab.quick else 3  # the median is reported, with the spread of the runs
    data: dict[str, Any] = {arch: {"steps": []} for arch in ARCHES}
    record: dict[str, list[str]] = {}
    with invariants_checked(lab, record):
        for arch in ARCHES:
            unit = HOSTING_CATALOG[arch]
            for n in counts:
                lab.runtime.scale(unit, n)
                runs = []
                for _ in range(repeats):
                    result = run_load(
                        targets={arch: lab.entries[arch]},
                        scenario="browse",
                        users=users,
                        duration=duration,
                        warmup_seconds=warmup,
                        think_time=(0.0, 0.0),
                    )[arch]
                    runs.append(result.totals["browse"])
                rps = sorted(t.rps for t in runs)
                memory = lab.runtime.memory_mb(unit)
                median = statistics.median(rps)
                data[arch]["steps"].append(
                    {
                        "replicas": n,
                        "rps": round(median, 1),
                        "rps_runs": [round(r, 1) for r in rps],
                        "rps_spread": round(rps[-1] - rps[0], 1),
                        "p95_ms": round(statistics.median(t.p95_ms or 0.0 for t in runs), 1),
                        "failures": sum(t.failures for t in runs),
                        "memory_mb": memory,
                        "rps_per_gb": round(median / (memory / 1024), 1) if memory else None,
                        "instances_seen": spread(lab.entries[arch], "/products/1"),
                    }
                )
            lab.runtime.scale(unit, 1)
    charts = [chart(lab.results / "scaling.png", data)]

    def figures(arch: str) -> str:
        steps = data[arch]["steps"]
        return "; ".join(
            f"×{s['replicas']}: {s['rps']:.0f} req/s"
            + (f" (±{s['rps_spread'] / 2:.0f})" if len(s["rps_runs"]) > 1 else "")
            + f", p95 {s['p95_ms']:.0f} ms, "
            f"{s['memory_mb']:.0f} MB"
            for s in steps
        )

    first = {a: data[a]["steps"][0] for a in ARCHES}
    last = {a: data[a]["steps"][-1] for a in ARCHES}
    gain = {a: last[a]["rps"] / first[a]["rps"] if first[a]["rps"] else 0.0 for a in ARCHES}
    added = last["micro"]["replicas"] - first["micro"]["replicas"]
    per_replica = {a: (last[a]["memory_mb"] - first[a]["memory_mb"]) / added for a in ARCHES}
    better = "micro" if gain["micro"] > gain["mono"] * 1.05 else None
    better = better or ("mono" if gain["mono"] > gain["micro"] * 1.05 else None)
    rows = [
        Row(
            "Scalability",
            f"browse load ({users} users, no think time, median of {repeats} run(s)); scale "
            "catalog (micro) or the whole "
            f"monolith (mono) {' → '.join(str(n) for n in counts)}, one architecture at a time",
            figures("micro"),
            figures("mono"),
            f"throughput ×{gain['micro']:.2f} (micro) vs ×{gain['mono']:.2f} (mono); each added "
            f"replica costs {per_replica['micro']:.0f} MB (catalog) vs "
            f"{per_replica['mono']:.0f} MB (monolith) — "
            + (
                "scaling the catalog alone went further"
                if better == "micro"
                else "scaling the whole monolith did as well or better"
                if better == "mono"
                else "no real difference"
            )
            + f"; both are bound by this machine's {os.cpu_count()} cores",
        )
    ]
    return ExperimentResult("scaling", rows, data=data, charts=charts, invariants=record)
