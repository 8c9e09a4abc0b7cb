"""What tracing costs: checkout and browse with tracing off, sampled at 10 %, and at 100 %.

    python bench/tracing.py                     # 1 and 8 connections, 5 s per measurement
    python bench/tracing.py --connections 8 --duration 8 --json tracing.json

Three copies of both architectures run side by side with the process runtime, each in its
own temporary TWINSHOP_HOME and on free ports: ``TWINSHOP_TRACING=0``; tracing on with
``TWINSHOP_TRACE_SAMPLE=0.1``; and with ``1.0``. The two traced copies export their spans
over OTLP/HTTP to the dashboard's receiver (``lab.dashboard.app``, its own process), as the
workshop stack does. Every measurement (operation × connections × architecture) runs the
three modes one after the other, in an order that rotates, so that drift hits them alike.
Prints req/s and p50 per mode, and each mode's cost against tracing off.

First, the CPU each request costs in one process, which a busy machine hardly moves
(``_tracing_worker.py``: the edge with an upstream that answers at once, and the catalog
unit on SQLite, called directly, ``--cpu-requests`` times, each mode in its own process,
``--rounds`` rounds interleaved, medians): tracing off, on but the request not recorded
(what a 10 % ratio costs nine requests in ten), and recorded (without export).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    REPO,
    Processes,
    create_product,
    free_port,
    http,
    install_signal_handlers,
    uvicorn_cmd,
    wait_http,
    workspace,
)
from _loadgen import measure_url, pick_generator
from _report import machine, print_table, warn_if_busy, write_json

ARCHES = ("micro", "mono")
UNITS = ("gateway", "orders", "catalog", "lb", "monolith")
MODES = {"off": None, "10 %": "0.1", "100 %": "1.0"}
STOCK = 1_000_000_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each (1)")
    p.add_argument(
        "--connections", type=int, nargs="+", default=[1, 8], help="connection counts (1 8)"
    )
    p.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the CPU part (3)")
    p.add_argument(
        "--cpu-requests", type=int, default=5000, help="requests per CPU measurement (5000)"
    )
    p.add_argument("--cpu-only", action="store_true", help="only the CPU part")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args()


def unit_env(sample: str | None) -> dict[str, dict[str, str]]:
    if sample is None:
        tracing = {"TWINSHOP_TRACING": "0"}
    else:
        # the ratio alone (not also one request a second: TWINSHOP_TRACE_EVERY's default)
        tracing = {"TWINSHOP_TRACING": "1", "TWINSHOP_TRACE_SAMPLE": sample,
                   "TWINSHOP_TRACE_EVERY": "0"}  # fmt: skip
    return {unit: dict(tracing) for unit in UNITS}


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from lab.runtime import processes
    from lab.runtime.process import ProcessRuntime
    from lab.state import StateDir

    generator = pick_generator(args.generator)
    token = os.environ.setdefault("TWINSHOP_ADMIN_TOKEN", secrets.token_urlsafe(18))
    sink_port = free_port()
    sink = Processes(work)
    sink.start(
        "dashboard",
        uvicorn_cmd("_trace_sink:app", sink_port),
        env={"PYTHONPATH": f"{REPO / 'bench'}:{REPO}"},
    )
    wait_http(f"http://127.0.0.1:{sink_port}/health", alive=lambda: sink.alive("dashboard"))
    runtimes: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    try:
        entries: dict[str, dict[str, str]] = {}
        products: dict[str, dict[str, int]] = {}
        for mode, sample in MODES.items():
            runtime = ProcessRuntime(
                StateDir(work / mode.replace(" %", "pct")),
                edge_ports={"micro": free_port(), "mono": free_port()},
                unit_env=unit_env(sample),
                traces_to=f"http://127.0.0.1:{sink_port}" if sample else "",
            )
            runtimes[mode] = runtime
            entries[mode] = dict(runtime.up(ARCHES, timeout=60))
            products[mode] = {a: create_product(entries[mode][a], token, STOCK) for a in ARCHES}
        print(f"three copies of both architectures up: {list(MODES)}")
        cell = 0
        for conns in args.connections:
            for op in ("checkout", "browse"):
                for arch in ARCHES:
                    # interleaved, and the order rotates: drift hits every mode alike
                    names = list(MODES)
                    cell += 1
                    for mode in names[cell % 3 :] + names[: cell % 3]:
                        entry, pid = entries[mode][arch], products[mode][arch]
                        if op == "checkout":
                            url, method = entry + "/orders", "POST"
                            order = {"customer": "bench",
                                     "items": [{"product_id": pid, "quantity": 1}]}  # fmt: skip
                            body = json.dumps(order).encode()
                            headers = {"Content-Type": "application/json"}
                        else:
                            url, method, body, headers = f"{entry}/products/{pid}", "GET", b"", {}
                        common = dict(method=method, body=body, headers=headers, workdir=work)
                        if args.warmup > 0:
                            measure_url(generator, url, connections=conns, duration=args.warmup,
                                     **common)  # type: ignore[arg-type]  # fmt: skip
                        result = measure_url(
                            generator, url, connections=conns, duration=args.duration,
                            **common,  # type: ignore[arg-type]
                        )  # fmt: skip
                        rows.append({"op": op, "arch": arch, "mode": mode, **result.as_dict()})
                        print(
                            f"  {op:<8} c={conns:<2} {arch:<5} {mode:>5}: {result.rps:8.0f} rps"
                            f"  p50 {result.p50_ms:7.3f} ms"
                            + (f"  ({result.bad_status} bad)" if result.bad_status else "")
                        )
        received = http("GET", f"http://127.0.0.1:{sink_port}/api/traces")[1]
    finally:
        for runtime in runtimes.values():
            runtime.down()
        processes.stop([pid for pid in list(processes._children) if processes.alive(pid)])
        sink.stop_all()
    return {
        "generator": generator,
        "rows": rows,
        "traces_listed": len((received or {}).get("traces", [])),
    }


CPU_MODES = ("off", "unrecorded", "recorded")


def measure_cpu(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Median CPU µs per request: {"edge": {"off": ..., ...}, "unit": {...}}."""
    import statistics
    import subprocess

    found: dict[str, dict[str, list[float]]] = {
        what: {mode: [] for mode in CPU_MODES} for what in ("edge", "unit")
    }
    worker = str(REPO / "bench" / "_tracing_worker.py")
    for _ in range(args.rounds):
        for what in found:
            for mode in CPU_MODES:
                out = subprocess.run(
                    [sys.executable, worker, what, mode, str(args.cpu_requests)],
                    capture_output=True, text=True, check=True, cwd=REPO,
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                )  # fmt: skip
                found[what][mode].append(json.loads(out.stdout.strip().splitlines()[-1])["cpu_us"])
    medians = {w: {m: statistics.median(v) for m, v in modes.items()} for w, modes in found.items()}
    print_table(
        "CPU per request, in process (µs, median of rounds)",
        ["", "off", "on, not recorded", "recorded", "not recorded vs off", "recorded vs off"],
        [
            [what, m["off"], m["unrecorded"], m["recorded"],
             f"+{m['unrecorded'] - m['off']:.0f} µs ({m['unrecorded'] / m['off'] - 1:+.0%})",
             f"+{m['recorded'] - m['off']:.0f} µs ({m['recorded'] / m['off'] - 1:+.0%})"]
            for what, m in medians.items()
        ],
    )  # fmt: skip
    return medians


def report(data: dict[str, Any]) -> None:
    by = {(r["op"], r["connections"], r["arch"], r["mode"]): r for r in data["rows"]}
    table = []
    for op, conns, arch, mode in by:
        if mode != "off":
            continue
        off = by[(op, conns, arch, "off")]
        cells: list[Any] = [op, conns, arch]
        for name in MODES:
            row = by.get((op, conns, arch, name))
            if row is None:
                cells += ["—", "—"]
                continue
            cells += [round(row["rps"]), round(row["p50_ms"], 2)]
        for name in ("10 %", "100 %"):
            row = by.get((op, conns, arch, name))
            rps = f"{row['rps'] / off['rps'] - 1:+.0%}" if row and off["rps"] else "—"
            p50 = f"{row['p50_ms'] / off['p50_ms'] - 1:+.0%}" if row and off["p50_ms"] else "—"
            cells.append(f"{rps} / {p50}")
        table.append(cells)
    print_table(
        f"Tracing cost (req/s and p50 ms; process runtime, {data['generator']})",
        ["op", "conns", "arch", "off rps", "off p50", "10 % rps", "10 % p50", "100 % rps",
         "100 % p50", "10 % vs off (rps / p50)", "100 % vs off (rps / p50)"],
        table,
    )  # fmt: skip


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    load_before = warn_if_busy()
    started = time.time()
    try:
        cpu = measure_cpu(args)
        if args.cpu_only:
            write_json(args.json, {"cpu_us": cpu, "machine": machine()})
            return 0
        with workspace("twinshop-bench-tracing-", keep=args.keep) as work:
            data = measure(args, work)
        data["cpu_us"] = cpu
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except Exception as exc:  # a benchmark reports; it does not fail
        print(f"benchmark could not run: {type(exc).__name__}: {exc}")
        return 0
    data.update(
        machine=machine(), args=vars(args), load_before=load_before,
        wall_seconds=round(time.time() - started, 1),
    )  # fmt: skip
    report(data)
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
