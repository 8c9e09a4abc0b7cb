"""``twinshop experiment NAME`` and ``twinshop report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lab.console import console, friendly
from lab.experiments.common import Lab

RuntimeOpt = Annotated[str, typer.Option("--runtime", help="process, docker or swarm")]
HomeOpt = Annotated[str | None, typer.Option("--home", help="state directory (process runtime)")]
QuickOpt = Annotated[bool, typer.Option("--quick", help="short runs (CI): direction, not size")]
ResultsOpt = Annotated[Path, typer.Option("--results", help="where runs are written")]


def _lab(runtime: str, home: str | None, quick: bool, results: Path) -> Lab:
    from lab.report import new_run_folder
    from lab.runtimes import make_runtime

    return Lab(make_runtime(runtime, home), new_run_folder(results), quick=quick)


@friendly
def experiment_command(
    name: Annotated[
        str,
        typer.Argument(help="scaling, resilience, redeploy, communication, structure, teams"),
    ],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    quick: QuickOpt = False,
    results: ResultsOpt = Path("results"),
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
    from lab.report import print_rows, run_experiment

    if name == "teams":
        _teams(quick=quick, results=results, last=last, build_images=build_images)
        return
    lab = _lab(runtime, home, quick, results)
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
) -> None:
    """Run every experiment, then write report.md and report.html."""
    from lab.report import print_rows, run_all

    lab = _lab(runtime, home, quick, results)
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
