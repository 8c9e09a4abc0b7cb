"""Network hops of one request, counted from its request id across the units' logs.

Every unit and edge writes one JSON line per request it served, with the ``request_id``
the edge gave it (``shop.core.logs``); the id travels with every call the request makes.
So the lines carrying one id are the network hops that request took: client → edge,
edge → unit, and in micro orders → catalog for a checkout."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

CHECKOUT = {"customer": "hop-count", "items": [{"product_id": 1, "quantity": 1}]}


def lines_with(request_id: str, lines: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON log lines that carry ``request_id`` (other lines are skipped)."""
    found = []
    for line in lines:
        if request_id not in line:
            continue
        try:
            entry = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("request_id") == request_id:
            found.append(entry)
    return found


def log_marks(runtime: Any) -> dict[str, int]:
    """Where each unit's log ends now (process runtime), so that only what follows is read."""
    if runtime.name != "process":
        return {}
    return {str(p): p.stat().st_size for p in Path(runtime.state.logs).glob("*.log")}


def log_lines(runtime: Any, marks: dict[str, int], since: float) -> list[str]:
    """The units' log lines written after ``marks`` (process runtime: the state directory's
    files) or after ``since`` (docker: each container's output)."""
    if runtime.name == "process":
        out: list[str] = []
        for path in sorted(Path(runtime.state.logs).glob("*.log")):
            if path.name == "supervisor.log":
                continue
            with path.open("rb") as f:
                f.seek(marks.get(str(path), 0))
                out += f.read().decode(errors="replace").splitlines()
        return out
    return [
        line
        for container in runtime._containers()
        for line in container.logs(since=int(since) - 1).decode(errors="replace").splitlines()
    ]


def count(runtime: Any, entry: str, *, within: float = 5.0) -> dict[str, Any]:
    """Send one browse and one checkout through ``entry`` and count the units that logged
    each: ``{"browse": 2, "checkout": 3, "checkout_path": ["gateway", "orders", "catalog"],
    "order_id": ...}`` (a hop is None when the request failed)."""
    out: dict[str, Any] = {}
    marks, since = log_marks(runtime), time.time()
    with httpx.Client(base_url=entry, timeout=30.0) as client:
        sent = {
            "browse": client.get("/products/1", headers={"X-Request-ID": _fresh()}),
            "checkout": client.post(
                "/orders",
                json=CHECKOUT,
                headers={"X-Request-ID": _fresh(), "Idempotency-Key": _fresh()},
            ),
        }
    order = sent["checkout"]
    out["order_id"] = order.json().get("id") if order.status_code == 201 else None
    deadline = time.monotonic() + within
    for group, response in sent.items():
        request_id = response.headers.get("x-request-id", "")
        if response.status_code >= 400 or not request_id:
            out[group], out[f"{group}_path"] = None, []
            continue
        while True:  # the units write their lines within half a second
            found = lines_with(request_id, log_lines(runtime, marks, since))
            units = [e.get("unit") for e in sorted(found, key=lambda e: str(e.get("ts")))]
            if len(units) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        time.sleep(0.6)  # a last line may still be on its way
        found = lines_with(request_id, log_lines(runtime, marks, since))
        out[group] = len(found)
        out[f"{group}_path"] = sorted({str(e.get("unit")) for e in found})
    return out


def _fresh() -> str:
    return uuid.uuid4().hex
