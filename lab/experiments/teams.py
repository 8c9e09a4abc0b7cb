"""Team structure and day-to-day development, measured from the repository itself.

No load and no running shop: the repository's own git history is replayed against today's
structure (Dockerfiles' copy lists, the import graph, CODEOWNERS). For each commit, per
architecture: images rebuilt, test suites run (and their measured time), teams that must
approve, units redeployed; the same for a synthetic change to each module. Optionally, each
image's build time with a cold and a warm cache (``--build-images``; throwaway tags).

Why it stays above 300 lines: the replay and the two rows built from it; the parts it
replays against live in ``lab/history.py``, ``lab/reach.py`` and ``lab/codeowners.py``.
"""

from __future__ import annotations

import math
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lab import history
from lab.builds import build_times
from lab.deployables import ARCHES
from lab.experiments.model import ExperimentResult, Row
from lab.reach import Impact, Layout

QUICK_COMMITS = 50
METRICS = ("images", "units", "lines", "teams", "test_files", "test_seconds", "build_seconds")
NAMES = {"micro": "microservices", "mono": "monolith"}


def measure_suites(layout: Layout) -> dict[str, dict[str, Any]]:
    """Run each deployable's pipeline suite once (pytest on its test files); wall seconds."""
    measured: dict[str, dict[str, Any]] = {}
    for name, tests in layout.suites.items():
        if not tests:
            continue
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
            cwd=layout.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        seconds = round(time.monotonic() - started, 2)
        last = (done.stdout.strip().splitlines() or [""])[-1]
        inside = re.search(r" in ([\d.]+)s", last)
        measured[name] = {
            "seconds": seconds,  # what the pipeline waits: interpreter, imports, collection, run
            "pytest_s": float(inside.group(1)) if inside else None,  # pytest's own figure
            "passed": done.returncode == 0,
            "summary": last,
            "load_average": round(os.getloadavg()[0], 1),  # a busy machine stretches the time
        }
        layout.suite_seconds[name] = seconds
    return measured


def distribution(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "mean": None, "max": None}
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 2),
        "p90": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 2),
        "mean": round(statistics.fmean(ordered), 2),
        "max": ordered[-1],
    }


def _value(impact: Impact, metric: str) -> float | None:
    value = getattr(impact, metric)
    return float(len(value)) if isinstance(value, list) else value


def summarise(impacts: list[dict[str, Impact]]) -> dict[str, Any]:
    """Distributions per architecture over changes that reach some deployable of either."""
    reaching = [i for i in impacts if any(i[arch].images for arch in ARCHES)]
    summary: dict[str, Any] = {"changes": len(impacts), "reaching": len(reaching)}
    for arch in ARCHES:
        per: dict[str, Any] = {}
        for metric in METRICS:
            values = [_value(i[arch], metric) for i in reaching]
            present = [v for v in values if v is not None]
            per[metric] = distribution(present) if len(present) == len(values) else None
        ones = [i for i in reaching if len(i[arch].images) == 1]
        per["one_image_share"] = round(len(ones) / len(reaching), 3) if reaching else None
        per["no_image"] = sum(1 for i in reaching if not i[arch].images)
        summary[arch] = per
    return summary


def area(module: str) -> str:
    """``shop/kernel/db.py`` -> ``shop/kernel``; ``monolith/app.py`` -> ``monolith``."""
    parts = module.split("/")
    return "/".join(parts[:2]) if len(parts) > 2 else parts[0]


def by_area(modules: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per code area, the mean reach of a synthetic change to one of its modules."""
    areas: dict[str, list[dict[str, Any]]] = {}
    for module, impact in modules.items():
        areas.setdefault(area(module), []).append(impact)
    return {
        name: {
            "modules": len(items),
            **{
                arch: {
                    metric: round(statistics.fmean(len(i[arch][metric]) for i in items), 2)
                    for metric in ("images", "units", "teams")
                }
                | {"test_files": round(statistics.fmean(i[arch]["test_files"] for i in items), 2)}
                for arch in ARCHES
            },
        }
        for name, items in sorted(areas.items())
    }


def replay(layout: Layout, commits: list[history.Commit]) -> list[dict[str, Any]]:
    rows = []
    for commit in commits:
        impact = {arch: layout.impact(commit.files, arch) for arch in ARCHES}
        rows.append(
            {
                "sha": commit.sha[:10],
                "subject": commit.subject[:80],
                "files": len(commit.files),
                "tooling": layout.tooling(commit.files),
                **{arch: asdict(impact[arch]) for arch in ARCHES},
            }
        )
    return rows


def _impacts(rows: list[dict[str, Any]]) -> list[dict[str, Impact]]:
    return [{arch: Impact(**row[arch]) for arch in ARCHES} for row in rows]


def run(
    root: Path,
    *,
    quick: bool,
    last: int | None = None,
    measure_tests: bool | None = None,
    build_images: bool = False,
) -> ExperimentResult:
    layout = Layout.read(root)
    past = history.read(root, last=last or (QUICK_COMMITS if quick else None))
    timed = (not quick) if measure_tests is None else measure_tests
    suites = measure_suites(layout) if timed else {}
    builds = build_times(root, layout) if build_images else {}
    layout.build_seconds = {
        name: figures["warm_s"] for name, figures in builds.items() if "warm_s" in figures
    }
    commits = replay(layout, past.commits)
    modules = {
        module: {arch: asdict(layout.impact([module], arch)) for arch in ARCHES}
        for module in layout.modules()
    }
    data: dict[str, Any] = {
        "history": past.note,
        "history_total": past.total,
        "commits": commits,
        "commit_summary": summarise(_impacts(commits)),
        "modules": modules,
        "module_summary": summarise(_impacts(list(modules.values()))),
        "areas": by_area(modules),
        "suites": {
            name: {"tests": tests, **suites.get(name, {"seconds": None})}
            for name, tests in layout.suites.items()
            if tests
        },
        "release_teams": {name: sorted(teams) for name, teams in layout.release.items()},
        "builds": builds or "not measured",
        "pipelines": {arch: [d.name for d in layout.deployables(arch)] for arch in ARCHES},
    }
    return ExperimentResult("teams", rows(data), data=data)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not measured"
    text = f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text + unit


def _dist(summary: dict[str, Any], arch: str, metric: str, unit: str = "") -> str:
    found = summary[arch][metric]
    if found is None:
        return "not measured"
    return f"median {_fmt(found['median'], unit)}, p90 {_fmt(found['p90'], unit)}"


def _mean(summary: dict[str, Any], arch: str, metric: str) -> float | None:
    found = summary[arch][metric]
    return None if found is None else found["mean"]


def _compare(
    what: str, micro: float | None, mono: float | None, *, fewer_is: str, unit: str = ""
) -> str:
    """One clause of a verdict from two means (within 5 %: no clear difference)."""
    if micro is None or mono is None:
        return f"{what}: not measured"
    figures = f"mean {micro:g}{unit} vs {mono:g}{unit} per change"
    if abs(micro - mono) <= 0.05 * max(micro, mono, 1e-9):
        return f"{what}: no clear difference ({figures})"
    winner = "microservices" if micro < mono else "monolith"
    return f"{what}: {winner} {fewer_is} ({figures})"


def _kernel(data: dict[str, Any]) -> str:
    """A kernel change, in both: the shared code reaches every service anyway."""
    kernel = sorted(m for m in data["modules"] if m.startswith("shop/kernel/"))
    kernel = [m for m in kernel if not m.endswith("__init__.py")] or kernel
    if not kernel:
        return ""
    widest = max(
        kernel,
        key=lambda m: (
            len(data["modules"][m]["micro"]["units"]),
            len(data["modules"][m]["micro"]["images"]),
        ),
    )
    micro, mono = data["modules"][widest]["micro"], data["modules"][widest]["mono"]
    return (
        f"a kernel change ({widest}) reaches every service anyway: micro rebuilds "
        f"{len(micro['images'])} images, redeploys {len(micro['units'])} units, runs "
        f"{len(micro['suites'])} suites and needs {len(micro['teams'])} teams; the monolith "
        f"{len(mono['images'])}, {len(mono['units'])}, {len(mono['suites'])} and "
        f"{len(mono['teams'])}"
    )


def rows(data: dict[str, Any]) -> list[Row]:
    history_s, modules_s = data["commit_summary"], data["module_summary"]
    n, reaching = history_s["changes"], history_s["reaching"]
    releases = data["release_teams"]
    source = f"{n} commits ({data['history']}), {reaching} of them reach a deployable"

    def team_cell(arch: str) -> str:
        owners = ", ".join(f"{d} {len(releases[d])}" for d in data["pipelines"][arch])
        one = history_s[arch]["one_image_share"]
        return (
            f"teams per change {_dist(history_s, arch, 'teams')}; "
            f"{_fmt(None if one is None else 100 * one, '%')} of changes rebuild one image "
            f"only; teams to release each unit: {owners}; per module "
            f"{_dist(modules_s, arch, 'teams')}"
        )

    service_teams = max((len(releases[d]) for d in ("catalog", "orders")), default=0)
    team_clauses = list(
        filter(
            None,
            [
                _compare(
                    "teams per change (history)",
                    _mean(history_s, "micro", "teams"),
                    _mean(history_s, "mono", "teams"),
                    fewer_is="needs fewer",
                ),
                _compare(
                    "per module",
                    _mean(modules_s, "micro", "teams"),
                    _mean(modules_s, "mono", "teams"),
                    fewer_is="needs fewer",
                ),
                f"the monolith ships only when {len(releases.get('monolith', []))} teams agree, "
                f"each service when {service_teams} does",
                _kernel(data),
            ],
        )
    )
    teams_verdict = _headline(team_clauses) + "; ".join(team_clauses)

    def dev_cell(arch: str) -> str:
        pipelines = len(data["pipelines"][arch])
        return (
            f"images {_dist(history_s, arch, 'images')}; units redeployed "
            f"{_dist(history_s, arch, 'units')} ({_dist(history_s, arch, 'lines', ' lines')}); "
            f"test files run "
            f"{_dist(history_s, arch, 'test_files')}; test time "
            f"{_dist(history_s, arch, 'test_seconds', ' s')}; image builds (warm) "
            f"{_dist(history_s, arch, 'build_seconds', ' s')}; {pipelines} pipelines to keep "
            f"green; build per image {_builds(data, arch)}"
        )

    dev_clauses = [
        _compare(
            "units redeployed",
            _mean(history_s, "micro", "units"),
            _mean(history_s, "mono", "units"),
            fewer_is="redeploys fewer",
        ),
        _compare(
            "test files run",
            _mean(history_s, "micro", "test_files"),
            _mean(history_s, "mono", "test_files"),
            fewer_is="runs fewer",
        ),
        _compare(
            "test time",
            _mean(history_s, "micro", "test_seconds"),
            _mean(history_s, "mono", "test_seconds"),
            fewer_is="spends less",
            unit=" s",
        ),
        _compare(
            "image builds (warm)",
            _mean(history_s, "micro", "build_seconds"),
            _mean(history_s, "mono", "build_seconds"),
            fewer_is="waits less",
            unit=" s",
        ),
        _compare(
            "per module, code redeployed",
            _mean(modules_s, "micro", "lines"),
            _mean(modules_s, "mono", "lines"),
            fewer_is="puts less at risk",
            unit=" lines",
        ),
        _compare(
            "per module, test time",
            _mean(modules_s, "micro", "test_seconds"),
            _mean(modules_s, "mono", "test_seconds"),
            fewer_is="spends less",
            unit=" s",
        ),
        f"the monolith keeps {len(data['pipelines']['mono'])} pipelines green and one version "
        f"of the shop to reason about, microservices {len(data['pipelines']['micro'])} "
        "independently versioned units",
    ]
    dev_clauses = [c for c in dev_clauses if c != "image builds (warm): not measured"]
    dev_verdict = _headline(dev_clauses) + "; ".join(dev_clauses)
    return [
        Row(
            "Team structure",
            f"CODEOWNERS (one team per path) over {source}: teams that must approve a change "
            "(owners of its files + the teams owning each unit it redeploys)",
            team_cell("micro"),
            team_cell("mono"),
            teams_verdict,
        ),
        Row(
            "Development and maintenance",
            f"the same {n} commits and a synthetic change to each of {len(data['modules'])} "
            "modules, per architecture: images rebuilt (Dockerfile copy lists), unit test "
            "suites their pipelines run (import graph; each suite timed once), units redeployed",
            dev_cell("micro"),
            dev_cell("mono"),
            dev_verdict,
        ),
    ]


def _builds(data: dict[str, Any], arch: str) -> str:
    builds = data["builds"]
    if not isinstance(builds, dict):
        return "not measured"
    parts = []
    for name in data["pipelines"][arch]:
        figures = builds.get(name, {})
        parts.append(
            f"{name} cold {_fmt(figures.get('cold_s'), ' s')} / warm "
            f"{_fmt(figures.get('warm_s'), ' s')}"
        )
    return ", ".join(parts)


def _headline(clauses: list[str]) -> str:
    """Who wins more of the measured comparisons, as the verdict's first words."""
    micro = sum(1 for c in clauses if ": microservices " in c)
    mono = sum(1 for c in clauses if ": monolith " in c)
    if micro == mono:
        return f"mixed ({micro} figures each way): "
    leader, count = ("microservices", micro) if micro > mono else ("monolith", mono)
    return f"{leader} ahead on {count} of {micro + mono} figures: "
