"""Profile the hot paths under load with py-spy, and say what dominates.

    python bench/profile_hotpaths.py                      # every scenario, 6 s each
    python bench/profile_hotpaths.py --only mono-checkout micro-checkout --out /tmp/prof

Both architectures are started with the process runtime (free ports, temporary
TWINSHOP_HOME); each scenario drives one route through an entry with wrk (or the Python
client) while ``py-spy record --nonblocking --gil`` samples every process on the path
(``--gil``: only the thread holding the GIL, so blocking waits such as a worker thread's
``Condition.wait`` or a socket ``recv`` are not mistaken for work; C code that releases
the GIL, like sqlite3's statement execution, is undercounted in that mode).  The raw
collapsed stacks are kept in ``--out`` (load them into speedscope or inferno for a flame
graph) and summarised here: where each process spends its samples, by library (self time
of the innermost frame) and by function (self and inclusive).
Needs py-spy (``pip install py-spy``) and ptrace rights (root, or ptrace_scope 0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import free_port, http, install_signal_handlers, workspace
from _loadgen import measure_url, pick_generator
from _report import machine, print_table, warn_if_busy, write_json

# name -> (entry arch, method, path template, units to sample)
SCENARIOS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "mono-get": ("mono", "GET", "/products/{pid}", ("monolith", "lb")),
    "mono-list": ("mono", "GET", "/products?limit=20", ("monolith", "lb")),
    "mono-checkout": ("mono", "POST", "/orders", ("monolith", "lb")),
    "micro-get": ("micro", "GET", "/products/{pid}", ("catalog", "gateway")),
    "micro-list": ("micro", "GET", "/products?limit=20", ("catalog", "gateway")),
    "micro-checkout": ("micro", "POST", "/orders", ("orders", "catalog", "gateway")),
}

# The library a frame belongs to, from its file path (first match wins).
CATEGORIES: list[tuple[str, str]] = [
    # uvloop runs in C under Runner.run: its self time is the loop itself (epoll, socket
    # reads and writes, callbacks' C part).
    (r"^Runner\.run \(asyncio/runners\.py", "event loop (uvloop C: epoll, socket I/O)"),
    (r"sqlalchemy/engine/default\.py.*\bdo_", "sqlite3 driver (C, via SQLAlchemy)"),
    (r"sqlalchemy/", "sqlalchemy"),
    (r"pydantic", "pydantic"),
    (r"fastapi/", "fastapi"),
    (r"starlette/", "starlette"),
    (r"uvicorn/", "uvicorn"),
    # Waking a worker thread and waiting for it (and for the GIL): the price of running
    # a sync ``def`` endpoint in anyio's thread pool.
    (r"anyio/|concurrent/futures|threading\.py|queue\.py", "thread pool hand-off (anyio)"),
    (r"httpx/|httpcore/|h11/", "httpx"),
    (r"tenacity/", "tenacity"),
    (r"aiohttp/|yarl/|multidict/", "aiohttp"),
    (r"asyncio/|uvloop", "asyncio"),
    (r"json/", "json"),
    (r"\((shop|services|monolith|lab)/", "twinshop"),
    (r"typing\.py|enum\.py|dataclasses\.py|contextlib\.py|abc\.py", "stdlib (misc)"),
]
_CATEGORY_RES = [(re.compile(p), name) for p, name in CATEGORIES]
# Frames every sample goes through (process start-up, the loop, thread bootstrap).
_ROOT = re.compile(
    r"click/|runpy|<module>|uvicorn/(main|server|__main__|_compat)\.py|asyncio/runners\.py"
    r"|threading\.py|concurrent/futures/thread\.py"
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):(?P<line>\d+)\)$")


def category(frame: str) -> str:
    for regex, name in _CATEGORY_RES:
        if regex.search(frame):
            return name
    match = _FRAME.match(frame)
    return "other: " + (match.group("file").split("/")[0] if match else frame[:30])


def function_of(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    return f"{match.group('func')} ({match.group('file')})"


def analyse(raw: Path, top: int) -> dict[str, Any]:
    """Self time per library, self and inclusive time per function, in % of samples."""
    total = 0
    by_category: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or not stack.strip():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        by_category[category(frames[-1])] += count
        self_fn[function_of(frames[-1])] += count
        for fn in {function_of(f) for f in frames}:
            incl_fn[fn] += count

    def pct(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(k, 100 * v / total) for k, v in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "by_library_self_pct": pct(by_category, 20),
        "top_self_pct": pct(self_fn, top),
        "top_inclusive_pct": pct(
            Counter({k: v for k, v in incl_fn.items() if not _ROOT.search(k)}), top
        ),
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=6.0, help="seconds per scenario (6)")
    p.add_argument("--connections", type=int, default=4, help="load connections (4)")
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second (250)")
    p.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="scenarios to run")
    p.add_argument(
        "--gil",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sample only the thread holding the GIL (CPU, not waits; default: yes)",
    )
    p.add_argument("--top", type=int, default=12, help="functions listed per process (12)")
    p.add_argument("--out", default="/tmp/twinshop-profiles", help="where raw stacks go")
    p.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    p.add_argument("--json", metavar="PATH", help="write the summaries as JSON")
    return p.parse_args()


def run(args: argparse.Namespace, home: Path, out: Path, spy: str) -> dict[str, Any]:
    from lab.runtime import processes
    from lab.runtime.process import ProcessRuntime
    from lab.state import StateDir

    generator = pick_generator(args.generator)
    token = os.environ.setdefault("TWINSHOP_ADMIN_TOKEN", secrets.token_urlsafe(18))
    runtime = ProcessRuntime(StateDir(home), edge_ports={"micro": free_port(), "mono": free_port()})
    results: dict[str, Any] = {}
    try:
        entries = runtime.up(("micro", "mono"))
        products = {}
        for arch, entry in entries.items():
            status, body = http(
                "POST", entry + "/products",
                {"sku": f"prof-{secrets.token_hex(6)}", "name": "profile", "price_cents": 1,
                 "stock": 1_000_000_000},
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            if status != 201:
                raise RuntimeError(f"cannot create a product at {entry}: {status} {body}")
            products[arch] = body["id"]
        for name in args.only or list(SCENARIOS):
            arch, method, template, units = SCENARIOS[name]
            url = entries[arch] + template.format(pid=products[arch])
            body = b""
            headers: dict[str, str] = {}
            if method == "POST":
                order = {"customer": "prof", "items": [{"product_id": products[arch],
                                                        "quantity": 1}]}  # fmt: skip
                body, headers = json.dumps(order).encode(), {"Content-Type": "application/json"}
            measure_url(generator, url, connections=args.connections, duration=1.0, method=method,
                     body=body, headers=headers, workdir=home)  # warm-up  # fmt: skip
            spies = {}
            for unit in units:
                pid = runtime.instances(unit)[0]["pid"]
                raw = out / f"{name}-{unit}.txt"
                cmd = [spy, "record", "--pid", str(pid), "--duration", str(round(args.duration)),
                       "--rate", str(args.rate), "--format", "raw", "--nonblocking",
                       "-o", str(raw), *(["--gil"] if args.gil else [])]  # fmt: skip
                spies[unit] = (
                    subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
                    raw,
                )
            try:
                load = measure_url(generator, url, connections=args.connections,
                                duration=args.duration + 0.5, method=method, body=body,
                                headers=headers, workdir=home)  # fmt: skip
            finally:
                for proc, _ in spies.values():
                    try:
                        proc.wait(timeout=args.duration + 20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            print(f"{name}: {load.rps:.0f} rps, p50 {load.p50_ms:.2f} ms under py-spy")
            results[name] = {"url": url, "load": load.as_dict(), "processes": {}}
            for unit, (proc, raw) in spies.items():
                if not raw.exists():
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    print(f"  py-spy gave nothing for {unit}: {err.strip()[:300]}")
                    continue
                results[name]["processes"][unit] = {"raw": str(raw), **analyse(raw, args.top)}
    finally:
        runtime.down()
        processes.stop([pid for pid in list(processes._children) if processes.alive(pid)])
    return results


def report(results: dict[str, Any]) -> None:
    for name, result in results.items():
        for unit, prof in result["processes"].items():
            title = f"{name} — {unit} ({prof['samples']} samples; {result['url']})"
            libs = prof["by_library_self_pct"]
            print_table(title + " — self time by library", ["library", "% samples"],
                        [[k, v] for k, v in libs[:10]])  # fmt: skip
            print_table(
                f"{name} — {unit}: top functions",
                ["self", "%", "inclusive", "%"],
                [
                    [s[0][:90], s[1], i[0][:90] if i else "", i[1] if i else None]
                    for s, i in zip(
                        prof["top_self_pct"],
                        prof["top_inclusive_pct"] + [None] * len(prof["top_self_pct"]),
                        strict=False,
                    )
                ],
            )


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        print("py-spy is not installed: pip install py-spy (into this interpreter's venv)")
        return 0
    load_before = warn_if_busy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    try:
        with workspace("twinshop-bench-profile-") as home:
            results = run(args, home, out, spy)
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except Exception as exc:  # a benchmark reports; it does not fail
        print(f"profiling could not run: {type(exc).__name__}: {exc}")
        return 0
    report(results)
    print(f"raw stacks (collapsed format) in {out}")
    write_json(
        args.json,
        {"scenarios": results, "machine": machine(), "args": vars(args),
         "load_before": load_before, "wall_seconds": round(time.time() - started, 1)},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
