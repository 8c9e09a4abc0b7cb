"""``twinshop scale``, ``redeploy`` and ``chaos``: the operations the experiments measure,
in both runtimes. Registered on the main app by ``lab.cli``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from lab.console import console, friendly
from lab.errors import LabError
from lab.runtimes import HomeOpt, RuntimeOpt, make_runtime

UnitArg = Annotated[str, typer.Argument(help="catalog, orders or monolith")]


@friendly
def scale(
    unit: UnitArg,
    replicas: Annotated[int, typer.Argument(help="how many instances to run", min=1)],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Run N instances of a unit (not an edge: it owns the published port). New ones get
    traffic once healthy; removed ones stop getting traffic first, then stop gracefully."""
    with console.status(f"scaling {unit} to {replicas}…"):
        before, after = make_runtime(runtime, home).scale(unit, replicas)
    console.print(f"{unit}: {before} → {after} instance(s), all healthy")


@friendly
def redeploy(
    unit: Annotated[str, typer.Argument(help="gateway, catalog, orders, lb or monolith")],
    version: Annotated[
        str | None, typer.Option("--version", help="the new version [default: current + 1]")
    ] = None,
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Deploy a new version of a unit: rolling (no outage) with 2+ instances, stop-and-start
    (a real outage) with one."""
    with console.status(f"redeploying {unit}…"):
        result = make_runtime(runtime, home).redeploy(unit, version)
    how = (
        f"rolling over {result['replicas']} instances"
        if result["mode"] == "rolling"
        else "one instance: stopped, then started"
    )
    outage = result.get("outage_seconds")
    console.print(
        f"{unit}: version {result['from']} → {result['to']} in {result['seconds']} s ({how}"
        + (f"; nothing listened for {outage} s" if outage else "")
        + ")"
    )


@friendly
def chaos(
    unit: UnitArg,
    latency_ms: Annotated[
        int | None, typer.Option("--latency-ms", help="add this much latency", min=0)
    ] = None,
    error_rate: Annotated[
        float | None,
        typer.Option("--error-rate", help="answer 500 to this share of requests", min=0, max=1),
    ] = None,
    crash_on_checkout: Annotated[
        bool | None,
        typer.Option(
            "--crash-on-checkout/--no-crash-on-checkout",
            help="die (SIGKILL) in the middle of the next checkout (= --crash-at after_reserve)",
        ),
    ] = None,
    crash_at: Annotated[
        str | None,
        typer.Option(
            "--crash-at",
            metavar="POINT",
            help="die (SIGKILL) when the next request reaches this point; '' disarms "
            "(orders: after_pending, after_reserve, after_confirm, after_cancelling, "
            "after_release, after_cancel; monolith: after_reserve, after_confirm, "
            "after_release, after_cancel; catalog: after_reserve, after_release)",
        ),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="switch every fault off")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Set fault toggles on every instance of a unit (needs TWINSHOP_CHAOS=1, the default in
    the lab). Without options: show them."""
    toggles: dict[str, Any] = {"latency_ms": 0, "error_rate": 0.0, "crash_at": ""} if reset else {}
    given = {
        "latency_ms": latency_ms,
        "error_rate": error_rate,
        "crash_on_checkout": crash_on_checkout,
        "crash_at": crash_at,
    }
    toggles.update({k: v for k, v in given.items() if v is not None})
    if reset and any(v is not None for v in given.values()):
        raise LabError("--reset switches every fault off; give it alone")
    states = make_runtime(runtime, home).chaos(unit, **toggles)
    if as_json:
        print(json.dumps(states, indent=2))
        return
    for state in states:
        where = state.pop("url")
        console.print(f"{unit} {where}: " + ", ".join(f"{k}={v}" for k, v in state.items()))
