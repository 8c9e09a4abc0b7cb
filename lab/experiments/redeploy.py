"""Deployment: redeploy orders vs redeploy the monolith, under the same mixed load.

First with one replica each (the honest single-instance case: a restart), then with two
replicas each, rolling. Counts failed requests per route, seconds with errors, and how
long the redeploy took."""

from __future__ import annotations

import threading
import time
from functools import partial

from lab.experiments.common import (
    ARCHES,
    HOSTING_ORDERS,
    Lab,
    error_seconds,
    invariants_checked,
    timeline_chart,
    window,
)
from lab.experiments.model import ExperimentResult, Row


def _redeploy_both(lab: Lab, took: dict[str, float]) -> None:
    def one(arch: str) -> None:
        started = time.monotonic()
        lab.runtime.redeploy(HOSTING_ORDERS[arch])
        took[arch] = round(time.monotonic() - started, 1)

    threads = [threading.Thread(target=one, args=(arch,)) for arch in ARCHES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def run(lab: Lab) -> ExperimentResult:
    from lab.load import run_load

    users = int(lab.seconds(8, 20))
    at = lab.seconds(4, 8)
    duration = lab.seconds(16, 30)
    data: dict[str, dict[str, object]] = {arch: {} for arch in ARCHES}
    charts = []
    record: dict[str, list[str]] = {}
    with invariants_checked(lab, record) as acknowledged:
        for replicas in (1, 2):
            if replicas == 2:
                for arch in ARCHES:
                    lab.runtime.scale(HOSTING_ORDERS[arch], 2)
            took: dict[str, float] = {}
            results = run_load(
                targets=lab.entries,
                scenario="mixed",
                users=users,
                duration=duration,
                actions=[(at, partial(_redeploy_both, lab, took))],
            )
            for arch in ARCHES:
                acknowledged[arch] += list(results[arch].acknowledged)
                series = results[arch].series
                data[arch][f"{replicas}_replica"] = {
                    "failed_browse": window(series["browse"], 0, duration + 5)[1],
                    "failed_checkout": window(series["checkout"], 0, duration + 5)[1],
                    "error_seconds": error_seconds(series["browse"] + series["checkout"]),
                    "deploy_s": took.get(arch),
                    "series": results[arch].to_dict(),
                }
            charts.append(
                timeline_chart(
                    lab.results / f"redeploy-{replicas}.png",
                    f"Redeploy orders vs the monolith ({replicas} replica(s) each)",
                    results,
                    events=[(at, "redeploy orders / monolith")],
                )
            )
        for arch in ARCHES:
            lab.runtime.scale(HOSTING_ORDERS[arch], 1)

    def figures(arch: str, key: str) -> str:
        d = data[arch][key]
        assert isinstance(d, dict)
        return (
            f"failed browse {d['failed_browse']}, checkout {d['failed_checkout']}; "
            f"{d['error_seconds']} s with errors; deploy {d['deploy_s']} s"
        )

    def failed(arch: str, key: str, route: str) -> int:
        d = data[arch][key]
        assert isinstance(d, dict)
        return int(d[f"failed_{route}"])

    def single_verdict() -> str:
        micro_browse, mono_browse = (failed(a, "1_replica", "browse") for a in ARCHES)
        if micro_browse == 0 and mono_browse > 0:
            return (
                "redeploying orders left browsing untouched; redeploying the monolith failed "
                f"{mono_browse} browse requests too"
            )
        return f"failed browse requests: micro {micro_browse}, mono {mono_browse}"

    def rolling_verdict() -> str:
        total = sum(failed(a, "2_replica", r) for a in ARCHES for r in ("browse", "checkout"))
        if total == 0:
            return (
                "with two replicas, rolling, neither failed a request: the outage of the "
                "single-replica case is about replicas, not micro vs mono"
            )
        return f"{total} requests failed during the rolling redeploys"

    rows = [
        Row(
            "Deployment",
            "mixed load; redeploy the unit hosting orders, one replica each",
            figures("micro", "1_replica"),
            figures("mono", "1_replica"),
            single_verdict(),
        ),
        Row(
            "Deployment (rolling)",
            "the same with two replicas each, rolling: new one healthy before an old one drains",
            figures("micro", "2_replica"),
            figures("mono", "2_replica"),
            rolling_verdict(),
        ),
    ]
    return ExperimentResult("redeploy", rows, data=data, charts=charts, invariants=record)
