"""Technological flexibility, measured: the catalog in Python and in Rust, side by side.

Both implementations serve the same contract on the same database schema. For each one,
alone on a fresh SQLite file and pinned to one CPU (``taskset``: the same CPU budget):
cold start to a healthy ``/health``, req/s and p50/p95 of ``GET /products/1`` (wrk, 16
connections, from the other CPU), idle RSS and USS after that load; plus lines of code,
direct dependencies and image size. Then the swap itself on the running lab: two catalog
replicas, mixed load through the gateway, ``redeploy catalog --impl rust`` and back;
failed requests and seconds. The monolith column is what the structure says: the
catalog lives inside the one process, so changing its language means rebuilding and
redeploying all of it.

Why it stays above 300 lines: the one row has two measurements (each implementation alone,
then the live swap) that fill one result and one table.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from lab import impls
from lab.compose import project_root
from lab.errors import LabError
from lab.experiments.common import Lab, window
from lab.experiments.model import ExperimentResult, Row
from lab.experiments.structure import code_paths, image_size_mb, lines_of_code
from lab.runtime.processes import free_port

PATH = "/products/1"
CONNECTIONS = 16
WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("FLEXJSON {\\"requests\\":%d,\\"us\\":%d,\\"p50\\":%d,\\"p95\\":%d,"
    .. "\\"errors\\":%d}\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(95), summary.errors.status + summary.errors.connect
    + summary.errors.read + summary.errors.timeout))
end
"""


def _rust_lines(root: Path) -> tuple[int, int]:
    files = sorted((root / "services/catalog-rs/src").rglob("*.rs"))
    return len(files), sum(1 for f in files for line in f.read_text().splitlines() if line.strip())


def _cargo_deps(root: Path) -> tuple[int, int]:
    """(direct dependencies in Cargo.toml, crates in Cargo.lock)."""
    text = (root / "services/catalog-rs/Cargo.toml").read_text()
    section = text.split("[dependencies]", 1)[1].split("\n[", 1)[0]
    direct = sum(1 for line in section.splitlines() if re.match(r"^[A-Za-z0-9_-]+\s*=", line))
    locked = (root / "services/catalog-rs/Cargo.lock").read_text().count("[[package]]")
    return direct, locked - 1  # the crate itself


def static_figures(root: Path) -> dict[str, dict[str, Any]]:
    py_files, py_lines = lines_of_code(root, code_paths(root / "services/catalog/Dockerfile"))
    pins = [
        line
        for line in (root / "docker/requirements/catalog.txt").read_text().splitlines()
        if "==" in line
    ]
    rs_files, rs_lines = _rust_lines(root)
    direct, locked = _cargo_deps(root)
    return {
        "python": {
            "lines": py_lines,
            "files": py_files,
            "deps": len(pins),
            "deps_note": "pinned wheels",
            "image_mb": image_size_mb("twinshop/catalog:latest"),
        },
        "rust": {
            "lines": rs_lines,
            "files": rs_files,
            "deps": direct,
            "deps_note": f"direct crates ({locked} in Cargo.lock)",
            "image_mb": image_size_mb("twinshop/catalog-rs:latest"),
        },
    }


def _memory_kb(pid: int) -> tuple[int | None, int | None]:
    """(RSS, USS) in kB: VmRSS, and Private_Clean + Private_Dirty of smaps_rollup."""
    rss = uss = None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        private = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1])
        uss = private
    except (OSError, ValueError):
        pass
    return rss, uss


def _pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() else []


def wrk(url: str, *, seconds: float, connections: int, workdir: Path) -> dict[str, Any]:
    """req/s, p50 and p95 (ms) of GETs on ``url`` (wrk, one thread, on CPU 1)."""
    if shutil.which("wrk") is None:
        return _python_load(url, seconds=seconds, connections=min(connections, 8))
    script = workdir / "flex.lua"
    script.write_text(WRK_SCRIPT)
    cpu = _pin(1) if (os.cpu_count() or 1) > 1 else []
    cmd = [*cpu, "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 30)
    match = re.search(r"FLEXJSON (\{.*\})", out.stdout)
    if not match:
        raise LabError(f"wrk gave no figures: {out.stderr.strip()[-200:]}")
    raw = json.loads(match.group(1))
    return {
        "rps": round(raw["requests"] / (raw["us"] / 1e6), 1),
        "p50_ms": round(raw["p50"] / 1000, 2),
        "p95_ms": round(raw["p95"] / 1000, 2),
        "errors": raw["errors"],
        "generator": "wrk",
    }


def _python_load(url: str, *, seconds: float, connections: int) -> dict[str, Any]:
    """A fallback without wrk: threads of keep-alive GETs (the client limits the figures)."""
    import threading

    times: list[float] = []
    errors = 0
    stop = time.monotonic() + seconds

    def work() -> None:
        nonlocal errors
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < stop:
                start = time.perf_counter()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                times.append(time.perf_counter() - start)
                errors += 0 if ok else 1

    threads = [threading.Thread(target=work) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ordered = sorted(times) or [0.0]
    return {
        "rps": round(len(times) / seconds, 1),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 2),
        "p95_ms": round(1000 * ordered[int(len(ordered) * 0.95)], 2),
        "errors": errors,
        "generator": "python threads",
    }


def measure_alone(impl: str, *, seconds: float, workdir: Path) -> dict[str, Any]:
    """One replica of ``impl`` on its own SQLite file, pinned to CPU 0."""
    port = free_port()
    db = workdir / f"{impl}.db"
    env = {
        **os.environ,
        "TWINSHOP_UNIT": "catalog",
        "TWINSHOP_INSTANCE": f"flex-{impl}",
        "TWINSHOP_DATABASE_URL": f"sqlite:///{db}",
        "TWINSHOP_ADMIN_TOKEN": "flexibility",
        "TWINSHOP_LOG_REQUESTS": "0",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = _pin(0) + impls.command("catalog", impl, "services.catalog.app:app",
                                  host="127.0.0.1", port=port)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    log = (workdir / f"{impl}.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd=project_root(), start_new_session=True)  # fmt: skip
    try:
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() - started > 60:
                raise LabError(f"the {impl} catalog did not start; see {log.name}")
            time.sleep(0.02)
        cold = time.monotonic() - started
        wrk(url + PATH, seconds=1, connections=CONNECTIONS, workdir=workdir)  # warm-up
        load = wrk(url + PATH, seconds=seconds, connections=CONNECTIONS, workdir=workdir)
        time.sleep(1.0)
        rss, uss = _memory_kb(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    return {
        "cold_start_s": round(cold, 2),
        **load,
        "rss_mb": None if rss is None else round(rss / 1024, 1),
        "uss_mb": None if uss is None else round(uss / 1024, 1),
    }


def swap(lab: Lab) -> dict[str, Any]:
    """On the running lab: 2 catalog replicas, mixed load, redeploy to rust and back."""
    from lab.load import run_load

    runtime = lab.runtime
    before = len(runtime.status()["architectures"]["micro"]["units"]["catalog"])
    if before < 2:
        runtime.scale("catalog", 2)
    out: dict[str, Any] = {}
    try:
        for impl in ("rust", "python"):
            took: dict[str, Any] = {}

            def deploy(impl: str = impl, took: dict[str, Any] = took) -> None:
                took.update(runtime.redeploy("catalog", impl=impl))

            duration = lab.seconds(14, 25)
            results = run_load(
                targets={"micro": lab.entries["micro"]},
                scenario="mixed",
                users=int(lab.seconds(6, 12)),
                duration=duration,
                actions=[(3.0, deploy)],
            )
            series = results["micro"].series
            requests = sum(window(series[g], 0, duration + 5)[0] for g in ("browse", "checkout"))
            failed = sum(window(series[g], 0, duration + 5)[1] for g in ("browse", "checkout"))
            out[impl] = {"requests": requests, "failed": failed, "seconds": took.get("seconds")}
    finally:
        if before < 2:
            runtime.scale("catalog", before)
    return out


def run(lab: Lab) -> ExperimentResult:
    root = project_root()
    figures = static_figures(root)
    try:
        impls.rust_binary("catalog")
    except LabError as exc:  # no cargo here: say so in the row, do not fail the report
        row = Row(
            "Technological flexibility (measured)",
            "the catalog rewritten in Rust behind the same contract",
            f"n/a: {exc}",
            "one process: another language for the catalog means redeploying all of it",
            "not measured on this machine",
        )
        return ExperimentResult("flexibility", [row], data={"catalogs": figures, "error": str(exc)})
    seconds = lab.seconds(4, 10)
    with tempfile.TemporaryDirectory(prefix="twinshop-flex-") as tmp:
        for impl in impls.IMPLS:
            figures[impl].update(measure_alone(impl, seconds=seconds, workdir=Path(tmp)))
    swapped = swap(lab)
    py, rs = figures["python"], figures["rust"]

    def describe(d: dict[str, Any]) -> str:
        image = f"{d['image_mb']} MB image" if d["image_mb"] else "image n/a"
        return (
            f"{d['rps']:.0f} req/s on 1 CPU, p50 {d['p50_ms']} ms, p95 {d['p95_ms']} ms; "
            f"idle RSS {d['rss_mb']} MB, USS {d['uss_mb']} MB; healthy in "
            f"{d['cold_start_s']} s; {d['lines']} lines, {d['deps']} {d['deps_note']}; {image}"
        )

    to_rust, back = swapped["rust"], swapped["python"]
    micro = (
        f"python: {describe(py)} | rust: {describe(rs)} | swap to rust under load: "
        f"{to_rust['failed']} of {to_rust['requests']} requests failed, {to_rust['seconds']} s; "
        f"back: {back['failed']} of {back['requests']} failed, {back['seconds']} s"
    )
    ratio = rs["rps"] / py["rps"] if py["rps"] else float("nan")
    rows = [
        Row(
            "Technological flexibility (measured)",
            "the catalog rewritten in Rust behind the same contract; each alone on 1 CPU "
            f"(wrk, {CONNECTIONS} conns, GET {PATH}); then a rolling swap of 2 replicas",
            micro,
            "one process hosts the catalog with everything else: another language for the "
            "catalog means rebuilding and redeploying the whole monolith (and a second "
            "runtime inside it) — there is no unit to swap",
            f"Rust serves {ratio:.1f}× the requests per CPU with "
            f"{(py['rss_mb'] or 0) / max(rs['rss_mb'] or 1, 0.1):.0f}× less memory; the swap "
            f"failed {to_rust['failed'] + back['failed']} requests: one service changed "
            "language while the shop kept selling",
        )
    ]
    data = {"catalogs": figures, "swap": swapped, "python": sys.version.split()[0]}
    return ExperimentResult("flexibility", rows, data=data)
