"""``twinshop load``: the locustfile against a running architecture, headless, with a summary.

This module stays light: locust and gevent are imported (by ``lab.load``) only when the
command runs, so the rest of the CLI never loads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lab.console import console, friendly
from lab.errors import LabError
from lab.topology import EDGE_OF, Arch, arches_for

if TYPE_CHECKING:
    from lab.load import LoadResult

SCENARIO_NAMES = ("browse", "checkout", "mixed")


def running_entries(arches: tuple[Arch, ...], runtime: str, home: str | None) -> dict[str, str]:
    """The entry URL of each architecture, checked to be running with a healthy edge."""
    status: dict[str, Any]
    if runtime == "process":
        from lab.runtime.process import ProcessRuntime
        from lab.state import StateDir

        state = StateDir.from_env(home)
        status, where = ProcessRuntime(state).status(), f"state in {state.root}"
    else:
        from lab.runtimes import make_runtime

        status, where = make_runtime(runtime, home).status(), f"{runtime} runtime"
    entries: dict[str, str] = {}
    for arch in arches:
        body = status["architectures"].get(arch)
        if body is None:
            raise LabError(
                f"{arch} is not running ({runtime} runtime, {where}); "
                f"start it with: twinshop up --arch {arch} --runtime {runtime}"
            )
        edge = EDGE_OF[arch]
        if not any(inst["healthy"] for inst in body["units"].get(edge, [])):
            raise LabError(
                f"the {edge} of {arch} ({body['entry']}) is not healthy; see: twinshop status"
            )
        entries[arch] = body["entry"]
    return entries


def summary_table(results: dict[str, LoadResult]) -> Table:
    first = next(iter(results.values()))
    warmup = f", first {first.warmup_s:g} s left out" if first.warmup_s else ""
    table = Table(
        title=f"{first.scenario} load · {first.users} users · {first.duration_s:g} s{warmup}"
    )
    table.add_column("arch")
    table.add_column("route group")
    for column in ("requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for arch, result in results.items():
        for group, t in result.totals.items():
            failures = f"[red]{t.failures}[/]" if t.failures else "0"
            table.add_row(
                arch, group, str(t.requests), failures, f"{t.rps:.1f}",
                _ms(t.p50_ms), _ms(t.p95_ms), _ms(t.p99_ms),
            )  # fmt: skip
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@friendly
def load_command(
    arch: Annotated[
        str, typer.Option(help="micro, mono or both (the same load on each, at once)")
    ] = "both",
    scenario: Annotated[str, typer.Option(help="browse, checkout or mixed")] = "mixed",
    users: Annotated[int, typer.Option(min=1, help="simulated users per architecture")] = 8,
    duration: Annotated[float, typer.Option(min=0.5, help="seconds of load")] = 30.0,
    spawn_rate: Annotated[
        float | None, typer.Option(min=0.1, help="users started per second (default: all in 1 s)")
    ] = None,
    warmup: Annotated[
        float, typer.Option(min=0, help="seconds at the start left out of the totals")
    ] = 0.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="also write every result (series too) here")
    ] = None,
    runtime: Annotated[
        str, typer.Option("--runtime", help="process (local processes) or docker (compose stack)")
    ] = "process",
    home: Annotated[
        str | None,
        typer.Option("--home", help="state folder [env TWINSHOP_HOME, else one per user]"),
    ] = None,
) -> None:
    """Run the shoppers of loadtests/locustfile.py against a running architecture and
    summarise requests, failures, rps and latency per route group (browse, checkout)."""
    if scenario not in SCENARIO_NAMES:
        raise LabError(f"--scenario must be one of {', '.join(SCENARIO_NAMES)}, not {scenario!r}")
    if warmup >= duration:
        raise LabError(f"--warmup ({warmup:g} s) must be shorter than --duration ({duration:g} s)")
    entries = running_entries(arches_for(arch), runtime, home)

    from lab.load import run_load  # imports locust (and gevent) only now

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(
            f"{scenario} load, {users} users on {' and '.join(entries)}", total=duration
        )
        results = run_load(
            entries,
            scenario=scenario,
            users=users,
            spawn_rate=spawn_rate,
            duration=duration,
            warmup_seconds=warmup,
            on_tick=lambda elapsed: progress.update(task, completed=elapsed),
        )
    console.print(summary_table(results))
    for name, result in results.items():
        line = f"{name}: {len(result.order_ids)} orders acknowledged"
        for group, totals in result.totals.items():
            if totals.errors:
                reasons = ", ".join(f"{why} ({n})" for why, n in totals.errors.items())
                line += f"; {group} failures: {reasons}"
        console.print(line, highlight=False)
        if result.generator_cpu_warning:
            console.print(
                f"[yellow]{name}: the load generator went above 90 % CPU; the numbers may "
                "show its limit, not the shop's[/]"
            )
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        body = {name: result.to_dict() for name, result in results.items()}
        json_path.write_text(json.dumps(body, indent=2) + "\n")
        console.print(f"wrote {json_path}", highlight=False)
