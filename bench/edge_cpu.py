"""The edge's CPU per request, this checkout against another, robust to a busy machine.

    python bench/edge_cpu.py --baseline /tmp/main           # before/after, same run
    python bench/edge_cpu.py --baseline /tmp/main --rounds 15 --connections 1 8

Each measurement is one process (``_edge_cpu_worker.py``) running a trivial upstream, the
edge and keep-alive clients on one event loop, and reporting its CPU time per request.  The
variants run interleaved, round after round, in a rotating order:

- ``edge``: this checkout's edge as it runs everywhere (its own protocol, client limits);
- ``edge-plain``: this checkout's edge on uvicorn's own protocol (no client limits);
- ``edge-baseline``: the edge of ``--baseline`` (uvicorn's httptools protocol);
- ``direct``: no edge, the clients talk to the upstream: subtracted from the others, it
  leaves each edge's own CPU per request.

Everything but the edge is the same code in every variant, and CPU time does not count the
time a process waited for a core, so the ratios hold where ``edge.py``'s throughput swings
with whatever else runs.  Reports the median CPU µs per request and the median of the
per-round ratios, with their range.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO
from _report import machine, print_table, warn_if_busy, write_json

WORKER = Path(__file__).resolve().parent / "_edge_cpu_worker.py"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--baseline", metavar="TREE", type=Path, help="another checkout's edge")
    p.add_argument("--rounds", type=int, default=10, help="rounds of every variant (10)")
    p.add_argument("--requests", type=int, default=5000, help="requests per measurement (5000)")
    p.add_argument("--connections", type=int, nargs="+", default=[1, 8], help="(1 8)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    return p.parse_args()


def measure(tree: Path, http: str, requests: int, connections: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            str(WORKER),
            "--http",
            http,
            "--requests",
            str(requests),
            "--connections",
            str(connections),
        ],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_us_per_req"])


def _range(pair: tuple[float, float]) -> str:
    return f"{pair[0]:.3f}–{pair[1]:.3f}"


def main() -> int:
    args = parse_args()
    load_before = warn_if_busy()
    variants: dict[str, tuple[Path, str]] = {
        "edge": (REPO, "edge"),
        "edge-plain": (REPO, "httptools"),
    }
    if args.baseline:
        variants["edge-baseline"] = (args.baseline.resolve(), "httptools")
    variants["direct"] = (REPO, "none")
    names = list(variants)
    cpu: dict[tuple[int, str], list[float]] = {}
    for r in range(args.rounds):
        for conns in args.connections:
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                tree, http = variants[name]
                value = measure(tree, http, args.requests, conns)
                cpu.setdefault((conns, name), []).append(value)
                print(f"  round {r + 1:>2}  c={conns:<3} {name:<14} {value:7.1f} µs/req")
    rows, ratios = [], []
    for conns in args.connections:
        direct = statistics.median(cpu[(conns, "direct")])
        for name in names:
            values = cpu[(conns, name)]
            own = statistics.median(values) - direct if name != "direct" else None
            rows.append([conns, name, statistics.median(values), min(values), max(values), own])
        for other in (n for n in names if n not in ("edge", "direct")):
            # The edge's own cost in each round: minus that round's client and upstream.
            paired = [
                (e - d) / (o - d)
                for e, o, d in zip(
                    cpu[(conns, "edge")], cpu[(conns, other)], cpu[(conns, "direct")], strict=True
                )
            ]
            ratios.append(
                {
                    "connections": conns,
                    "against": other,
                    "median": statistics.median(paired),
                    "range": (min(paired), max(paired)),
                }
            )
    print_table(
        f"CPU µs per request, client + edge + upstream in one process ({args.rounds} rounds)",
        ["conns", "variant", "median", "min", "max", "edge's own (median - direct)"],
        rows,
    )
    print_table(
        "The edge's own CPU per request, this edge / the other (per round, minus direct)",
        ["conns", "against", "median ratio", "range"],
        [
            [
                x["connections"],
                x["against"],
                x["median"],
                f"{x['range'][0]:.3f}–{x['range'][1]:.3f}",
            ]
            for x in ratios
        ],
    )
    write_json(
        args.json,
        {
            "cpu_us_per_req": {f"{c}/{n}": v for (c, n), v in cpu.items()},
            "ratios": ratios,
            "machine": machine(),
            "load_before": load_before,
            "args": vars(args),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
