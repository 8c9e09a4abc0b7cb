"""Footprint: idle RSS of every unit after warm-up, and the time from ``up`` to healthy.

    python bench/footprint.py                   # 3 rounds, fresh TWINSHOP_HOME each
    python bench/footprint.py --repeat 5 --json footprint.json
    python bench/footprint.py --no-cli          # time only ProcessRuntime.up()

Each round starts both architectures with the process runtime on free ports in a fresh
temporary TWINSHOP_HOME, times ``up`` until every unit is healthy, warms every route up,
waits, reads ``VmRSS`` of each instance's pid (``runtime.instances(unit)``) and stops it
all.  With ``--cli`` (the default) each round also times the real ``twinshop up`` command
(interpreter start and imports included), then stops it again.
Targets (reported, never asserted): idle RSS of each unit < 60 MB; up to healthy < 5 s.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, http, install_signal_handlers, rss_kb, uss_kb, workspace
from _report import machine, print_table, verdict, warn_if_busy, write_json

ARCHES = ("micro", "mono")
RSS_TARGET_MB = 60.0
UP_TARGET_S = 5.0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=3, help="rounds (3)")
    p.add_argument("--warm-requests", type=int, default=200, help="requests per route (200)")
    p.add_argument("--settle", type=float, default=2.0, help="idle seconds before RSS (2)")
    p.add_argument(
        "--cli", action=argparse.BooleanOptionalAction, default=True,
        help="also time the `twinshop up` command (default: yes)",
    )  # fmt: skip
    p.add_argument("--keep", action="store_true", help="keep the state directories")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args()


def warm_up(entries: dict[str, str], token: str, n: int) -> None:
    for entry in entries.values():
        status, body = http(
            "POST", entry + "/products",
            {"sku": f"fp-{secrets.token_hex(6)}", "name": "footprint", "price_cents": 1,
             "stock": 1_000_000},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        pid = body["id"] if status == 201 else 1
        order = {"customer": "footprint", "items": [{"product_id": pid, "quantity": 1}]}
        for i in range(n):
            http("GET", f"{entry}/products/{1 + i % 100}")
            http("GET", f"{entry}/products?limit=20&offset={i % 80}")
            if i % 4 == 0:
                status, made = http("POST", entry + "/orders", order)
                if status == 201:
                    http("GET", f"{entry}/orders/{made['id']}")
        http("GET", entry + "/openapi.json")


def one_round(home: Path, args: argparse.Namespace, token: str) -> dict[str, Any]:
    from lab.runtime import processes
    from lab.runtime.process import ProcessRuntime
    from lab.state import StateDir
    from lab.topology import UNITS

    ports = {"micro": free_port(), "mono": free_port()}
    runtime = ProcessRuntime(StateDir(home / "runtime"), edge_ports=ports)  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    try:
        t0 = time.monotonic()
        entries = runtime.up(ARCHES)
        out["up_seconds"] = time.monotonic() - t0
        warm_up(entries, token, args.warm_requests)
        time.sleep(args.settle)
        rss: dict[str, float] = {}
        uss: dict[str, float] = {}
        for arch in ARCHES:
            for unit in UNITS[arch]:  # type: ignore[index]
                for i, record in enumerate(runtime.instances(unit.name)):
                    kb, private = rss_kb(record["pid"]), uss_kb(record["pid"])
                    name = unit.name if i == 0 else f"{unit.name}#{i}"
                    rss[name] = None if kb is None else kb / 1024  # type: ignore[assignment]
                    uss[name] = None if private is None else private / 1024  # type: ignore[assignment]
        out["rss_mb"] = rss
        out["uss_mb"] = uss
    finally:
        runtime.down()
        processes.stop([pid for pid in list(processes._children) if processes.alive(pid)])
    if args.cli:
        out["cli_up_seconds"] = time_cli_up(home / "cli")
    return out


def time_cli_up(home: Path) -> float | None:
    """Wall time of ``twinshop up`` (it returns once every unit is healthy)."""
    from lab.runtime.process import ProcessRuntime
    from lab.state import StateDir

    exe = shutil.which("twinshop", path=str(Path(sys.executable).parent)) or shutil.which(
        "twinshop"
    )
    cmd = [exe] if exe else [sys.executable, "-c", "from lab.cli import app; app()"]
    cmd += ["up", "--home", str(home), "--gateway-port", str(free_port()),
            "--lb-port", str(free_port())]  # fmt: skip
    t0 = time.monotonic()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        took = time.monotonic() - t0
        if done.returncode != 0:
            print(f"twinshop up failed ({done.returncode}): {done.stderr.strip()}")
            return None
        return took
    finally:
        ProcessRuntime(StateDir(home)).down()


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    units = sorted({u for r in rounds for u in r["rss_mb"]})
    rss = {}
    for unit in units:
        values = [r["rss_mb"].get(unit) for r in rounds if r["rss_mb"].get(unit) is not None]
        rss[unit] = {
            "each": values,
            "median": statistics.median(values) if values else None,
            "max": max(values) if values else None,
            "met": (max(values) < RSS_TARGET_MB) if values else None,
        }
    uss = {unit: [r.get("uss_mb", {}).get(unit) for r in rounds] for unit in units}
    ups = [r["up_seconds"] for r in rounds]
    clis = [r.get("cli_up_seconds") for r in rounds if r.get("cli_up_seconds") is not None]
    return {
        "rss_mb": rss,
        "uss_mb": uss,
        "up_seconds": ups,
        "cli_up_seconds": clis,
        "targets": {
            "idle_rss_each_unit_mb": {
                "value": max((v["max"] for v in rss.values() if v["max"]), default=None),
                "target": f"< {RSS_TARGET_MB:.0f}",
                "met": all(v["met"] for v in rss.values()) if rss else None,
                "over": [u for u, v in rss.items() if v["met"] is False],
            },
            "up_to_healthy_s": {
                "value": max(ups + clis) if ups else None,
                "target": f"< {UP_TARGET_S:.0f}",
                "met": max(ups + clis) < UP_TARGET_S if ups else None,
            },
        },
    }


def report(data: dict[str, Any]) -> None:
    n = len(data["up_seconds"])
    print_table(
        "Idle RSS after warm-up (MB, VmRSS)",
        ["unit", *[f"round {i + 1}" for i in range(n)], "max", f"< {RSS_TARGET_MB:.0f} MB"],
        [[unit, *v["each"], v["max"], verdict(v["met"])] for unit, v in data["rss_mb"].items()],
    )
    print_table(
        "Idle USS after warm-up (MB, private pages: what one more replica costs)",
        ["unit", *[f"round {i + 1}" for i in range(n)]],
        [[unit, *values] for unit, values in data.get("uss_mb", {}).items()],
    )
    rows = [["ProcessRuntime.up(micro, mono)", *data["up_seconds"]]]
    if data["cli_up_seconds"]:
        rows.append(["`twinshop up` command", *data["cli_up_seconds"]])
    print_table(
        "Time from up to healthy (s), both architectures, fresh state directory",
        ["how", *[f"round {i + 1}" for i in range(n)]],
        rows,
    )
    t = data["targets"]
    print_table(
        "Targets (reported, not asserted)",
        ["target", "measured (worst)", "goal", "verdict"],
        [
            ["idle RSS of each unit (MB)", t["idle_rss_each_unit_mb"]["value"], "< 60",
             verdict(t["idle_rss_each_unit_mb"]["met"])],
            ["up to healthy (s)", t["up_to_healthy_s"]["value"], "< 5",
             verdict(t["up_to_healthy_s"]["met"])],
        ],
    )  # fmt: skip


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    load_before = warn_if_busy()
    token = os.environ.setdefault("TWINSHOP_ADMIN_TOKEN", secrets.token_urlsafe(18))
    started = time.time()
    rounds = []
    try:
        for i in range(args.repeat):
            with workspace(f"twinshop-bench-footprint-{i}-", keep=args.keep) as home:
                result = one_round(home, args, token)
            rounds.append(result)
            cli = result.get("cli_up_seconds")
            print(
                f"round {i + 1}: up {result['up_seconds']:.2f} s"
                + (f", twinshop up {cli:.2f} s" if cli else "")
                + "; RSS MB "
                + ", ".join(f"{u} {v:.1f}" for u, v in result["rss_mb"].items() if v)
            )
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except Exception as exc:  # a benchmark reports; it does not fail
        print(f"benchmark could not run: {type(exc).__name__}: {exc}")
        if not rounds:
            return 0
    data = summarise(rounds)
    data.update(
        rounds=rounds, machine=machine(), args=vars(args), load_before=load_before,
        wall_seconds=round(time.time() - started, 1),
    )  # fmt: skip
    report(data)
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
