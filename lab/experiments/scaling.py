"""Scalability: the same browse load against catalog scaled 1→3 (micro) and the monolith
scaled 1→3 (mono), the same CPU budget per replica in both runtimes (docker: compose's
``cpus``; process: a cgroup quota, ``lab.runtime.cpu_budget``).

Each step is measured in several rounds, every round over every step and both architectures
in alternating order, so that a machine that drifts (another program, a warm cache) touches
every step and both architectures alike; the spread of the runs is shown, and the verdict is
"no clear difference" whenever the two gains' ranges overlap."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import httpx

from lab.experiments.common import ARCHES, HOSTING_CATALOG, Lab, invariants_checked
from lab.experiments.model import ExperimentResult, Row
from lab.topology import UNITS, Unit


def memory_mb(runtime: Any, unit: str) -> float:
    """Resident memory of every instance of ``unit``, summed (the runtime measures it)."""
    return float(runtime.memory_mb(unit))


def architecture_cpus(status: dict[str, Any], arch: str) -> float | None:
    """The CPU budget of every instance of every unit and edge of ``arch``, summed; None
    when one of them runs without a limit."""
    body = status["architectures"].get(arch, {})
    budgets = [inst.get("cpus") for insts in body.get("units", {}).values() for inst in insts]
    if not budgets or any(not b for b in budgets):
        return None
    return round(sum(float(b) for b in budgets), 2)


def architecture_memory_mb(runtime: Any, arch: str) -> float:
    """Every unit and edge of ``arch``, every instance: the whole footprint."""
    units: tuple[Unit, ...] = UNITS[arch]  # type: ignore[index]
    return round(sum(memory_mb(runtime, unit.name) for unit in units), 1)


def spread(entry: str, path: str, tries: int = 60) -> int:
    """How many distinct instances answered ``tries`` requests."""
    with httpx.Client(base_url=entry, timeout=5) as client:
        return len({client.get(path).headers.get("x-served-by") for _ in range(tries)})


def gain_range(first: list[float], last: list[float]) -> tuple[float, float, float]:
    """(median gain, lowest, highest) of throughput from the first step to the last, from
    the runs of each: the lowest pairs the worst last run with the best first run."""
    if not first or not last or min(first) <= 0:
        return 0.0, 0.0, 0.0
    median = statistics.median(last) / statistics.median(first)
    return round(median, 2), round(min(last) / max(first), 2), round(max(last) / min(first), 2)


def compare_gains(micro: tuple[float, float, float], mono: tuple[float, float, float]) -> str:
    """``micro``, ``mono`` or ``none``: which gained more, only when the ranges of the two
    gains do not overlap (otherwise the spread between runs is as large as the effect)."""
    if micro[1] > mono[2]:
        return "micro"
    if mono[1] > micro[2]:
        return "mono"
    return "none"


def chart(path: Path, data: dict[str, Any], counts: tuple[int, ...]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(14, 3.6))
    names = {"micro": "micro: catalog scaled", "mono": "mono: monolith scaled"}
    for arch, colour in zip(ARCHES, ("tab:blue", "tab:orange"), strict=True):
        steps = data[arch]["steps"]
        n = [s["replicas"] for s in steps]
        rps = [s["rps"] for s in steps]
        low = [s["rps"] - min(s["rps_runs"]) for s in steps]
        high = [max(s["rps_runs"]) - s["rps"] for s in steps]
        shifted = [x + (-0.03 if arch == "micro" else 0.03) for x in n]  # bars side by side
        axes[0].errorbar(shifted, rps, yerr=[low, high], marker="o", capsize=4, color=colour,
                         label=names[arch])  # fmt: skip
        axes[1].plot(n, [s["p95_ms"] for s in steps], marker="o", color=colour)
        per_cpu = [s["rps_per_cpu"] for s in steps]
        if all(v is not None for v in per_cpu):
            axes[2].plot(n, per_cpu, marker="o", color=colour)
        axes[3].plot(n, [s["total_memory_mb"] for s in steps], marker="o", color=colour)
    titles = (
        "browse req/s (median, min–max bars)",
        "browse p95 (ms)",
        "req/s per CPU of budget",
        "memory of the whole architecture (MB)",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("replicas")
        ax.set_xticks(list(counts))  # whole replicas only
        ax.set_ylim(bottom=0)
    if not any(s["rps_per_cpu"] for arch in ARCHES for s in data[arch]["steps"]):
        axes[2].text(0.5, 0.5, "no CPU limit:\nnot comparable", ha="center",
                     transform=axes[2].transAxes)  # fmt: skip
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def cpu_limit_note(runtime: Any) -> tuple[bool, str]:
    """Whether every replica gets its compose CPU budget here, and how (or why not)."""
    if runtime.name == "docker":
        return True, "compose CPU limits (cpus: per service)"
    budget = runtime.cpu_budget
    if budget.available:
        return True, f"a cgroup v{budget.version} CPU quota per instance, as compose's cpus"
    return False, budget.reason


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    counts = (1, 3) if lab.quick else (1, 2, 3)
    users = int(lab.seconds(8, 16))  # no think time: enough to saturate every replica
    duration = lab.seconds(6, 15)
    warmup = lab.seconds(2, 4)
    repeats = 3  # even in quick mode: one run says nothing about its spread
    limited, how = cpu_limit_note(lab.runtime)
    data: dict[str, Any] = {arch: {"steps": []} for arch in ARCHES}
    data["cpu_limit"] = {"applied": limited, "how": how}
    record: dict[str, list[str]] = {}
    runs: dict[tuple[str, int], list[Any]] = {(a, n): [] for a in ARCHES for n in counts}
    seen: dict[tuple[str, int], dict[str, Any]] = {}
    with invariants_checked(lab, record):
        for round_ in range(repeats):
            # Rounds, each over every step and both architectures, in alternating order: a
            # machine that gets busier or quieter meanwhile touches every step and both alike.
            for n in counts if round_ % 2 == 0 else tuple(reversed(counts)):
                for arch in ARCHES:
                    lab.runtime.scale(HOSTING_CATALOG[arch], n)
                for arch in ARCHES if round_ % 2 == 0 else tuple(reversed(ARCHES)):
                    result = run_load(
                        targets={arch: lab.entries[arch]},
                        scenario="browse",
                        users=users,
                        duration=duration,
                        warmup_seconds=warmup,
                        think_time=(0.0, 0.0),
                    )[arch]
                    runs[(arch, n)].append(result.totals["browse"])
                if round_ == repeats - 1 or (ARCHES[0], n) not in seen:
                    status = lab.runtime.status()
                    for arch in ARCHES:
                        seen[(arch, n)] = {
                            "memory_mb": memory_mb(lab.runtime, HOSTING_CATALOG[arch]),
                            "total_memory_mb": architecture_memory_mb(lab.runtime, arch),
                            "cpus": architecture_cpus(status, arch),
                            "instances_seen": spread(lab.entries[arch], "/products/1"),
                        }
        for arch in ARCHES:
            lab.runtime.scale(HOSTING_CATALOG[arch], 1)
    for arch in ARCHES:
        for n in counts:
            totals = runs[(arch, n)]
            rps = sorted(t.rps for t in totals)
            median = statistics.median(rps)
            step = seen[(arch, n)]
            cpus, total = step["cpus"], step["total_memory_mb"]
            data[arch]["steps"].append(
                {
                    "replicas": n,
                    "rps": round(median, 1),
                    "rps_runs": [round(r, 1) for r in rps],
                    "p95_ms": round(statistics.median(t.p95_ms or 0.0 for t in totals), 1),
                    "failures": sum(t.failures for t in totals),
                    **step,
                    "rps_per_cpu": round(median / cpus, 1) if cpus else None,
                    "rps_per_gb": round(median / (total / 1024), 1) if total else None,
                }
            )
    charts = [chart(lab.results / "scaling.png", data, counts)]
    return ExperimentResult(
        "scaling",
        rows(data, users=users, repeats=repeats, counts=counts),
        data=data,
        charts=charts,
        captions=[
            "Left: the bars are the lowest and highest of the runs — where micro's and mono's "
            "bars overlap, the gain is within the noise. Both scale one replica of the same CPU "
            "budget at a time; the right panel is the whole architecture's memory (edges and "
            "every unit), the cost of each added replica is its slope."
        ],
        invariants=record,
    )


def rows(data: dict[str, Any], *, users: int, repeats: int, counts: tuple[int, ...]) -> list[Row]:
    """The Scalability row, from the figures alone (a pure function: tests feed it data)."""

    def figures(arch: str) -> str:
        return "; ".join(
            f"×{s['replicas']}: {s['rps']:.0f} req/s ({min(s['rps_runs']):.0f}–"
            f"{max(s['rps_runs']):.0f}), p95 {s['p95_ms']:.0f} ms, "
            f"{s['total_memory_mb']:.0f} MB in all"
            + (f", {s['rps_per_cpu']:.0f} req/s per CPU" if s["rps_per_cpu"] else "")
            + (f", {s['rps_per_gb']:.0f} req/s per GB" if s["rps_per_gb"] else "")
            for s in data[arch]["steps"]
        )

    first = {a: data[a]["steps"][0] for a in ARCHES}
    last = {a: data[a]["steps"][-1] for a in ARCHES}
    gains = {a: gain_range(first[a]["rps_runs"], last[a]["rps_runs"]) for a in ARCHES}
    added = last["micro"]["replicas"] - first["micro"]["replicas"]
    per_replica = {a: (last[a]["memory_mb"] - first[a]["memory_mb"]) / added for a in ARCHES}
    better = compare_gains(gains["micro"], gains["mono"])
    data["verdict"] = better
    cpu = data.get("cpu_limit", {"applied": True, "how": ""})
    headline = {
        "micro": "scaling the catalog alone went further",
        "mono": "scaling the whole monolith went further",
        "none": "no clear difference: the runs' spread overlaps the difference in gain",
    }[better]
    micro_mb, mono_mb = first["micro"]["total_memory_mb"], first["mono"]["total_memory_mb"]
    verdict = (
        f"{headline}; throughput ×{gains['micro'][0]:.2f} ({gains['micro'][1]:.2f}–"
        f"{gains['micro'][2]:.2f}) for micro vs ×{gains['mono'][0]:.2f} ({gains['mono'][1]:.2f}–"
        f"{gains['mono'][2]:.2f}) for mono. Each added replica costs "
        f"{per_replica['micro']:.0f} MB (catalog) vs {per_replica['mono']:.0f} MB (monolith); "
        f"the whole architecture at ×{first['micro']['replicas']} uses {micro_mb:.0f} MB "
        f"(micro: gateway, catalog, orders) vs {mono_mb:.0f} MB (mono: lb, monolith)"
        + ("; the monolith is the lighter system" if mono_mb < micro_mb else "")
    )
    if not cpu["applied"]:
        verdict += (
            f". No CPU limit per replica here ({cpu['how']}): the figures measure this "
            "machine's cores, not replicas — run it with --runtime docker for a fair comparison"
        )
    return [
        Row(
            "Scalability",
            f"browse load ({users} users, no think time), {repeats} rounds over every step, "
            f"micro and mono alternating; scale catalog (micro) or the whole monolith (mono) "
            f"{' → '.join(str(n) for n in counts)}, each replica with the same CPU budget "
            f"({cpu['how'] if cpu['applied'] else 'none: ' + cpu['how']})",
            figures("micro"),
            figures("mono"),
            verdict,
        )
    ]
