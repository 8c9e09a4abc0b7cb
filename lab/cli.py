"""``twinshop``: start, stop and inspect both architectures of the shop."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from lab import ops_cli
from lab.console import console, friendly
from lab.dashboard.cli import dashboard_command
from lab.experiment_cli import experiment_command, report_command
from lab.images import images_app
from lab.load_cli import load_command
from lab.runtime.base import Runtime
from lab.runtimes import HomeOpt, RuntimeOpt
from lab.runtimes import make_runtime as _runtime
from lab.topology import arches_for

app = typer.Typer(
    rich_markup_mode=None,  # plain help: no boxes to break at 80 columns
    help="twinshop: one shop built twice (monolith and microservices), run side by side.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
@friendly
def up(
    arch: Annotated[str, typer.Option(help="micro, mono or both")] = "both",
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    gateway_port: Annotated[
        int | None, typer.Option(help="micro entry port [env TWINSHOP_GATEWAY_PORT, 8080]")
    ] = None,
    lb_port: Annotated[
        int | None, typer.Option(help="mono entry port [env TWINSHOP_LB_PORT, 8081]")
    ] = None,
) -> None:
    """Start the shop and return once every unit is healthy."""
    rt = _runtime(runtime, home, gateway_port=gateway_port, lb_port=lb_port)
    started = time.monotonic()
    with console.status("starting units…"):
        entries = rt.up(arches_for(arch))
    took = time.monotonic() - started
    table = Table(title=f"twinshop is up ({rt.name} runtime, healthy in {took:.1f} s)")
    table.add_column("architecture")
    table.add_column("entry")
    names = {"micro": "microservices (gateway)", "mono": "monolith (lb)"}
    for name, entry in entries.items():
        table.add_row(names[name], entry)
    if len(entries) == 2:  # the side services start with both architectures
        for service, url in rt.side_services().items():
            table.add_row(service, url)
    console.print(table)
    # Quoted: zsh (macOS's shell) refuses an unquoted URL with a "?".
    console.print(f"Try: curl '{next(iter(entries.values()))}/products?limit=3'", soft_wrap=True)
    console.print(rt.logs_hint(), soft_wrap=True)
    console.print(f"Stop with: twinshop down --runtime {rt.name}", soft_wrap=True)


@app.command()
@friendly
def down(
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    volumes: Annotated[
        bool,
        typer.Option("--volumes", help="docker, swarm: also delete the databases' volumes"),
    ] = False,
) -> None:
    """Stop every unit (gracefully); leaves no process behind."""
    rt = _runtime(runtime, home)
    stopped = rt.down(volumes=volumes)
    console.print(f"stopped {stopped} units" if stopped else "nothing was running")


@app.command()
@friendly
def reset(
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Stop everything and forget its data and versions: the next `twinshop up` starts
    every unit at version 1 with fresh databases (the admin token is kept)."""
    rt = _runtime(runtime, home)
    stopped, forgotten = rt.reset()
    console.print(f"stopped {stopped} units; forgot {forgotten}", soft_wrap=True)
    console.print(f"start again at version 1 with: twinshop up --runtime {rt.name}")


@app.command()
@friendly
def status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Show every unit, its replicas, health, version and implementation."""
    rt = _runtime(runtime, home)
    report = rt.status()
    if as_json:
        print(json.dumps(report, indent=2))
        return
    if not report["architectures"]:
        console.print(nothing_running(rt), soft_wrap=True)
        return
    console.print(status_table(report, where=rt.where()))


def nothing_running(rt: Runtime) -> str:
    """What to say when no architecture runs: where we looked, and how to start it."""
    if rt.name == "process":  # the one runtime whose place a person picks (--home)
        return (
            f"nothing is running ({rt.where()}; another state folder? pass --home DIR or set "
            "TWINSHOP_HOME); start it with: twinshop up"
        )
    return f"nothing is running in {rt.where()}; start it with: twinshop up --runtime {rt.name}"


def status_table(report: dict[str, Any], *, where: str) -> Table:
    """One line per instance, narrow enough for an 80-column terminal: the entry of each
    architecture heads its group instead of being repeated on every line."""
    table = Table(
        title=f"twinshop ({report['runtime']} runtime, {where})",
        box=None,
        show_edge=False,
        pad_edge=False,
        title_justify="left",
    )
    for column in ("unit", "instance", "url", "health", "version", "impl", "cpus"):
        table.add_column(column, no_wrap=column == "url")
    for arch, body in report["architectures"].items():
        table.add_row(f"[bold]{arch}[/]", "", body["entry"], "", "", "", "", end_section=False)
        for unit, instances in body["units"].items():
            for inst in instances:
                health = "[green]healthy[/]" if inst["healthy"] else "[red]down[/]"
                cpus = inst.get("cpus")
                table.add_row(
                    f"  {unit}", inst["instance"] or "-", inst["url"], health,
                    inst["version"] or "-", inst.get("impl") or "-",
                    f"{cpus:g}" if cpus else "no limit",
                )  # fmt: skip
    return table


@app.command()
@friendly
def kill(
    unit: Annotated[str, typer.Argument(help="gateway, catalog, orders, lb or monolith")],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Kill every instance of a unit (SIGKILL); it stays down until `twinshop start`."""
    killed = _runtime(runtime, home).kill(unit)
    console.print(f"killed {killed} instance(s) of {unit}")


@app.command()
@friendly
def start(
    unit: Annotated[str, typer.Argument(help="gateway, catalog, orders, lb or monolith")],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
) -> None:
    """Start the stopped instances of a unit again and wait until they are healthy."""
    started = _runtime(runtime, home).start(unit)
    console.print(f"started {started} instance(s) of {unit}")


@app.command()
@friendly
def token(runtime: RuntimeOpt = "process", home: HomeOpt = None) -> None:
    """Print the admin token (for the admin routes: Authorization: Bearer <token>)."""
    print(_runtime(runtime, home).admin_token())


app.command()(ops_cli.scale)
app.command()(ops_cli.redeploy)
app.command()(ops_cli.chaos)
app.command("load")(load_command)
app.command("experiment")(experiment_command)
app.command("report")(report_command)
app.command("dashboard")(dashboard_command)
app.add_typer(images_app, name="images")

if __name__ == "__main__":
    app()
