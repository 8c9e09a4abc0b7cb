"""The dashboard as a compose service: the stack's status seen from inside its own network.

The ``dashboard`` service of ``docker-compose.yml`` has no Docker socket (a container that can
drive the engine could take over the host). It derives what ``twinshop status`` shows from
what any container on the network can see:

- **replicas**: Docker's DNS lists one address per *running* container of a service, so
  ``catalog`` resolves to every catalog replica and to nothing once catalog is killed;
- **health, instance, version**: each replica's own ``/health`` on port 8000;
- **figures**: the edges' ``/metrics`` (``lab.dashboard.state`` scrapes the entry).

A unit that stops resolving keeps its last known replicas, shown unhealthy, so a killed unit
turns red instead of vanishing; a unit scaled down shows only what still answers.

Run it with ``uvicorn --factory lab.dashboard.network:create_app`` (what the image does).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from functools import partial
from typing import Any

import httpx

from lab import health
from lab.topology import EDGE_OF, UNITS

PORT = 8000
"""Every unit and edge listens on 8000 inside the stack."""
DNS_DEADLINE = 1.0
"""How long a status waits for one name. A name Docker does not know (a killed unit) is
passed on to the host's DNS servers, which may be slow or unreachable in a workshop room;
past the deadline the unit counts as not resolving, and that lookup is not repeated until
it has finished."""

Resolver = Callable[[str], list[str]]
"""A service name -> the addresses of its running replicas."""
Prober = Callable[[str], dict[str, Any]]
"""A replica's base URL -> {instance, version, healthy} from its /health."""


def resolve(name: str) -> list[str]:
    """Every address Docker's DNS gives for a service name, in a stable order."""
    try:
        found = socket.getaddrinfo(name, PORT, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):  # gaierror is an OSError
        return []
    return sorted({str(info[4][0]) for info in found})


def url_of(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{PORT}"


class NetworkView:
    """A read-only runtime for the dashboard: ``status()`` in the shape of
    ``twinshop status --json``, from DNS and ``/health`` alone.

    ``shown`` is the entry printed on the page for each architecture (the host's published
    address, e.g. ``http://127.0.0.1:8080``); the edge is scraped at its service name."""

    name = "compose"

    def __init__(
        self,
        *,
        shown: dict[str, str] | None = None,
        resolver: Resolver = resolve,
        prober: Prober | None = None,
    ) -> None:
        self.shown = shown or {}
        self.resolver = resolver
        self._http = httpx.Client()
        self.prober: Prober = prober or partial(health.probe, client=self._http)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")
        self._dns = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns")
        self._lookups: dict[str, Future[list[str]]] = {}
        self._last: dict[str, list[dict[str, Any]]] = {}
        """unit -> the replicas it had when it last resolved (shown unhealthy once it stops)."""

    def status(self) -> dict[str, Any]:
        names = [unit.name for units in UNITS.values() for unit in units]
        addresses = self._resolve_all(names)
        urls = [url_of(a) for name in names for a in addresses[name]]
        probes = dict(zip(urls, self._pool.map(self.prober, urls), strict=True))
        out: dict[str, Any] = {"runtime": self.name, "architectures": {}}
        for arch, units in UNITS.items():
            found = {u.name: self._replicas(u.name, addresses[u.name], probes) for u in units}
            if not any(addresses[u.name] for u in units):
                continue  # nothing of this architecture runs (e.g. compose up gateway only)
            out["architectures"][arch] = {
                "entry": f"http://{EDGE_OF[arch]}:{PORT}",
                "shown_entry": self.shown.get(arch),
                "units": found,
            }
        return out

    def _resolve_all(self, names: list[str]) -> dict[str, list[str]]:
        """Every name's addresses, waiting at most ``DNS_DEADLINE`` in all; at most one
        lookup per name is in flight, so a hanging one cannot pile up threads."""
        for name in names:
            if name not in self._lookups or self._lookups[name].done():
                self._lookups[name] = self._dns.submit(self.resolver, name)
        wait([self._lookups[n] for n in names], timeout=DNS_DEADLINE)
        out: dict[str, list[str]] = {}
        for name in names:
            job = self._lookups[name]
            out[name] = job.result() if job.done() and not job.exception() else []
        return out

    def _replicas(
        self, unit: str, addresses: list[str], probes: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        if not addresses:
            return [{**r, "healthy": False} for r in self._last.get(unit, [])]
        replicas = [{"url": url_of(a), **probes[url_of(a)]} for a in addresses]
        self._last[unit] = replicas
        return replicas

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._dns.shutdown(wait=False)
        self._http.close()


def shown_entries_from_env() -> dict[str, str]:
    """``TWINSHOP_DASHBOARD_ENTRIES``: a JSON object, architecture -> the address to print."""
    raw = os.environ.get("TWINSHOP_DASHBOARD_ENTRIES", "")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    # Bound to every interface (TWINSHOP_BIND=0.0.0.0): this machine reaches it on loopback.
    return {
        str(k): str(v).replace("//0.0.0.0:", "//127.0.0.1:").replace("//[::]:", "//127.0.0.1:")
        for k, v in value.items()
    }


def create_app() -> Any:
    """The dashboard app over the compose network (a uvicorn ``--factory``)."""
    from lab.dashboard.app import create_app as dashboard_app

    return dashboard_app(NetworkView(shown=shown_entries_from_env()))
