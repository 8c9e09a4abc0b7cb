"""Checkout and browse latency, microservices (gateway entry) vs monolith (lb entry).

    python bench/checkout.py                    # 1 and 4 connections, 5 s per measurement
    python bench/checkout.py --connections 1 --duration 8 --json checkout.json

Both architectures are started with the process runtime (``twinshop up``) on free ports
in a temporary TWINSHOP_HOME and stopped at the end.  A fresh product with a large stock
is created on each entry; checkout is ``POST /orders`` with one item of it, browse is
``GET /products/{id}``.  Target (reported, never asserted): checkout p50 micro/mono <= 1.5.
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
    create_product,
    free_port,
    group_cpu_seconds,
    http,
    install_signal_handlers,
    workspace,
)
from _loadgen import measure_url, pick_generator
from _report import machine, print_table, verdict, warn_if_busy, write_json

ARCHES = ("micro", "mono")
UNITS_OF = {"micro": ("gateway", "orders", "catalog"), "mono": ("lb", "monolith")}
STOCK = 1_000_000_000


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each (1)")
    p.add_argument(
        "--connections", type=int, nargs="+", default=[1, 4], help="connection counts (1 4)"
    )
    p.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    p.add_argument("--keep", action="store_true", help="keep TWINSHOP_HOME (logs, databases)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args()


def measure(args: argparse.Namespace, home: Path) -> dict[str, Any]:
    from lab.runtime import processes
    from lab.runtime.process import ProcessRuntime
    from lab.state import StateDir

    generator = pick_generator(args.generator)
    token = os.environ.setdefault("TWINSHOP_ADMIN_TOKEN", secrets.token_urlsafe(18))
    runtime = ProcessRuntime(StateDir(home), edge_ports={"micro": free_port(), "mono": free_port()})
    rows: list[dict[str, Any]] = []
    try:
        t0 = time.monotonic()
        entries = runtime.up(ARCHES)
        print(f"both architectures healthy in {time.monotonic() - t0:.2f} s: {entries}")
        products = {arch: create_product(entries[arch], token, STOCK) for arch in ARCHES}
        order = json.dumps({"customer": "bench", "items": [{"product_id": 0, "quantity": 1}]})
        for conns in args.connections:
            for op in ("checkout", "browse"):
                for arch in ARCHES:  # interleaved, so drift hits both alike
                    pid = products[arch]
                    if op == "checkout":
                        url, method = entries[arch] + "/orders", "POST"
                        body = order.replace('"product_id": 0', f'"product_id": {pid}').encode()
                        headers = {"Content-Type": "application/json"}
                    else:
                        url, method = f"{entries[arch]}/products/{pid}", "GET"
                        body, headers = b"", {}
                    common = dict(method=method, body=body, headers=headers, workdir=home)
                    if args.warmup > 0:
                        measure_url(generator, url, connections=conns, duration=args.warmup,
                                 **common)  # type: ignore[arg-type]  # fmt: skip
                    pids = {u: runtime.instances(u)[0]["pid"] for u in UNITS_OF[arch]}
                    cpu0 = {u: group_cpu_seconds(p) for u, p in pids.items()}
                    result = measure_url(
                        generator, url, connections=conns, duration=args.duration,
                        **common,  # type: ignore[arg-type]
                    )  # fmt: skip
                    n = max(1, result.requests)
                    cpu = {u: (group_cpu_seconds(p) - cpu0[u]) / n * 1e6 for u, p in pids.items()}
                    rows.append({"op": op, "arch": arch, **result.as_dict(), "cpu_us_per_req": cpu})
                    print(
                        f"  {op:<8} c={conns:<2} {arch:<5} {result.rps:8.0f} rps  "
                        f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:7.3f} ms"
                        + (f"  ({result.bad_status} bad)" if result.bad_status else "")
                    )
        stock = {
            arch: http("GET", f"{entries[arch]}/products/{products[arch]}")[1].get("stock")
            for arch in ARCHES
        }
    finally:
        runtime.down()
        # Anything spawned but not yet recorded in the state (interrupted during up).
        processes.stop([pid for pid in list(processes._children) if processes.alive(pid)])
    return {"generator": generator, "rows": rows, "stock_left": stock, "entries": entries}


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    by = {(r["op"], r["connections"], r["arch"]): r for r in data["rows"]}
    ratios = []
    for op, conns, arch in by:
        if arch != "micro" or (op, conns, "mono") not in by:
            continue
        micro, mono = by[(op, conns, "micro")], by[(op, conns, "mono")]
        ratios.append(
            {
                "op": op,
                "connections": conns,
                "p50_ratio": micro["p50_ms"] / mono["p50_ms"] if mono["p50_ms"] else None,
                "p99_ratio": micro["p99_ms"] / mono["p99_ms"] if mono["p99_ms"] else None,
                "rps_ratio": micro["rps"] / mono["rps"] if mono["rps"] else None,
                "p50_extra_ms": micro["p50_ms"] - mono["p50_ms"],
                "cpu_ratio": sum(micro["cpu_us_per_req"].values())
                / max(1e-9, sum(mono["cpu_us_per_req"].values())),
            }
        )
    data["ratios"] = ratios
    fewest = min((r["connections"] for r in ratios), default=None)
    value = next(
        (r["p50_ratio"] for r in ratios if r["op"] == "checkout" and r["connections"] == fewest),
        None,
    )
    data["targets"] = {
        "checkout_p50_micro_over_mono": {
            "value": value, "target": "<= 1.5", "connections": fewest,
            "met": None if value is None else value <= 1.5,
        }
    }  # fmt: skip
    return data


def report(data: dict[str, Any]) -> None:
    print_table(
        f"Checkout and browse, micro (gateway) vs mono (lb) — {data['generator']}",
        ["op", "conns", "arch", "rps", "p50 ms", "p90 ms", "p99 ms", "requests", "bad",
         "CPU µs/req (per unit)"],
        [
            [r["op"], r["connections"], r["arch"], round(r["rps"]), r["p50_ms"], r["p90_ms"],
             r["p99_ms"], r["requests"], r["bad_status"] + r["socket_errors"],
             f"{sum(r['cpu_us_per_req'].values()):.0f} = " + " + ".join(
                 f"{u} {v:.0f}" for u, v in r["cpu_us_per_req"].items())]
            for r in data["rows"]
        ],
    )  # fmt: skip
    print_table(
        "micro / mono (same run)",
        ["op", "conns", "p50 ratio", "p99 ratio", "rps ratio", "extra p50 ms", "CPU/req ratio"],
        [
            [r["op"], r["connections"], r["p50_ratio"], r["p99_ratio"], r["rps_ratio"],
             r["p50_extra_ms"], r["cpu_ratio"]]
            for r in data["ratios"]
        ],
    )  # fmt: skip
    t = data["targets"]["checkout_p50_micro_over_mono"]
    print_table(
        "Target (reported, not asserted)",
        ["target", "measured", "goal", "verdict"],
        [[f"checkout p50 micro/mono ({t['connections']} conn)", t["value"], "<= 1.5",
          verdict(t["met"])]],
    )  # fmt: skip


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    load_before = warn_if_busy()
    started = time.time()
    try:
        with workspace("twinshop-bench-checkout-", keep=args.keep) as home:
            data = measure(args, home)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except Exception as exc:  # a benchmark reports; it does not fail
        print(f"benchmark could not run: {type(exc).__name__}: {exc}")
        return 0
    data = summarise(data)
    data.update(
        machine=machine(), args=vars(args), load_before=load_before,
        wall_seconds=round(time.time() - started, 1),
    )  # fmt: skip
    report(data)
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
