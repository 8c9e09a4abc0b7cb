"""Resilience: the same fault in both architectures, under the same mixed load.

(a) crash-on-checkout: for a few seconds a bug is in the code — every checkout kills the
    process that hosts the orders code: the orders service in micro, the whole monolith in
    mono; the same bug, another blast radius. The process comes back by itself (supervisor /
    restart policy) and the next checkout kills it again, until the bug is gone.
(b) kill the unit that hosts orders, start it again a few seconds later.

Both faults are measured over the same window in both architectures, one that starts a
second after the fault began (the first crash waits for the next checkout) and ends when
the fault ends: a window as long as the fault, not as short as one restart, so that a
verdict does not depend on how fast a process happens to restart on this machine.
"""

from __future__ import annotations

import time

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
    crash_for = lab.seconds(4, 8)
    crash_end = crash_at + crash_for
    kill_at = lab.seconds(15, 30)
    down_for = lab.seconds(4, 8)
    duration = kill_at + down_for + lab.seconds(6, 12)
    users = int(lab.seconds(8, 20))

    bug: dict[str, float] = {}  # when the bug was in both units, and when it came out

    def crash() -> None:
        """Keep the bug armed in both units for ``crash_for`` seconds (a restarted process
        starts without it, so arm it again), then take it out. The seconds count from when
        it is in *both* (arming goes through ``docker exec`` on the container runtimes, which
        a busy machine can make slow); a late start eats into the gap before the kill."""
        began = time.monotonic()
        armed: set[str] = set()
        latest = began + (kill_at - crash_at) - 2  # the bug is out 2 s before the kill
        until = latest
        while time.monotonic() < until:
            for arch in ARCHES:
                if _try_chaos(lab, HOSTING_ORDERS[arch], crash_on_checkout=True):
                    armed.add(arch)
            if len(armed) == len(ARCHES) and "in" not in bug:
                bug["in"] = crash_at + time.monotonic() - began
                until = min(time.monotonic() + crash_for, latest)
            time.sleep(0.2)
        bug["out"] = crash_at + time.monotonic() - began
        for arch in ARCHES:
            _disarm(lab, HOSTING_ORDERS[arch])

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

    # Measured from one second after the bug is in both units (the first crash waits for
    # the next checkout) to when it came out; the same window for both architectures.
    bug_in, bug_out = round(bug.get("in", crash_at)), round(bug.get("out", crash_end))
    data: dict[str, dict[str, object]] = {}
    for arch in ARCHES:
        browse = results[arch].series["browse"]
        checkout = results[arch].series["checkout"]
        before_kill = [b for b in checkout if b.t < kill_at]  # the kill is another dip
        back = recovered_at(before_kill, bug_out) or kill_at
        data[arch] = {
            "crash": {
                "window": [bug_in + 1, bug_out],
                "browse_success": success(browse, bug_in + 1, bug_out),
                "checkout_success": success(checkout, bug_in + 1, bug_out),
                "recovery_s": round(back - bug_out, 1),
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
            (bug.get("in", crash_at), "bug in checkout"),
            (bug.get("out", crash_end), "bug removed"),
            (kill_at, "unit killed"),
            (kill_at + down_for, "unit started"),
        ],
    )

    def figures(arch: str, fault: str) -> str:
        d = data[arch][fault]
        assert isinstance(d, dict)
        text = f"browse {pct(d['browse_success'])}, checkout {pct(d['checkout_success'])}"
        return text + (
            f", back {d['recovery_s']} s after the bug is gone" if fault == "crash" else ""
        )

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
            f"mixed load; for {crash_for:.0f} s every checkout kills the process hosting orders "
            "(it restarts by itself each time); success while the bug is in",
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


def _try_chaos(lab: Lab, unit: str, **toggles: object) -> bool:
    """Set toggles on the unit's running instances; False while it is down or starting."""
    try:
        lab.runtime.chaos(unit, **toggles)
    except Exception:  # a crashed unit refuses until it is back
        return False
    return True


def _disarm(lab: Lab, unit: str, *, within: float = 20.0) -> None:
    """Take the bug out. A process that is restarting comes back without it; one that is up
    must be told, so try until it answers (or ``within`` seconds pass)."""
    deadline = time.monotonic() + within
    while not _try_chaos(lab, unit, crash_on_checkout=False) and time.monotonic() < deadline:
        time.sleep(0.3)
