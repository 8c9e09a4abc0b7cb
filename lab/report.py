"""``twinshop experiment NAME`` and ``twinshop report``: run, save, print, write the report."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from pathlib import Path

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from lab.compose import project_root
from lab.console import console
from lab.errors import LabError
from lab.experiments import (
    communication,
    consistency,
    redeploy,
    resilience,
    scaling,
    structure,
    teams,
)
from lab.experiments.common import Lab
from lab.experiments.model import ExperimentResult, Row

EXPERIMENTS: dict[str, Callable[[Lab], ExperimentResult]] = {
    "structure": lambda lab: structure.run(),
    "teams": lambda lab: teams.run(project_root(), quick=lab.quick),
    "scaling": scaling.run,
    "resilience": resilience.run,
    "consistency": consistency.run,
    "redeploy": redeploy.run,
    "communication": communication.run,
}
CLAIMS = {
    "Structure": ("many small independent services", "one unified codebase"),
    "Scalability": ("each service scales independently", "must scale the whole app"),
    "Deployment": ("deploy one service, fast and often", "redeploy everything"),
    "Deployment (rolling)": ("deploy one service, fast and often", "redeploy everything"),
    "Technological flexibility": ("each service picks its stack", "one stack"),
    "Development and maintenance": ("small focused codebases", "large, complex"),
    "Resilience": ("one failure stays local", "one failure takes all down"),
    "Resilience (kill)": ("one failure stays local", "one failure takes all down"),
    "Team structure": ("one team per service", "one central team"),
    "Inter-service communication": ("network calls, must be managed", "in-process calls"),
    "Consistency under faults": ("sagas and compensation", "one transaction"),
    "Consistency under crashes": ("sagas and compensation", "one transaction"),
}


def new_run_folder(base: Path) -> Path:
    folder = base / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def run_experiment(name: str, lab: Lab) -> ExperimentResult:
    if name not in EXPERIMENTS:
        raise LabError(f"no experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    started = time.monotonic()
    result = EXPERIMENTS[name](lab)
    result.seconds = round(time.monotonic() - started, 1)
    result.save(lab.results)
    return result


def print_rows(rows: list[Row], title: str) -> None:
    table = Table(title=title, show_lines=True)
    for column in ("aspect", "what we did", "microservices", "monolith", "verdict"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.aspect, row.did, row.micro, row.mono, row.verdict)
    console.print(table)


def run_all(lab: Lab) -> list[ExperimentResult]:
    results = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("report", total=len(EXPERIMENTS))
        for name in EXPERIMENTS:
            progress.update(overall, description=f"experiment {name}")
            results.append(run_experiment(name, lab))
            progress.advance(overall)
    write_report(lab, results)
    return results


def write_report(lab: Lab, results: list[ExperimentResult]) -> tuple[Path, Path]:
    rows = [row for result in results for row in result.rows]
    machine = results[0].machine if results else {}
    about = (
        f"{machine.get('cpus')} CPUs ({machine.get('cpu')}), {machine.get('memory_gb')} GB, "
        f"{machine.get('os')}, Python {machine.get('python')}; twinshop {_version()}; "
        f"runtime {lab.runtime.name}; "
        f"{'quick' if lab.quick else 'full'} run of {machine.get('when')}"
    )
    caveats = [
        "Both architectures share one machine; with the process runtime no CPU limit per "
        "replica exists, so scaling is bound by the machine's cores.",
        "Quick runs are short: their figures show the direction, not a precise size.",
        "The load generator runs on the same machine and takes CPU from the units.",
    ]
    md = ["# twinshop — measured comparison", "", about, ""]
    md += [
        "| Aspect | Microservices claim | Monolith claim | What we did | Microservices | "
        "Monolith | Verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        claim = CLAIMS.get(row.aspect, ("", ""))
        cells = [row.aspect, *claim, row.did, row.micro, row.mono, row.verdict]
        md.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    md += ["", "## Charts", ""]
    for result in results:
        for chart in result.charts:
            md.append(f"![{result.name}]({Path(chart).name})")
    md += ["", "## Invariants", ""]
    for result in results:
        if result.invariants:
            held = all(not v for v in result.invariants.values())
            md.append(f"- {result.name}: {'all three hold' if held else result.invariants}")
    md += ["", "## Caveats", "", *[f"- {c}" for c in caveats], ""]
    md_path = lab.results / "report.md"
    md_path.write_text("\n".join(md))

    def esc(text: object) -> str:
        return html.escape(str(text))

    body = [f"<h1>twinshop — measured comparison</h1><p>{esc(about)}</p><table>",
            "<tr>" + "".join(f"<th>{h}</th>" for h in (
                "Aspect", "Microservices claim", "Monolith claim", "What we did",
                "Microservices", "Monolith", "Verdict")) + "</tr>"]  # fmt: skip
    for row in rows:
        claim = CLAIMS.get(row.aspect, ("", ""))
        cells = [row.aspect, *claim, row.did, row.micro, row.mono, row.verdict]
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    body.append("</table><h2>Charts</h2>")
    for result in results:
        for chart in result.charts:
            body.append(f'<figure><img src="{esc(Path(chart).name)}" alt="{esc(result.name)}">'
                        f"<figcaption>{esc(result.name)}</figcaption></figure>")  # fmt: skip
    body.append("<h2>Caveats</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in caveats) + "</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1400px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:6px;"
        "vertical-align:top;font-size:14px}th{background:#eee}img{max-width:100%}"
    )
    html_path = lab.results / "report.html"
    html_path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>twinshop report</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
    return md_path, html_path


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("twinshop")
    except PackageNotFoundError:
        return "unknown"
