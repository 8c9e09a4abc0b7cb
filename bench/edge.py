"""The edge against nginx: one catalog unit, proxied by nginx and by our edge, same load.

    python bench/edge.py                       # GET /products/1 at 1 and 32 connections
    python bench/edge.py --list                # also GET /products?limit=20
    python bench/edge.py --client both         # the edge's httptools and aiohttp clients
    python bench/edge.py --upstream fake       # a trivial upstream: the proxies' own cost
    python bench/edge.py --json edge.json
    python bench/edge.py --upstream fake --baseline ../main --plain-protocol
                                               # also the edge of another checkout (before/
                                               # after, same run) and this edge without its
                                               # client limits (uvicorn's own protocol)

Targets (reported, never asserted): edge throughput >= 50 % of nginx's, and the latency the
edge adds over going direct at most twice what nginx adds (p50).

Why this script stays above 300 lines: it is one command read top to bottom (arguments,
starting nginx, the edge and the upstream, measuring, medians, the summary and the tables);
the parts every benchmark shares are in ``_common.py``, ``_loadgen.py`` and ``_report.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    HOST,
    REPO,
    Processes,
    free_port,
    group_cpu_seconds,
    install_signal_handlers,
    uvicorn_cmd,
    wait_http,
    workspace,
)
from _loadgen import measure_url, pick_generator
from _report import machine, print_table, verdict, warn_if_busy, write_json

NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    {access_log}
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 10000000;
    upstream unit {{
        server {host}:{upstream_port};
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 4s;
    }}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://unit;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per measurement (5)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up before each (1)")
    p.add_argument(
        "--connections", type=int, nargs="+", default=[1, 32], help="connection counts (1 32)"
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure everything this many times, interleaved; report the median of each (1)",
    )
    p.add_argument("--list", action="store_true", help="also measure GET /products?limit=20")
    p.add_argument("--paths", nargs="+", help="paths to measure (overrides the defaults)")
    p.add_argument(
        "--client",
        choices=["httptools", "aiohttp", "both"],
        default="httptools",
        help="the edge's forwarding client (httptools)",
    )
    p.add_argument(
        "--upstream",
        choices=["catalog", "fake"],
        default="catalog",
        help="catalog unit (default) or the echoing fake from tests/e2e (proxy cost only)",
    )
    p.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator"
    )
    p.add_argument(
        "--edge-args",
        default="",
        help="extra options for the edge (python -m services.gateway --help; e.g. '--http h11')",
    )
    p.add_argument(
        "--baseline",
        metavar="TREE",
        type=Path,
        help="also measure the edge of another checkout of twinshop (e.g. a git worktree of "
        "main), same upstream, same run: target edge-baseline",
    )
    p.add_argument(
        "--plain-protocol",
        action="store_true",
        help="also measure this edge on uvicorn's own httptools protocol, without the client "
        "limits: target edge-plain",
    )
    p.add_argument("--no-nginx", action="store_true", help="skip nginx")
    p.add_argument(
        "--access-logs",
        action="store_true",
        help="both proxies log every request (nginx access_log, the edge's JSON lines); "
        "by default neither does, so that they are compared like for like",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args()


def start_nginx(
    procs: Processes, workdir: Path, upstream_port: int, *, access_logs: bool
) -> str | None:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if nginx is None:
        print(
            "nginx is not installed: the nginx column is skipped. Install it with\n"
            "    apt-get install -y nginx-light"
        )
        return None
    ndir = workdir / "nginx"
    ndir.mkdir()
    port = free_port()
    conf = ndir / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            user="user root;" if os.geteuid() == 0 else "",
            dir=ndir,
            host=HOST,
            port=port,
            upstream_port=upstream_port,
            access_log=f"access_log {ndir}/access.log;" if access_logs else "access_log off;",
        )
    )
    cmd = [nginx, "-p", str(ndir), "-c", str(conf), "-e", str(ndir / "nginx-error.log")]
    procs.start("nginx", cmd)
    url = f"http://{HOST}:{port}"
    try:
        wait_http(url + "/health", timeout=10, alive=lambda: procs.alive("nginx"))
    except RuntimeError as exc:
        print(f"nginx did not start ({exc}); see {procs.log('nginx')}")
        procs.stop("nginx")
        return None
    return url


def edge_cmd(tree: Path, port: int, extra: list[str]) -> list[str]:
    """How ``tree``'s edge starts: its own entry point, or (older trees) plain uvicorn."""
    if (tree / "services" / "gateway" / "server.py").exists():
        return [
            sys.executable, "-m", "services.gateway", "--host", HOST, "--port", str(port),
            "--log-level", "warning", *extra,
        ]  # fmt: skip
    return uvicorn_cmd(
        "services.gateway.app:app", port, "--loop", "uvloop", "--http", "httptools", *extra
    )


def start_edge(
    procs: Processes,
    name: str,
    upstream: str,
    client: str,
    extra: list[str],
    *,
    access_logs: bool,
    tree: Path = REPO,
) -> str:
    port = free_port()
    env = {
        "TWINSHOP_LOG_REQUESTS": "1" if access_logs else "0",
        "TWINSHOP_UNIT": "gateway",
        "TWINSHOP_INSTANCE": name,
        "TWINSHOP_ROUTES": json.dumps({"/products": "upstream"}),
        "TWINSHOP_UPSTREAMS": json.dumps({"upstream": f"list:{upstream}"}),
        "TWINSHOP_CLIENT": client,
        "PYTHONPATH": str(tree),  # that tree's code, not the installed one
    }
    procs.start(name, edge_cmd(tree, port, extra), env, cwd=tree)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/health", timeout=30, alive=lambda: procs.alive(name))
    return url


def start_upstream(procs: Processes, workdir: Path, kind: str) -> str:
    port = free_port()
    if kind == "fake":
        cmd = [sys.executable, "-m", "tests.e2e.fake_upstream", str(port)]
        procs.start("upstream", cmd)
        url = f"http://{HOST}:{port}"
        wait_http(url + "/products/1", timeout=30, alive=lambda: procs.alive("upstream"))
        return url
    env = {
        "TWINSHOP_UNIT": "catalog",
        "TWINSHOP_INSTANCE": "bench",
        "TWINSHOP_DATABASE_URL": f"sqlite:///{workdir / 'catalog.db'}",
        "TWINSHOP_ADMIN_TOKEN": "bench-admin-token",
    }
    procs.start("upstream", uvicorn_cmd("services.catalog.app:app", port), env)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/health", timeout=30, alive=lambda: procs.alive("upstream"))
    return url


def measure(args: argparse.Namespace, workdir: Path, procs: Processes) -> dict[str, Any]:
    generator = pick_generator(args.generator)
    if generator == "python":
        print("load generator: the Python asyncio client (install wrk for better figures)")
    upstream = start_upstream(procs, workdir, args.upstream)
    targets: dict[str, tuple[str, str]] = {"direct": (upstream, "upstream")}
    if not args.no_nginx and (
        nginx := start_nginx(
            procs, workdir, int(upstream.rsplit(":")[-1]), access_logs=args.access_logs
        )
    ):
        targets["nginx"] = (nginx, "nginx")
    clients = ["httptools", "aiohttp"] if args.client == "both" else [args.client]
    for client in clients:
        name = "edge" if client == "httptools" else f"edge-{client}"
        targets[name] = (
            start_edge(
                procs, name, upstream, client, args.edge_args.split(), access_logs=args.access_logs
            ),
            name,
        )
    variants: dict[str, tuple[list[str], Path]] = {}
    if args.baseline:
        variants["edge-baseline"] = (args.edge_args.split(), args.baseline.resolve())
    if args.plain_protocol:
        variants["edge-plain"] = ([*args.edge_args.split(), "--http", "httptools"], REPO)
    for name, (extra, tree) in variants.items():
        url = start_edge(
            procs, name, upstream, clients[0], extra, access_logs=args.access_logs, tree=tree
        )
        targets[name] = (url, name)

    paths = args.paths or (["/products/1"] + (["/products?limit=20"] if args.list else []))
    rows: list[dict[str, Any]] = []
    measurements = [
        (r, path, conns) for r in range(args.rounds) for path in paths for conns in args.connections
    ]
    for r, path, conns in measurements:
        order = list(targets.items())
        order = order[r % len(order) :] + order[: r % len(order)]  # no target always first
        for target, (base, proc_name) in order:
            url = base + path
            if args.warmup > 0:
                measure_url(generator, url, connections=conns, duration=args.warmup,
                         workdir=workdir)  # fmt: skip
            up_cpu0 = group_cpu_seconds(procs.pid("upstream"))
            px_cpu0 = group_cpu_seconds(procs.pid(proc_name)) if target != "direct" else 0
            result = measure_url(
                generator, url, connections=conns, duration=args.duration, workdir=workdir
            )
            up_cpu = group_cpu_seconds(procs.pid("upstream")) - up_cpu0
            px_cpu = (
                group_cpu_seconds(procs.pid(proc_name)) - px_cpu0 if target != "direct" else None
            )
            n = max(1, result.requests)
            row = {
                "round": r,
                "path": path,
                "connections": conns,
                "target": target,
                **result.as_dict(),
                "upstream_cpu_us_per_req": up_cpu / n * 1e6,
                "proxy_cpu_us_per_req": None if px_cpu is None else px_cpu / n * 1e6,
            }
            rows.append(row)
            print(
                f"  {path:<22} c={conns:<3} {target:<13} {result.rps:9.0f} rps  "
                f"p50 {result.p50_ms:7.3f} ms  p99 {result.p99_ms:7.3f} ms"
                + (f"  ({result.bad_status} bad)" if result.bad_status else "")
            )
    return {"generator": generator, "upstream": args.upstream, "targets": list(targets),
            "rounds": rows, "rows": medians(rows)}  # fmt: skip


def medians(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (path, connections, target): the median of each figure over the rounds."""
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["path"], row["connections"], row["target"]), []).append(row)
    merged = []
    for group in groups.values():
        row = dict(group[0])
        for key, value in row.items():
            if isinstance(value, int | float) and key not in ("connections", "round"):
                values = [r[key] for r in group if r[key] is not None]
                row[key] = statistics.median(values) if values else None
        row["rounds"] = len(group)
        merged.append(row)
    return merged


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    rows = data["rows"]
    by = {(r["path"], r["connections"], r["target"]): r for r in rows}
    comparisons = []
    for path, conns, target in by:
        if target == "direct":
            continue
        direct, row = by[(path, conns, "direct")], by[(path, conns, target)]
        row["added_p50_ms"] = row["p50_ms"] - direct["p50_ms"]
        row["added_p99_ms"] = row["p99_ms"] - direct["p99_ms"]
    for path, conns, target in by:
        if not target.startswith("edge") or (path, conns, "nginx") not in by:
            continue
        edge, nginx = by[(path, conns, target)], by[(path, conns, "nginx")]
        added_ratio = (
            edge["added_p50_ms"] / nginx["added_p50_ms"] if nginx["added_p50_ms"] > 0 else None
        )
        comparisons.append(
            {
                "path": path,
                "connections": conns,
                "edge": target,
                "throughput_ratio": edge["rps"] / nginx["rps"] if nginx["rps"] else None,
                "edge_added_p50_ms": edge["added_p50_ms"],
                "nginx_added_p50_ms": nginx["added_p50_ms"],
                "added_p50_ratio": added_ratio,
                "edge_cpu_us_per_req": edge["proxy_cpu_us_per_req"],
                "nginx_cpu_us_per_req": nginx["proxy_cpu_us_per_req"],
            }
        )
    data["comparisons"] = comparisons
    # This edge against the other edges of the same run (--baseline, --plain-protocol):
    # ratios taken within each round (measured a few seconds apart), then their median.
    versus = []
    rounds = data.get("rounds", rows)
    per_round = {(r.get("round", 0), r["path"], r["connections"], r["target"]): r for r in rounds}
    for path, conns, target in by:
        if target not in ("edge-baseline", "edge-plain") or (path, conns, "edge") not in by:
            continue
        rps, cpu = [], []
        for (rnd, p, c, t), other in per_round.items():
            edge = per_round.get((rnd, p, c, "edge"))
            if (p, c, t) != (path, conns, target) or edge is None:
                continue
            if other["rps"]:
                rps.append(edge["rps"] / other["rps"])
            if edge["proxy_cpu_us_per_req"] and other["proxy_cpu_us_per_req"]:
                cpu.append(edge["proxy_cpu_us_per_req"] / other["proxy_cpu_us_per_req"])
        versus.append(
            {
                "path": path,
                "connections": conns,
                "against": target,
                "rounds": len(rps),
                "rps_ratio": statistics.median(rps) if rps else None,
                "rps_ratio_range": (min(rps), max(rps)) if rps else None,
                "cpu_ratio": statistics.median(cpu) if cpu else None,
                "cpu_ratio_range": (min(cpu), max(cpu)) if cpu else None,
            }
        )
    data["versus"] = versus
    # The targets, judged on the first path: throughput at the most connections, added
    # latency at the fewest (where queueing does not hide it).
    first = rows[0]["path"] if rows else None
    most, fewest = max(data_conns(rows)), min(data_conns(rows))
    main = [c for c in comparisons if c["path"] == first and c["edge"] == "edge"]
    tput = next((c["throughput_ratio"] for c in main if c["connections"] == most), None)
    added = next((c["added_p50_ratio"] for c in main if c["connections"] == fewest), None)
    data["targets"] = {
        "edge_throughput_vs_nginx": {
            "value": tput, "target": ">= 0.50", "connections": most,
            "met": None if tput is None else tput >= 0.5,
        },
        "edge_added_p50_vs_nginx": {
            "value": added, "target": "<= 2.0", "connections": fewest,
            "met": None if added is None else added <= 2.0,
        },
    }  # fmt: skip
    return data


def _range(pair: tuple[float, float] | None) -> str:
    return "-" if pair is None else f"{pair[0]:.2f}–{pair[1]:.2f}"


def data_conns(rows: list[dict[str, Any]]) -> list[int]:
    return sorted({r["connections"] for r in rows}) or [0]


def report(data: dict[str, Any]) -> None:
    print_table(
        f"Edge vs nginx ({data['generator']}, upstream: {data['upstream']})",
        ["path", "conns", "target", "rps", "p50 ms", "p99 ms", "+p50 ms", "+p99 ms",
         "proxy CPU µs/req", "upstream CPU µs/req", "bad"],
        [
            [r["path"], r["connections"], r["target"], round(r["rps"]), r["p50_ms"],
             r["p99_ms"], r.get("added_p50_ms"), r.get("added_p99_ms"),
             None if r["proxy_cpu_us_per_req"] is None else round(r["proxy_cpu_us_per_req"]),
             round(r["upstream_cpu_us_per_req"]), r["bad_status"] + r["socket_errors"]]
            for r in data["rows"]
        ],
    )  # fmt: skip
    if data["comparisons"]:
        print_table(
            "Ratios (same run)",
            ["path", "conns", "edge", "edge/nginx rps", "edge +p50 ms", "nginx +p50 ms",
             "edge/nginx +p50"],
            [
                [c["path"], c["connections"], c["edge"], c["throughput_ratio"],
                 c["edge_added_p50_ms"], c["nginx_added_p50_ms"], c["added_p50_ratio"]]
                for c in data["comparisons"]
            ],
        )  # fmt: skip
    if data.get("versus"):
        print_table(
            "This edge against the others (same run; median of per-round ratios, and range)",
            ["path", "conns", "against", "rounds", "edge/other rps", "range",
             "edge/other proxy CPU per req", "range"],
            [
                [v["path"], v["connections"], v["against"], v["rounds"], v["rps_ratio"],
                 _range(v["rps_ratio_range"]), v["cpu_ratio"], _range(v["cpu_ratio_range"])]
                for v in data["versus"]
            ],
        )  # fmt: skip
    t = data["targets"]
    print_table(
        "Targets (reported, not asserted)",
        ["target", "measured", "goal", "verdict"],
        [
            [f"edge throughput / nginx ({t['edge_throughput_vs_nginx']['connections']} conns)",
             t["edge_throughput_vs_nginx"]["value"], ">= 0.50",
             verdict(t["edge_throughput_vs_nginx"]["met"])],
            [f"edge added p50 / nginx added p50 ({t['edge_added_p50_vs_nginx']['connections']}"
             " conn)", t["edge_added_p50_vs_nginx"]["value"], "<= 2.0",
             verdict(t["edge_added_p50_vs_nginx"]["met"])],
        ],
    )  # fmt: skip


def main() -> int:
    args = parse_args()
    install_signal_handlers()
    started = time.time()
    load_before = warn_if_busy()
    try:
        with workspace("twinshop-bench-edge-", keep=args.keep) as workdir:
            procs = Processes(workdir)
            try:
                data = measure(args, workdir, procs)
            finally:
                procs.stop_all()
    except KeyboardInterrupt:
        print("interrupted; every process was stopped")
        return 130
    except RuntimeError as exc:
        print(f"benchmark could not run: {exc}")
        return 0
    data = summarise(data)
    data["machine"] = machine()
    data["args"] = vars(args)
    data["load_before"] = load_before
    data["wall_seconds"] = round(time.time() - started, 1)
    report(data)
    write_json(args.json, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
