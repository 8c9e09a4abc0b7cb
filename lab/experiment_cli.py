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
        str, typer.Argument(help="scaling, resilience, redeploy, communication, structure")
    ],
    runtime: RuntimeOpt = "process",
    home: HomeOpt = None,
    quick: QuickOpt = False,
    results: ResultsOpt = Path("results"),
) -> None:
    """Run one experiment against both architectures and print its rows of the table."""
    from lab.report import print_rows, run_experiment

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
