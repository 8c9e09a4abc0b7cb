"""What the page shows, computed from ``runtime.status()`` and each edge's ``/metrics``.

``Snapshot.get()`` caches the answer for a moment, so that a room full of browsers costs one
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
"""A state older than this (no background task ran) is computed while the request waits."""
IDLE = 10.0
"""The background task stops this long after the last request (nobody is watching)."""


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


def unit_view(name: str, edge: bool, replicas: list[dict[str, Any]]) -> dict[str, Any]:
    healthy = sum(1 for r in replicas if r.get("healthy"))
    state = "up" if replicas and healthy == len(replicas) else "degraded" if healthy else "down"
    versions = sorted({str(r["version"]) for r in replicas if r.get("version") is not None})
    return {
        "name": name,
        "edge": edge,
        "healthy": state == "up",
        "state": state,
        "healthy_replicas": healthy,
        "versions": versions,
        "replicas": [
            {
                "instance": r.get("instance") or "?",
                "healthy": bool(r.get("healthy")),
                "version": r.get("version"),
                "impl": r.get("impl"),
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
        self._wanted = 0.0
        self._http = httpx.Client(timeout=METRICS_TIMEOUT)
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="dashboard")
        self._known: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        """(arch, unit, url) -> the last (instance, version) it answered with, so that a
        replica that stopped answering still shows which one it is."""

    async def get(self) -> dict[str, Any]:
        """The latest state. The first viewer waits for one; after that a background task
        keeps it fresh (one computation per ``ttl``) for as long as someone keeps asking,
        so a request never waits for the probes and a killed unit shows within about
        ``ttl`` + one computation + the page's poll interval."""
        self._wanted = time.monotonic()
        if self._cached is None or time.monotonic() - self._at > STALE:
            await self.refresh()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._keep_fresh())
        assert self._cached is not None
        return self._cached

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if force or self._cached is None or time.monotonic() - self._at >= self.ttl:
                self._cached = await run_in_threadpool(self.compute)
                self._at = time.monotonic()

    async def _keep_fresh(self) -> None:
        while time.monotonic() - self._wanted < IDLE:
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
            units = [
                unit_view(u.name, u.edge, self._remember(arch, u.name, got.get(u.name) or []))
                for u in UNITS[arch]
            ]
            sample = scrapes[arch].result() if arch in scrapes else None
            self.windows[arch].add(sample, now)
            out_arches.append(
                {
                    "arch": arch,
                    "title": TITLES[arch],
                    # a runtime may print another address than the one scraped (in compose,
                    # the host's published port rather than the edge's service name)
                    "entry": body.get("shown_entry") or body.get("entry"),
                    "running": bool(body),
                    "edge": EDGE_OF[arch],
                    "units": units,
                    "links": links(arch),
                    "metrics": {
                        "available": sample is not None,
                        **self.windows[arch].figures(),
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
