"""``twinshop experiment NAME`` and ``twinshop report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lab.console import console, friendly
from lab.errors import LabError
from lab.experiments.common import ARCHES, Lab
from lab.runtimes import HomeOpt, RuntimeOpt

QuickOpt = Annotated[bool, typer.Option("--quick", help="short runs (CI): direction, not size")]
ResultsOpt = Annotated[Path, typer.Option("--results", help="where runs are written")]
StartOpt = Annotated[
    bool,
    typer.Option("--start", help="start what is not running (micro and mono) without asking first"),
]


def _lab(runtime: str, home: str | None, quick: bool, results: Path, *, start: bool) -> Lab:
    from lab.report import new_run_folder
    from lab.runtimes import make_runtime

    rt = make_runtime(runtime, home)
    ensure_running(rt, start=start, interactive=sys.stdin.isatty())
    return Lab(rt, new_run_folder(results), quick=quick)


def ensure_running(rt: Any, *, start: bool, interactive: bool) -> None:
    """Both architectures must run: start the missing ones with ``--start``, or after
    asking on a terminal; otherwise say how (never waits for input without a terminal)."""
    running = rt.status()["architectures"]
    missing = tuple(arch for arch in ARCHES if arch not in running)
    if not missing:
        return
    names = " and ".join(missing)
    if not start and interactive:
        start = typer.confirm(f"{names} not running ({rt.name} runtime); start now?", default=True)
    if not start:
        raise LabError(
            f"{names} not running ({rt.name} runtime); start with: twinshop up --runtime "
            f"{rt.name}, or add --start"
        )
    with console.status(f"starting {names}…"):
        rt.up(missing)


@friendly
def experiment_command(
    name: Annotated[
        str,
        typer.Argument(
            help="scaling, resilience, redeploy, communication, structure, teams, flexibility"
        ),
    ],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    quick: QuickOpt = False,
    results: ResultsOpt = Path("results"),
    start: StartOpt = False,
    last: Annotated[
        int | None, typer.Option(help="teams: replay the last N commits (quick: 50; else all)")
    ] = None,
    build_images: Annotated[
        bool,
        typer.Option(
            "--build-images",
            help="teams: time a cold and a warm build of each image (throwaway tags; minutes)",
        ),
    ] = False,
) -> None:
    """Run one experiment against both architectures and print its rows of the table."""
    from lab.report import EXPERIMENTS, print_rows, run_experiment

    if name not in EXPERIMENTS:  # before any folder is made
        raise LabError(f"no experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    if name == "teams":
        _teams(quick=quick, results=results, last=last, build_images=build_images)
        return
    lab = _lab(runtime, home, quick, results, start=start)
    with console.status(f"experiment {name} ({'quick' if quick else 'full'})…"):
        result = run_experiment(name, lab)
    print_rows(result.rows, f"{name}: measured in {result.seconds} s")
    console.print(f"results: {lab.results / (name + '.json')}  charts: {', '.join(result.charts)}")


@friendly
def report_command(
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    quick: QuickOpt = False,
    results: ResultsOpt = Path("results"),
    start: StartOpt = False,
) -> None:
    """Run every experiment, then write report.md and report.html."""
    from lab.report import print_rows, run_all

    lab = _lab(runtime, home, quick, results, start=start)
    outcomes = run_all(lab)
    print_rows([row for r in outcomes for row in r.rows], "twinshop: measured comparison")
    console.print(f"report: {lab.results / 'report.md'} and {lab.results / 'report.html'}")


def _teams(*, quick: bool, results: Path, last: int | None, build_images: bool) -> None:
    """The teams experiment needs no running shop: only the repository and its history."""
    import time

    from rich.table import Table

    from lab.compose import project_root
    from lab.experiments import teams
    from lab.report import new_run_folder, print_rows

    folder = new_run_folder(results)
    started = time.monotonic()
    with console.status(f"experiment teams ({'quick' if quick else 'full'})…"):
        result = teams.run(project_root(), quick=quick, last=last, build_images=build_images)
    result.seconds = round(time.monotonic() - started, 1)
    result.save(folder)
    table = Table(title="a synthetic change to one module of each area: mean reach, micro / mono")
    for column in ("area", "modules", "images", "units redeployed", "teams", "test files"):
        table.add_column(column)
    for name, figures in result.data["areas"].items():
        micro, mono = figures["micro"], figures["mono"]
        table.add_row(name, str(figures["modules"]), *(
            f"{micro[m]:g} / {mono[m]:g}" for m in ("images", "units", "teams", "test_files")
        ))  # fmt: skip
    console.print(table)
    print_rows(result.rows, f"teams: measured in {result.seconds} s ({result.data['history']})")
    console.print(f"results: {folder / 'teams.json'}")
