"""Resilience: the same fault in both architectures, under the same mixed load.

(a) crash-on-checkout: the next checkout kills the process that hosts the orders code —
    the orders service in micro, the whole monolith in mono: the same bug, another blast
    radius. It comes back by itself (supervisor / restart policy).
(b) kill the unit that hosts orders, start it again a few seconds later.
"""

from __future__ import annotations

from lab.experiments.common import (
    ARCHES,
    HOSTING_ORDERS,
    Lab,
    invariants_checked,
    pct,
    recovered_at,
    success,
    timeline_chart,
)
from lab.experiments.model import ExperimentResult, Row


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    crash_at = lab.seconds(4, 8)
    kill_at = lab.seconds(14, 30)
    down_for = lab.seconds(4, 8)
    duration = kill_at + down_for + lab.seconds(6, 12)
    users = int(lab.seconds(8, 20))

    def crash() -> None:
        for arch in ARCHES:
            lab.runtime.chaos(HOSTING_ORDERS[arch], crash_on_checkout=True)

    def kill() -> None:
        for arch in ARCHES:
            lab.runtime.kill(HOSTING_ORDERS[arch])

    def start() -> None:
        for arch in ARCHES:
            lab.runtime.start(HOSTING_ORDERS[arch])

    record: dict[str, list[str]] = {}
    with invariants_checked(lab, record) as acknowledged:
        results = run_load(
            targets=lab.entries,
            scenario="mixed",
            users=users,
            duration=duration,
            actions=[(crash_at, crash), (kill_at, kill), (kill_at + down_for, start)],
        )
        for arch in ARCHES:
            acknowledged[arch] = list(results[arch].acknowledged)

    data: dict[str, dict[str, object]] = {}
    for arch in ARCHES:
        browse = results[arch].series["browse"]
        checkout = results[arch].series["checkout"]
        back = recovered_at(checkout, crash_at) or kill_at
        crash_end = max(back, crash_at + 3)
        data[arch] = {
            "crash": {
                "window": [crash_at, crash_end],
                "browse_success": success(browse, crash_at, crash_end),
                "checkout_success": success(checkout, crash_at, crash_end),
                "recovery_s": round(back - crash_at, 1),
            },
            "kill": {
                "window": [kill_at, kill_at + down_for],
                "browse_success": success(browse, kill_at + 1, kill_at + down_for),
                "checkout_success": success(checkout, kill_at + 1, kill_at + down_for),
            },
            "series": results[arch].to_dict(),
        }
    chart = timeline_chart(
        lab.results / "resilience.png",
        "Resilience: crash-on-checkout, then kill the unit hosting orders",
        results,
        events=[
            (crash_at, "crash in checkout"),
            (kill_at, "unit killed"),
            (kill_at + down_for, "unit started"),
        ],
    )

    def figures(arch: str, fault: str) -> str:
        d = data[arch][fault]
        assert isinstance(d, dict)
        text = f"browse {pct(d['browse_success'])}, checkout {pct(d['checkout_success'])}"
        return text + (f", back in {d['recovery_s']} s" if fault == "crash" else "")

    def verdict(fault: str) -> str:
        micro, mono = (data[a][fault]["browse_success"] for a in ARCHES)  # type: ignore[index]
        if micro is None or mono is None:
            return "not enough requests in the window to tell"
        if micro >= 0.99 and mono < 0.5:
            return (
                "the failure stayed local in micro: browsing went on while checkout failed; "
                "in the monolith the same fault took every route down"
            )
        return f"browse success during the fault: micro {pct(micro)} vs mono {pct(mono)}"

    rows = [
        Row(
            "Resilience",
            "mixed load; crash-on-checkout kills the process hosting orders (then it restarts "
            "by itself); success during the outage",
            figures("micro", "crash"),
            figures("mono", "crash"),
            verdict("crash"),
        ),
        Row(
            "Resilience (kill)",
            f"kill the unit hosting orders for {down_for:.0f} s; success while it is down",
            figures("micro", "kill"),
            figures("mono", "kill"),
            verdict("kill"),
        ),
    ]
    return ExperimentResult("resilience", rows, data=data, charts=[chart], invariants=record)
