"""The two catalogs, Python (services.catalog.app) and Rust (services/catalog-rs), direct
and behind our edge (services.gateway.app), side by side in one run.

Both catalogs share one SQLite file (the Python one creates and seeds it); each is pinned
to CPU 0 with taskset (the same CPU budget), the edges and the load generator to CPU 1.
For every path and connection count: rps, p50, p99 and the catalog's CPU µs per request,
direct and through the edge; then each catalog's idle RSS/USS and its cold start to
healthy. The Rust binary is built with cargo first when missing or stale (lab.impls).

    python bench/catalogs.py [--duration 5] [--connections 1 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    Processes,
    free_port,
    group_cpu_seconds,
    install_signal_handlers,
    rss_kb,
    uss_kb,
    uvicorn_cmd,
    wait_http,
    workspace,
)
from _loadgen import measure_url, pick_generator
from _report import fmt, machine, print_table, warn_if_busy, write_json

from lab import impls
from lab.errors import LabError

TOKEN = "bench-admin-token"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--paths", nargs="+", default=["/products/1", "/products?limit=20"])
    parser.add_argument("--generator", default="auto", choices=["auto", "wrk", "python"])
    parser.add_argument("--json")
    parser.add_argument("--keep", action="store_true")
    return parser.parse_args()


def pin(cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") else []


def start_catalog(procs: Processes, impl: str, db: Path) -> tuple[str, float]:
    """One catalog of ``impl`` on CPU 0; (url, seconds from spawn to a 200 on /health)."""
    port = free_port()
    env = {
        "TWINSHOP_UNIT": "catalog",
        "TWINSHOP_INSTANCE": f"bench-{impl}",
        "TWINSHOP_DATABASE_URL": f"sqlite:///{db}",
        "TWINSHOP_ADMIN_TOKEN": TOKEN,
        "TWINSHOP_LOG_REQUESTS": "0",
    }
    if impl == impls.RUST:
        cmd = [str(impls.rust_binary("catalog")), "--host", HOST, "--port", str(port)]
    else:
        cmd = uvicorn_cmd("services.catalog.app:app", port)
    started = time.monotonic()
    procs.start(impl, pin(0) + cmd, env)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/health", timeout=60, alive=lambda: procs.alive(impl))
    return url, round(time.monotonic() - started, 3)


def start_edge(procs: Processes, name: str, upstream: str) -> str:
    port = free_port()
    env = {
        "TWINSHOP_LOG_REQUESTS": "0",
        "TWINSHOP_UNIT": "gateway",
        "TWINSHOP_INSTANCE": name,
        "TWINSHOP_ROUTES": json.dumps({"/products": "catalog"}),
        "TWINSHOP_UPSTREAMS": json.dumps({"catalog": f"list:{upstream}"}),
    }
    cmd = uvicorn_cmd("services.gateway.app:app", port, "--loop", "uvloop", "--http", "httptools")
    procs.start(name, pin(1) + cmd, env)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/health", timeout=60, alive=lambda: procs.alive(name))
    return url


def measure(args: argparse.Namespace, workdir: Path, procs: Processes) -> dict[str, Any]:
    generator = pick_generator(args.generator)
    db = workdir / "catalog.db"
    catalogs: dict[str, dict[str, Any]] = {}
    for impl in (impls.PYTHON, impls.RUST):  # python first: it creates and seeds the file
        url, cold = start_catalog(procs, impl, db)
        catalogs[impl] = {"url": url, "cold_start_s": cold}
        catalogs[impl]["edge"] = start_edge(procs, f"edge-{impl}", url)
    rows: list[dict[str, Any]] = []
    for path in args.paths:
        for conns in args.connections:
            for impl, where in catalogs.items():
                for via in ("direct", "edge"):
                    url = (where["url"] if via == "direct" else where["edge"]) + path
                    if args.warmup > 0:
                        measure_url(generator, url, connections=conns, duration=args.warmup,
                                 workdir=workdir)  # fmt: skip
                    cpu0 = group_cpu_seconds(procs.pid(impl))
                    result = measure_url(
                        generator, url, connections=conns, duration=args.duration,
                        workdir=workdir,
                    )  # fmt: skip
                    cpu = group_cpu_seconds(procs.pid(impl)) - cpu0
                    row = {
                        "path": path,
                        "connections": conns,
                        "catalog": impl,
                        "via": via,
                        **result.as_dict(),
                        "catalog_cpu_us_per_req": cpu / max(1, result.requests) * 1e6,
                    }
                    rows.append(row)
                    print(
                        f"  {path:<20} c={conns:<3} {impl:<6} {via:<6} {result.rps:9.0f} rps  "
                        f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:7.3f} ms"
                        + (f"  ({result.bad_status} bad)" if result.bad_status else "")
                    )
    time.sleep(2.0)  # idle, then memory
    for impl, where in catalogs.items():
        pid = procs.pid(impl)
        rss, uss = rss_kb(pid), uss_kb(pid)
        where["rss_mb"] = None if rss is None else round(rss / 1024, 1)
        where["uss_mb"] = None if uss is None else round(uss / 1024, 1)
    return {"generator": generator, "catalogs": catalogs, "rows": rows}


def report(data: dict[str, Any]) -> None:
    rows = data["rows"]
    by = {(r["path"], r["connections"], r["catalog"], r["via"]): r for r in rows}
    table = []
    for r in rows:
        other = by.get((r["path"], r["connections"], impls.PYTHON, r["via"]))
        ratio = r["rps"] / other["rps"] if other and other["rps"] else None
        table.append([
            r["path"], r["connections"], r["catalog"], r["via"], fmt(r["rps"], 0),
            fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3), fmt(r["catalog_cpu_us_per_req"], 0),
            fmt(ratio) if r["catalog"] == impls.RUST else "",
        ])  # fmt: skip
    print_table(
        "catalogs: Python vs Rust, direct and behind the edge (catalog pinned to CPU 0)",
        ["path", "conns", "catalog", "via", "rps", "p50 ms", "p99 ms", "cpu µs/req",
         "rust/python rps"],
        table,
    )  # fmt: skip
    print_table(
        "footprint",
        ["catalog", "cold start to healthy s", "idle RSS MB", "idle USS MB"],
        [
            [impl, c["cold_start_s"], c["rss_mb"], c["uss_mb"]]
            for impl, c in data["catalogs"].items()
        ],
    )


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    started = time.time()
    load_before = warn_if_busy()
    try:
        with workspace("twinshop-bench-catalogs-", keep=args.keep) as workdir:
            procs = Processes(workdir)
            try:
                data = measure(args, workdir, procs)
            finally:
                procs.stop_all()
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except (RuntimeError, LabError) as exc:
        print(f"benchmark could not run: {exc}")
        return 0
    data["machine"] = machine()
    data["args"] = vars(args)
    data["load_before"] = load_before
    data["wall_seconds"] = round(time.time() - started, 1)
    report(data)
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
