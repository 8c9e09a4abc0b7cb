"""A trace as the waterfall shows it, and what it measures: hops, network and process time.

One row per span, in call order (a span below its parent, siblings by start time), each
with its offset from the start of the trace and its duration in milliseconds. A *hop* is
a client span whose child is a server span in another unit: a call across the network.
Its network time is what the client waited beyond what the server spent (request on the
way there + answer on the way back: ``client - server``), drawn as the gaps before and
after the server's bar. Whatever is not network is time in process.
"""

from __future__ import annotations

from typing import Any

from lab.dashboard.traces import Span, TraceStore

EDGES = {"gateway": "micro", "lb": "mono"}
ARCH_OF_UNIT = {"gateway": "micro", "orders": "micro", "catalog": "micro", "lb": "mono",
                "monolith": "mono"}  # fmt: skip
GROUPS = ("checkout", "browse")
MS = 1e-6  # milliseconds per nanosecond


def root_of(spans: list[Span]) -> Span | None:
    """The earliest span whose parent is not in the trace (the edge's, when it was sent)."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_id or s.parent_id not in ids]
    return min(roots, key=lambda s: s.start_ns, default=None)


def arch_of(spans: list[Span]) -> str | None:
    """micro or mono, from the units the trace went through."""
    for span in spans:
        arch = ARCH_OF_UNIT.get(span.unit)
        if arch is not None:
            return arch
    return None


def group_of(span: Span) -> str | None:
    """checkout (POST /orders) or browse (GET /products...), from a server span."""
    attrs = span.attributes
    method = attrs.get("http.request.method") or attrs.get("http.method") or ""
    path = str(
        attrs.get("url.path") or attrs.get("http.target") or attrs.get("http.route") or ""
    ).split("?")[0]
    if not method or not path:  # the span name is "METHOD /path" for every server span
        method, _, path = span.name.partition(" ")
    if method == "POST" and path.rstrip("/") == "/orders":
        return "checkout"
    if method == "GET" and path.startswith("/products"):
        return "browse"
    return None


def label_of(span: Span) -> str:
    """The span's name, an SQL statement's without its database (``SELECT``, ``COMMIT``)."""
    if "db.system" in span.attributes or "db.system.name" in span.attributes:
        return span.name.split(" ", 1)[0]
    return span.name


def _ordered(spans: list[Span]) -> list[tuple[Span, int]]:
    """Depth-first, children by start time: (span, depth)."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[Span]] = {}
    tops = []
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
        if span.parent_id and span.parent_id in ids:
            children.setdefault(span.parent_id, []).append(span)
        else:
            tops.append(span)
    out: list[tuple[Span, int]] = []
    stack = [(span, 0) for span in reversed(tops)]
    while stack:
        span, depth = stack.pop()
        out.append((span, depth))
        stack += [(child, depth + 1) for child in reversed(children.get(span.span_id, []))]
    return out


def hops(spans: list[Span]) -> list[dict[str, Any]]:
    """Every call across the network: a client span and the server span it caused."""
    by_id = {s.span_id: s for s in spans}
    out = []
    for server in sorted(spans, key=lambda s: s.start_ns):
        client = by_id.get(server.parent_id)
        if server.kind != "server" or client is None or client.kind != "client":
            continue
        before = max(0, server.start_ns - client.start_ns)
        after = max(0, client.end_ns - server.end_ns)
        out.append(
            {
                "from": client.unit,
                "to": server.unit,
                "client": client.span_id,
                "server": server.span_id,
                "before_ms": round(before * MS, 3),
                "after_ms": round(after * MS, 3),
                "network_ms": round((before + after) * MS, 3),
            }
        )
    return out


def waterfall(spans: list[Span]) -> dict[str, Any] | None:
    """The rows and figures of one trace (None for an empty one)."""
    root = root_of(spans)
    if root is None:
        return None
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    calls = hops(spans)
    gaps = {h["server"]: h for h in calls}
    rows = []
    for span, depth in _ordered(spans):
        hop = gaps.get(span.span_id)
        rows.append(
            {
                "span_id": span.span_id,
                "parent_id": span.parent_id,
                "name": label_of(span),
                "kind": span.kind,
                "unit": span.unit,
                "instance": span.instance,
                "version": span.version,
                "depth": depth,
                "start_ms": round((span.start_ns - start) * MS, 3),
                "duration_ms": round(span.duration_ns * MS, 3),
                "error": span.error,
                "status": span.attributes.get("http.response.status_code")
                or span.attributes.get("http.status_code"),
                "message": span.status_message,
                # the network before and after this server span, drawn on its row
                "gap_before_ms": hop["before_ms"] if hop else None,
                "gap_after_ms": hop["after_ms"] if hop else None,
            }
        )
    total_ms = round((end - start) * MS, 3)
    network_ms = round(sum(h["network_ms"] for h in calls), 3)
    return {
        "trace_id": root.trace_id,
        "arch": arch_of(spans),
        "group": group_of(root),
        "root": root.name,
        "units": sorted({s.unit for s in spans}),
        "start_unix_ms": start // 1_000_000,
        "total_ms": total_ms,
        "hops": len(calls),
        "calls": calls,
        "network_ms": network_ms,
        "process_ms": round(max(0.0, total_ms - network_ms), 3),
        "error": any(s.error for s in spans),
        "rows": rows,
    }


def latest(store: TraceStore) -> dict[str, dict[str, dict[str, Any] | None]]:
    """The latest checkout and browse trace that entered through each edge:
    ``{"micro": {"checkout": ..., "browse": ...}, "mono": {...}}`` (None: none yet)."""
    found: dict[str, dict[str, tuple[int, list[Span]]]] = {"micro": {}, "mono": {}}
    for spans in store.newest_first():
        root = root_of(spans)
        if root is None or root.unit not in EDGES:
            continue
        group = group_of(root)
        if group is None:
            continue
        arch = EDGES[root.unit]
        held = found[arch].get(group)
        if held is None or root.start_ns > held[0]:
            found[arch][group] = (root.start_ns, spans)
    return {
        arch: {group: waterfall(found[arch][group][1]) if group in found[arch] else None
               for group in GROUPS}
        for arch in ("micro", "mono")
    }  # fmt: skip


def summary(spans: list[Span]) -> dict[str, Any]:
    """One line of the trace list."""
    shown = waterfall(spans) or {}
    return {key: shown.get(key) for key in (
        "trace_id", "arch", "group", "root", "units", "start_unix_ms", "total_ms", "hops",
        "network_ms", "process_ms", "error")} | {"spans": len(spans)}  # fmt: skip
