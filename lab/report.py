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
    flexibility,
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
    "flexibility": flexibility.run,
}
CLAIMS = {
    "Structure": ("many small independent services", "one unified codebase"),
    "Scalability": ("each service scales independently", "must scale the whole app"),
    "Deployment": ("deploy one service, fast and often", "redeploy everything"),
    "Deployment (rolling)": ("deploy one service, fast and often", "redeploy everything"),
    "Technological flexibility": ("each service picks its stack", "one stack"),
    "Technological flexibility (measured)": ("each service picks its stack", "one stack"),
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


CAPTIONS = {
    "resilience": "Look at the top row: after the crash and the kill, micro's browse line stays "
    "at 100 % while mono's drops with checkout — the same bug takes the whole monolith down. "
    "Grey bands: seconds in which no request got an answer at all.",
    "redeploy-1": "One replica each: after the dashed line micro's checkout dips while its "
    "browse line stays at 100 %; mono's browse and checkout dip together — redeploying the "
    "monolith is an outage for every route. Grey bands: seconds in which no request got an "
    "answer at all.",
    "redeploy-2": "Two replicas each, rolling: both lines should stay at 100 % through the "
    "redeploy, in both architectures — no failed request.",
    "communication": "Left column (micro): while catalog is slow, checkouts fail after their "
    "2 s budget and p95 climbs to it; while catalog is dead they fail fast. Right column "
    "(mono): the same load, untouched. Grey bands: seconds in which no request got an "
    "answer (requests were waiting on the slow catalog).",
    "consistency": "Every acknowledged order is kept and no stock leaks, in both, whatever "
    "was killed.",
}


def caption(result: ExperimentResult, index: int, chart: str) -> str:
    """What to look at in one chart: the experiment's own caption, else the report's."""
    if index < len(result.captions):
        return result.captions[index]
    stem = Path(chart).stem
    return CAPTIONS.get(stem) or CAPTIONS.get(result.name) or f"{result.name}: {stem}"


def invariant_lines(results: list[ExperimentResult]) -> list[str]:
    lines = []
    for result in results:
        if result.invariants:
            broken = {arch: v for arch, v in result.invariants.items() if v}
            lines.append(
                f"{result.name}: all three hold in both architectures (no acknowledged order "
                "lost, stock conserved, stock never negative)"
                if not broken
                else f"{result.name}: BROKEN — "
                + "; ".join(f"{arch}: {', '.join(v)}" for arch, v in broken.items())
            )
    return lines


def caveat_lines(lab: Lab, results: list[ExperimentResult]) -> list[str]:
    scaling_data = next((r.data for r in results if r.name == "scaling"), {})
    cpu = scaling_data.get("cpu_limit") if isinstance(scaling_data, dict) else None
    if cpu and cpu.get("applied"):
        budget = (
            f"Every replica ran with the same CPU budget as in docker ({cpu['how']}): 0.5 CPU "
            "per unit, 1 per edge (TWINSHOP_UNIT_CPUS, TWINSHOP_EDGE_CPUS)."
        )
    elif cpu:
        budget = (
            f"No CPU limit per replica on this machine ({cpu['how']}): the scaling figures "
            "measure this machine's cores; run the scaling experiment with --runtime docker."
        )
    else:
        budget = "The scaling experiment did not run in this report."
    return [
        budget,
        "Both architectures share one machine; the load generator runs on it too and takes "
        "CPU from the units.",
        "Quick runs are short: their figures show the direction, not a precise size. Where a "
        'verdict says "no clear difference", the runs disagreed more than the two '
        "architectures did.",
    ]


def write_report(lab: Lab, results: list[ExperimentResult]) -> tuple[Path, Path]:
    """report.md and report.html, with the same content: the table, every chart with a
    caption, the invariants and the caveats."""
    rows = [row for result in results for row in result.rows]
    machine = results[0].machine if results else {}
    about = (
        f"{machine.get('cpus')} CPUs ({machine.get('cpu')}), {machine.get('memory_gb')} GB, "
        f"{machine.get('os')}, Python {machine.get('python')}; twinshop {_version()}; "
        f"runtime {lab.runtime.name}; "
        f"{'quick' if lab.quick else 'full'} run of {machine.get('when')}"
    )
    headers = ("Aspect", "Microservices claim", "Monolith claim", "What we did",
               "Microservices", "Monolith", "Verdict")  # fmt: skip
    table = [[row.aspect, *CLAIMS.get(row.aspect, ("", "")), row.did, row.micro, row.mono,
              row.verdict] for row in rows]  # fmt: skip
    charts = [
        (result.name, Path(chart).name, caption(result, i, chart))
        for result in results
        for i, chart in enumerate(result.charts)
    ]
    invariants = invariant_lines(results)
    caveats = caveat_lines(lab, results)

    md = ["# twinshop — measured comparison", "", about, ""]
    md += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    md += ["| " + " | ".join(c.replace("|", "/") for c in cells) + " |" for cells in table]
    md += ["", "## Charts", ""]
    for name, image, text in charts:
        md += [f"### {name}", "", f"![{name}]({image})", "", f"*{text}*", ""]
    md += ["## Invariants", "", *[f"- {line}" for line in invariants], ""]
    md += ["## Caveats", "", *[f"- {c}" for c in caveats], ""]
    md_path = lab.results / "report.md"
    md_path.write_text("\n".join(md))

    def esc(text: object) -> str:
        return html.escape(str(text))

    columns = "".join(f'<col class="{c}">' for c in (
        "aspect", "claim", "claim", "did", "figures", "figures", "verdict"))  # fmt: skip
    body = [f"<h1>twinshop — measured comparison</h1><p>{esc(about)}</p><table>{columns}",
            "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr>"]  # fmt: skip
    for cells in table:
        body.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>")
    body.append("</table><h2>Charts</h2>")
    for name, image, text in charts:
        body.append(f'<figure><h3>{esc(name)}</h3><img src="{esc(image)}" alt="{esc(name)}">'
                    f"<figcaption>{esc(text)}</figcaption></figure>")  # fmt: skip
    body.append("<h2>Invariants</h2><ul>" + "".join(f"<li>{esc(i)}</li>" for i in invariants))
    body.append("</ul><h2>Caveats</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in caveats))
    body.append("</ul>")
    style = (
        "body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;width:100%;table-layout:fixed}"
        "td,th{border:1px solid #ccc;padding:6px;vertical-align:top;font-size:14px;"
        "overflow-wrap:anywhere}th{background:#eee}img{max-width:100%}"
        "col.aspect{width:8%}col.claim{width:9%}col.did{width:16%}col.figures{width:19%}"
        "col.verdict{width:20%}"
        "figure{margin:1.5em 0}figcaption{font-style:italic;color:#333;max-width:60em}"
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
