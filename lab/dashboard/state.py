"""What the page shows, computed from ``runtime.status()`` and each edge's ``/metrics``.

A background sampler (``Snapshot.run``, started with the app) recomputes the state every
``ttl`` seconds for as long as the dashboard runs, whether or not a browser is watching, so
the edges' counters are scraped regularly and every figure covers the last few seconds of
real time. ``Snapshot.get()`` answers from that state: a room full of browsers costs one
status probe per ``ttl``, not one per browser."""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from starlette.concurrency import run_in_threadpool

from lab.dashboard.metrics import GROUPS, Window, totals
from lab.topology import ARCHES, EDGE_OF, UNITS, Arch

TITLES: dict[Arch, str] = {"micro": "Microservices", "mono": "Monolith"}
METRICS_TIMEOUT = 0.5
STALE = 3.0
"""A state older than this (the sampler is not running) is computed while the request waits."""


class Runtime(Protocol):
    name: str

    def status(self) -> dict[str, Any]: ...


def links(arch: Arch) -> list[tuple[str, str]]:
    """Who calls whom: the edge calls every upstream, a unit calls what it needs."""
    out: list[tuple[str, str]] = []
    for unit in UNITS[arch]:
        out += [(unit.name, upstream) for upstream in sorted(set(unit.routes.values()))]
        out += [(unit.name, needed) for needed in unit.needs]
    return out


LABELS = {"up": "UP", "degraded": "DEGRADED", "down": "DOWN"}


def unit_view(
    name: str,
    edge: bool,
    replicas: list[dict[str, Any]],
    *,
    rates: dict[tuple[str, str], float] | None = None,
    blocked: list[str] | None = None,
    upstreams: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One unit's box. ``rates``: (upstream, replica URL) -> requests/s the edge sent it
    (None: unknown). For an edge, ``blocked`` are the ``upstreams`` it cannot send to (no
    healthy replica, or breaker open): some of them make it degraded, all of them down,
    however well the edge process itself answers."""
    healthy = sum(1 for r in replicas if r.get("healthy"))
    state = "up" if replicas and healthy == len(replicas) else "degraded" if healthy else "down"
    label = LABELS[state]
    reason = None
    if edge and healthy and blocked:
        reason = "no healthy " + ", ".join(blocked) + " behind it"
        if set(blocked) >= set(upstreams):
            state, label = "down", "NO UPSTREAM"
        else:
            state, label = "degraded", "DEGRADED"
    versions = sorted({str(r["version"]) for r in replicas if r.get("version") is not None})
    return {
        "name": name,
        "edge": edge,
        "healthy": state == "up",
        "state": state,
        "label": label,
        "reason": reason,
        "healthy_replicas": healthy,
        "versions": versions,
        "replicas": [
            {
                "instance": r.get("instance") or "?",
                "healthy": bool(r.get("healthy")),
                "version": r.get("version"),
                "rps": None
                if rates is None or edge
                else rates.get((name, str(r.get("url") or "").rstrip("/")), 0.0),
            }
            for r in replicas
        ],
    }


class Snapshot:
    def __init__(self, runtime: Runtime, *, ttl: float = 0.5, window: float = 5.0) -> None:
        self.runtime = runtime
        self.ttl = ttl
        self.windows = {arch: Window(window) for arch in ARCHES}
        self._cached: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._http = httpx.Client(timeout=METRICS_TIMEOUT)
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="dashboard")
        self._known: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        """(arch, unit, url) -> the last (instance, version) it answered with, so that a
        replica that stopped answering still shows which one it is."""

    def start(self) -> None:
        """Start the background sampler (idempotent; the app does it at start-up)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def get(self) -> dict[str, Any]:
        """The latest state, as the sampler left it: a request never waits for the probes,
        and a killed unit shows within about ``ttl`` + one computation + the page's poll
        interval. (Only the first request, or one while the sampler is stuck, waits.)"""
        self.start()  # an app served without lifespan has no sampler yet
        if self._cached is None or time.monotonic() - self._at > STALE:
            await self.refresh()
        assert self._cached is not None
        return self._cached

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if force or self._cached is None or time.monotonic() - self._at >= self.ttl:
                self._cached = await run_in_threadpool(self.compute)
                self._at = time.monotonic()

    async def run(self) -> None:
        """Sample every ``ttl`` seconds until cancelled."""
        while True:
            started = time.monotonic()
            # on error keep serving the last state; the next round tries again
            with contextlib.suppress(Exception):
                await self.refresh(force=True)
            await asyncio.sleep(max(0.05, self.ttl - (time.monotonic() - started)))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._http.close()
        close_runtime = getattr(self.runtime, "close", None)
        if callable(close_runtime):
            close_runtime()

    def compute(self) -> dict[str, Any]:
        """One fresh state: the status and both edges' metrics, fetched in parallel."""
        status_job = self._pool.submit(self.runtime.status)
        error = None
        try:
            status = status_job.result()
        except Exception as exc:  # the page says what went wrong and keeps polling
            status, error = {"architectures": {}}, f"{type(exc).__name__}: {exc}"
        found = status.get("architectures") or {}
        scrapes = {
            arch: self._pool.submit(self._scrape, arch, found[arch]["entry"])
            for arch in ARCHES
            if arch in found and found[arch].get("entry")
        }
        now = time.monotonic()
        out_arches = []
        for arch in ARCHES:
            body = found.get(arch) or {}
            got = body.get("units") or {}
            sample = scrapes[arch].result() if arch in scrapes else None
            window = self.windows[arch]
            window.add(sample, now)
            span = window.span()
            units = [
                unit_view(
                    u.name,
                    u.edge,
                    self._remember(arch, u.name, got.get(u.name) or []),
                    rates=window.replica_rates() if span else None,
                    blocked=sample.blocked() if sample is not None else None,
                    upstreams=tuple(sorted(set(u.routes.values()))),
                )
                for u in UNITS[arch]
            ]
            edge_state = next(v["state"] for v in units if v["edge"])
            out_arches.append(
                {
                    "arch": arch,
                    "title": TITLES[arch],
                    # a runtime may print another address than the one scraped (in compose,
                    # the host's published port rather than the edge's service name)
                    "entry": body.get("shown_entry") or body.get("entry"),
                    "running": bool(body),
                    # what the room can reach through the entry: nothing when the edge is down
                    "state": edge_state,
                    "edge": EDGE_OF[arch],
                    "units": units,
                    "links": links(arch),
                    "metrics": {
                        "available": sample is not None,
                        "seconds": span,
                        **window.figures(),
                    },
                }
            )
        return {
            "runtime": status.get("runtime") or getattr(self.runtime, "name", "?"),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "error": error,
            "groups": list(GROUPS),
            "architectures": out_arches,
        }

    def _remember(
        self, arch: str, unit: str, replicas: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        out = []
        for replica in replicas:
            key = (arch, unit, str(replica.get("url")))
            if replica.get("instance"):
                self._known[key] = (replica["instance"], replica.get("version"))
            elif key in self._known:
                instance, version = self._known[key]
                replica = {**replica, "instance": instance}
                replica.setdefault("version", None)
                if replica["version"] is None:
                    replica["version"] = version
            out.append(replica)
        return out

    def _scrape(self, arch: Arch, entry: str) -> Any:
        try:
            response = self._http.get(entry.rstrip("/") + "/metrics")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        return totals(response.text, unit=EDGE_OF[arch])
