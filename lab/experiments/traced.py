"""Hops and time on the network, measured from traces rather than counted from logs.

Each request is sent with a ``traceparent`` of our own, sampled: twinshop continues that
trace in every unit it reaches, and the units export their spans to the dashboard's
receiver. Reading the trace back (``/api/traces/{id}``) gives, per request, the calls that
crossed the network (a client span and the server span it caused), the time spent on the
network (what the caller waited beyond what the callee worked) and the rest, in process.

Where the units send spans: the process runtime's ``traces_to`` (by default the port of
``twinshop dashboard``); compose and swarm send them to their own dashboard service. When
nothing answers there, a receiver is started on that address for the measurement.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

CHECKOUT = {"customer": "trace-probe", "items": [{"product_id": 1, "quantity": 1}]}
ARRIVAL_SECONDS = 8.0  # spans leave a unit about once a second


def receiver_of(runtime: Any) -> str | None:
    """The base URL of the trace receiver ``runtime``'s units export to (None: unknown)."""
    if runtime.name == "process":
        from lab.runtime.process import default_traces_to

        state = runtime.state.load()
        traces_to = state.get("traces_to")
        return (default_traces_to() if traces_to is None else traces_to) or None
    dashboard = getattr(runtime, "dashboard", None)
    return dashboard() if callable(dashboard) else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url.rstrip("/") + "/api/traces", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def receiving(url: str) -> Iterator[str | None]:
    """``url`` as a trace receiver: the running dashboard, or one started here for now
    (None when neither: its port is taken by something else)."""
    if _answers(url):
        yield url
        return
    import uvicorn

    from lab.dashboard.app import create_app

    class NoRuntime:
        name = "experiment"

        def status(self) -> dict[str, Any]:
            return {"runtime": "experiment", "architectures": {}}

    address = urlsplit(url)
    config = uvicorn.Config(
        create_app(NoRuntime(), forward_to=""), host=address.hostname or "127.0.0.1",
        port=address.port or 80, log_level="warning", access_log=False, ws="none",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="trace-receiver", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield url if server.started else None
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def traceparent() -> tuple[str, str]:
    trace_id = os.urandom(16).hex()
    return trace_id, f"00-{trace_id}-{os.urandom(8).hex()}-01"


def _fetch(receiver: str, trace_id: str, units: int) -> dict[str, Any] | None:
    """The trace once spans of at least ``units`` units are in (None if they never come)."""
    deadline = time.monotonic() + ARRIVAL_SECONDS
    found = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(f"{receiver.rstrip('/')}/api/traces/{trace_id}", timeout=2.0)
            if response.status_code == 200:
                found = response.json()
                if len(found["units"]) >= units:
                    time.sleep(1.2)  # the last batch of another unit may still be on its way
                    final = httpx.get(f"{receiver.rstrip('/')}/api/traces/{trace_id}")
                    return dict(final.json()) if final.status_code == 200 else found
        time.sleep(0.3)
    return found


def measure(
    entries: dict[str, str], receiver: str, *, checkouts: int = 5
) -> dict[str, dict[str, Any]]:
    """Per architecture: hops of a checkout and of a browse, and, over ``checkouts``
    checkouts (medians), total, network and in-process milliseconds."""
    units = {"micro": 3, "mono": 2}
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=30.0) as client:
        for arch, entry in entries.items():
            sent: dict[str, list[str]] = {"checkout": [], "browse": []}
            orders = []
            for _ in range(checkouts):
                trace_id, header = traceparent()
                response = client.post(
                    entry + "/orders",
                    json=CHECKOUT,
                    headers={"traceparent": header, "Idempotency-Key": uuid.uuid4().hex},
                )
                if response.status_code == 201:
                    sent["checkout"].append(trace_id)
                    orders.append(str(response.json().get("id")))
            trace_id, header = traceparent()
            if client.get(entry + "/products/1", headers={"traceparent": header}).is_success:
                sent["browse"].append(trace_id)
            traces: dict[str, list[dict[str, Any]]] = {}
            for group, ids in sent.items():
                traces[group] = []
                for trace_id in ids:
                    found = _fetch(receiver, trace_id, units.get(arch, 2))
                    if found is None:
                        break  # spans do not arrive: no use waiting for the others
                    traces[group].append(found)
            out[arch] = {"order_ids": orders, **summarise(traces)}
    return out


def summarise(traces: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Hops and path of the first trace of each group; medians of the checkouts' times."""
    out: dict[str, Any] = {}
    for group, found in traces.items():
        if not found:
            out[group] = None
            continue
        first = found[0]
        out[group] = {
            "traces": len(found),
            "hops": first["hops"],
            "path": [f"{c['from']}→{c['to']}" for c in first["calls"]],
            "total_ms": round(statistics.median(t["total_ms"] for t in found), 2),
            "network_ms": round(statistics.median(t["network_ms"] for t in found), 2),
            "process_ms": round(statistics.median(t["process_ms"] for t in found), 2),
            "trace_id": first["trace_id"],
        }
    return out


def text(measured: dict[str, Any] | None, group: str) -> str:
    """``2 hops past the entry (gateway→orders, orders→catalog): network 1.2 ms, ...``."""
    found = (measured or {}).get(group)
    if not found:
        return "not traced (no spans arrived: is tracing on?)"
    hops = found["hops"]
    return (
        f"{hops} hop{'s' if hops != 1 else ''} past the entry ({', '.join(found['path'])}): "
        f"network "
        f"{found['network_ms']} ms, in process {found['process_ms']} ms of {found['total_ms']} ms"
    )
