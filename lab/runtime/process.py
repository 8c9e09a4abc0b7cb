"""The process runtime: every unit a local uvicorn process, SQLite in the state directory.

No Docker needed. Replicas find each other through small JSON files in
``$TWINSHOP_HOME/upstreams`` that this runtime rewrites whenever it starts or stops an
instance; the edges and the orders service re-read them every second.

``state.json`` holds one record per instance (arch, unit, pid, port, url, log, version)
plus a few flags:

- ``stopped``: put down on purpose (``twinshop kill``); stays down until ``start``;
- ``published``: listed in the discovery file (absent means yes);
- ``pending``: a time stamp; a CLI operation (up, start, scale, redeploy) is moving this
  instance, so the supervisor leaves it alone (for at most ``PENDING_TIMEOUT`` seconds,
  in case that CLI died half-way).

The CLI and the supervisor (``lab.supervisor``) both change it: every load-modify-save
holds the state directory's lock (``StateDir.lock``), and instances are named by port.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab import health, impls
from lab.errors import LabError
from lab.runtime import processes, restarts
from lab.runtime.cpu_budget import CpuBudget, cpus_for
from lab.state import StateDir
from lab.topology import EDGE_OF, UNITS, Arch, Unit, unit_named

DEFAULT_EDGE_PORTS: dict[Arch, int] = {"micro": 8080, "mono": 8081}
DISCOVERY_INTERVAL = 1.0
"""How often the edges and orders re-read the discovery files (seconds)."""
DRAIN_SECONDS = 1.5
"""How long an unpublished replica keeps running: more than one discovery interval, so
that no new request reaches it when it gets SIGTERM."""
PENDING_TIMEOUT = 120.0
GRACE_SECONDS = 10.0
"""SIGTERM, then this long for in-flight requests (uvicorn's own limit is 5 s), then SIGKILL."""


class SupervisorRetired(Exception):
    """This supervisor is no longer the one the state directory names: it should exit."""


def next_version(current: str) -> str:
    """The version after ``current``: ``1`` -> ``2``; anything not numeric needs --version."""
    if current.isdigit():
        return str(int(current) + 1)
    raise LabError(f"the current version {current!r} is not a number; pass --version V")


DASHBOARD_PORT = 8090
"""Where ``twinshop dashboard`` listens by default, and so where the units send spans."""


def default_traces_to(environ: Mapping[str, str] | None = None) -> str:
    """Where the units export their spans: ``OTEL_EXPORTER_OTLP_ENDPOINT`` when set, else
    the trace receiver of ``twinshop dashboard`` on this machine (``TWINSHOP_DASHBOARD_PORT``,
    8090). With no dashboard there, a unit says so once and drops its spans."""
    environ = os.environ if environ is None else environ
    if "OTEL_EXPORTER_OTLP_ENDPOINT" in environ:
        return environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    return f"http://127.0.0.1:{environ.get('TWINSHOP_DASHBOARD_PORT', DASHBOARD_PORT)}"


@dataclass
class ProcessRuntime:
    state: StateDir
    host: str = "127.0.0.1"
    edge_ports: dict[Arch, int] = field(default_factory=lambda: dict(DEFAULT_EDGE_PORTS))
    unit_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra environment per unit name (tests use it for short timeouts); kept in the state,
    so that instances started later (scale, redeploy, the supervisor) get it too."""
    version: str = "1"
    name: str = "process"
    supervise: bool = False
    """``up`` starts the supervisor (``twinshop up`` does; test stacks do not, so that a
    crash stays a crash there)."""
    drain_seconds: float = DRAIN_SECONDS
    impl_of: dict[str, str] = field(default_factory=dict)
    """The implementation ``up`` starts per unit name (python unless named: the catalog
    may be ``rust``); later operations keep each instance's own (``impl`` in its record)."""
    traces_to: str | None = None
    """The OTLP/HTTP endpoint the units export spans to ("" none; None ``default_traces_to``);
    kept in the state, so that instances started later send theirs to the same place."""
    _spawned: list[int] = field(default_factory=list, repr=False)
    """Every process this object started, so that ``down`` leaves none behind."""
    _cpu: CpuBudget | None = field(default=None, repr=False)

    @property
    def cpu_budget(self) -> CpuBudget:
        """Where each instance's CPU quota lives (``lab.runtime.cpu_budget``), or why none."""
        if self._cpu is None:
            self._cpu = CpuBudget.detect(self.state.root)
        return self._cpu

    # -- the CLI's verbs -------------------------------------------------------------

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 30.0) -> dict[Arch, str]:
        """Start every unit of ``arches`` and return once all are healthy."""
        self.state.ensure()
        token = self.state.admin_token()
        for unit_name, impl in self.impl_of.items():
            self._prepare(unit_name, impl)
        started: list[dict[str, Any]] = []
        with self._transaction() as state:
            for arch in arches:
                if self._running(state, arch):
                    entry = state["architectures"][arch]["entry"]
                    raise LabError(
                        f"{arch} is already running at {entry} (state in {self.state.root}); "
                        "run `twinshop down` first"
                    )
                state["architectures"].pop(arch, None)
                port = self.edge_ports[arch]
                if not processes.port_is_free(self.host, port):
                    edge = EDGE_OF[arch]
                    raise LabError(
                        f"port {port} on {self.host} is in use, and the {edge} of {arch} needs "
                        f"it; stop what uses it or pick another port (twinshop up --{edge}-port N)"
                    )
            state["host"] = self.host
            state["traces_to"] = default_traces_to() if self.traces_to is None else self.traces_to
            unit_env = state.setdefault("unit_env", {})
            for unit_name, extra in self.unit_env.items():
                unit_env[unit_name] = {**unit_env.get(unit_name, {}), **extra}
            for arch in arches:
                entry = f"http://{self.host}:{self.edge_ports[arch]}"
                state["architectures"][arch] = {"entry": entry, "units": {}}
                for unit in UNITS[arch]:
                    port = self.edge_ports[arch] if unit.edge else processes.free_port(self.host)
                    impl = self.impl_of.get(unit.name, impls.PYTHON)
                    record = self._spawn(
                        state, unit, port, token=token, version=self.version, impl=impl
                    )
                    state["architectures"][arch]["units"][unit.name] = [record]
                    started.append(record)
                for unit in UNITS[arch]:
                    if not unit.edge:
                        self._publish(state, arch, unit.name)
        try:
            self.wait_healthy(started, timeout=timeout)
        except LabError:
            with self._transaction() as state:
                processes.stop([r["pid"] for r in started], grace=3)
                for arch in arches:
                    state["architectures"].pop(arch, None)
            raise
        self._settle(started)
        if self.supervise:
            self.ensure_supervisor()
        return {arch: f"http://{self.host}:{self.edge_ports[arch]}" for arch in arches}

    def down(self, *, volumes: bool = False) -> int:
        """Stop the supervisor, then every process this state directory knows of; returns
        how many units' instances were stopped. (``volumes`` is for the container runtimes:
        the SQLite files stay in the state directory.)"""
        if not self.state.state_file.exists():
            return 0
        self._stop_supervisor()
        with self._transaction() as state:
            pids = [r["pid"] for _, _, r in self._records(state)]
            processes.stop(pids, grace=GRACE_SECONDS)
            state["architectures"] = {}
        # Anything this object started that the state no longer names (replaced instances).
        processes.stop([pid for pid in self._spawned if processes.alive(pid)], grace=2)
        self._spawned.clear()
        self.cpu_budget.prune()
        return len(pids)

    def status(self) -> dict[str, Any]:
        """The shape of ``twinshop status --json`` (see README)."""
        state = self._load()
        records = list(self._records(state))
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(records)))) as pool:
            probes = list(pool.map(lambda r: self._probe(r[2]), records))
        out: dict[str, Any] = {"runtime": self.name, "architectures": {}}
        for arch, body in state["architectures"].items():
            out["architectures"][arch] = {"entry": body["entry"], "units": {}}
            for unit in body["units"]:
                out["architectures"][arch]["units"][unit] = [
                    probe
                    for (a, u, _), probe in zip(records, probes, strict=True)
                    if (a, u) == (arch, unit)
                ]
        return out

    def kill(self, unit_name: str) -> int:
        """SIGKILL every instance of a unit, like a crash; it stays down until ``start``
        (the supervisor does not bring back what is marked stopped)."""
        with self._transaction() as state:
            arch, records = self._unit_records(state, unit_name)
            running = [r for r in records if not r.get("stopped")]
            for record in running:
                record["stopped"] = True
                record.pop("pending", None)
            self._publish(state, arch, unit_name)
            processes.stop([r["pid"] for r in running], kill=True)
        return len(running)

    def start(self, unit_name: str, *, timeout: float = 30.0) -> int:
        """Start the stopped instances of a unit again, on the same ports."""
        token = self.state.admin_token()
        restarted: list[dict[str, Any]] = []
        with self._transaction() as state:
            arch, records = self._unit_records(state, unit_name)
            unit = self._unit(arch, unit_name)
            for i, record in enumerate(records):
                if record.get("stopped") or not processes.alive(record["pid"]):
                    fresh = self._spawn(
                        state, unit, record["port"], token=token, version=record["version"],
                        impl=record.get("impl", impls.PYTHON),
                    )  # fmt: skip
                    fresh["published"] = record.get("published", True) and not record.get("stopped")
                    records[i] = fresh
                    restarted.append(fresh)
        try:
            self.wait_healthy(restarted, timeout=timeout)
        finally:
            self._settle(restarted, publish=True)
        return len(restarted)

    def crash(self, unit_name: str) -> str:
        """SIGKILL one running instance, as a crash would; unlike ``kill`` it is not marked
        stopped, so the supervisor brings it back. Returns which one."""
        running = [
            r
            for r in self.instances(unit_name)
            if not r.get("stopped") and processes.alive(r["pid"])
        ]
        if not running:
            raise LabError(f"no instance of {unit_name} is running")
        record = random.choice(running)
        with contextlib.suppress(ProcessLookupError):
            os.kill(record["pid"], signal.SIGKILL)
        return f"{unit_name} pid {record['pid']}"

    def admin_get(self, unit_name: str, path: str) -> Any:
        """GET an operator route (``/_…``, admin token) of the unit's first instance."""
        running = [r for r in self.instances(unit_name) if not r.get("stopped")]
        if not running:
            raise LabError(f"no instance of {unit_name} is running")
        headers = {"Authorization": f"Bearer {self.state.admin_token()}"}
        response = httpx.get(running[0]["url"] + path, headers=headers, timeout=10.0)
        response.raise_for_status()
        return response.json()

    def admin_token(self) -> str:
        """The token of the admin routes (kept in the state directory)."""
        return self.state.admin_token()

    def memory_mb(self, unit_name: str) -> float:
        """Resident memory of every instance of ``unit_name``, summed (from /proc)."""
        total = 0.0
        for record in self.instances(unit_name):
            try:
                status = Path(f"/proc/{record['pid']}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        return round(total, 1)

    def instances(self, unit_name: str) -> list[dict[str, Any]]:
        """What the state says about each instance of a unit (url, pid, port, log)."""
        return self._unit_records(self._load(), unit_name)[1]

    def scale(
        self, unit_name: str, replicas: int, *, impl: str | None = None, timeout: float = 30.0
    ) -> tuple[int, int]:
        """Run ``replicas`` instances of a unit; returns (before, after). New instances run
        the newest one's implementation, or ``impl`` (a mixed set: python and rust).

        Up: new instances on free ports, published once healthy. Down: the newest are
        unpublished first, keep running for ``drain_seconds`` (the edges stop sending them
        requests), then get SIGTERM and finish what they are doing."""
        unit = unit_named(unit_name)
        if unit.edge:
            raise LabError(
                f"{unit_name} is an edge: it owns the published port of {unit.arch} and cannot "
                "be scaled; scale what is behind it ("
                + ", ".join(u.name for u in UNITS[unit.arch] if not u.edge)
                + ")"
            )
        if replicas < 1:
            raise LabError(f"scale {unit_name} to 1 or more (to stop it: twinshop kill)")
        if impl is not None:
            self._prepare(unit_name, impl)
        token = self.state.admin_token()
        added: list[dict[str, Any]] = []
        removed: list[dict[str, Any]] = []
        with self._transaction() as state:
            arch, records = self._movable_records(state, unit_name)
            before = len(records)
            version = records[-1]["version"]
            impl = impl or records[-1].get("impl", impls.PYTHON)
            for _ in range(replicas - before):
                port = processes.free_port(self.host)
                record = self._spawn(state, unit, port, token=token, version=version, impl=impl)
                record["published"] = False
                records.append(record)
                added.append(record)
            for record in records[replicas:]:  # the newest go first
                record["published"] = False
                record["pending"] = time.time()
                removed.append(record)
            self._publish(state, arch, unit_name)
        if added:
            try:
                self.wait_healthy(added, timeout=timeout)
            except LabError:
                self._discard(arch, unit_name, added, grace=3)
                raise
            self._settle(added, publish=True)
        if removed:
            time.sleep(self.drain_seconds)
            processes.stop([r["pid"] for r in removed], grace=GRACE_SECONDS)
            self._discard(arch, unit_name, removed, grace=0)
        self.wait_edge_routes(arch, unit_name, replicas)
        return before, replicas

    def wait_edge_routes(
        self, arch: str, unit_name: str, replicas: int, *, timeout: float = 15.0
    ) -> bool:
        """Wait until the edge in front of a unit routes to exactly ``replicas`` healthy
        instances of it (it re-reads the discovery file every second); False on timeout or
        when the edge does not route to this unit or does not answer."""
        arch_units = UNITS.get(arch, ())  # type: ignore[call-overload]
        if not any(u.edge and unit_name in u.routes.values() for u in arch_units):
            return False
        entry = self._load()["architectures"].get(arch, {}).get("entry")
        if not entry:
            return False
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    body = client.get(entry + "/health").json()
                except (httpx.HTTPError, ValueError):
                    return False
                seen = (body.get("upstreams") or {}).get(unit_name) or {}
                if seen.get("replicas") == replicas and seen.get("healthy") == replicas:
                    return True
                time.sleep(0.1)
        return False

    def redeploy(
        self,
        unit_name: str,
        version: str | None = None,
        *,
        impl: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Replace every instance of a unit by one of a new version (and, with ``impl``,
        another implementation: ``--impl rust`` swaps the catalog's language).

        Two or more instances: rolling, one at a time (start a new one, wait until healthy,
        publish it and unpublish an old one, let the edges notice, SIGTERM the old one):
        the unit never stops serving. One instance: stop it, start the new version on the
        same port: the outage a single-replica deploy really has."""
        token = self.state.admin_token()
        if impl is not None:
            self._prepare(unit_name, impl)
        with self._transaction() as state:
            arch, records = self._movable_records(state, unit_name)
            unit = self._unit(arch, unit_name)
            old_version = str(records[-1]["version"])
            new_version = version or next_version(old_version)
            old_impl = str(records[-1].get("impl", impls.PYTHON))
            new_impl = impl or old_impl
            old = list(records)
            for record in old:
                record["pending"] = time.time()
        started = time.monotonic()
        if len(old) == 1:
            outage = self._restart_as(
                arch, unit, old[0], new_version, token, impl=new_impl, timeout=timeout
            )
            mode = "restart"
        else:
            for record in old:
                self._replace(
                    arch, unit, record, new_version, token, impl=new_impl, timeout=timeout
                )
            outage = 0.0
            mode = "rolling"
        return {
            "unit": unit_name,
            "from": old_version,
            "to": new_version,
            "impl_from": old_impl,
            "impl_to": new_impl,
            "replicas": len(old),
            "mode": mode,
            "seconds": round(time.monotonic() - started, 2),
            "outage_seconds": round(outage, 2),
        }

    def chaos(self, unit_name: str, /, **toggles: Any) -> list[dict[str, Any]]:
        """Set fault toggles (latency_ms, error_rate, crash_on_checkout) on every running
        instance of a unit; returns each instance's toggles afterwards."""
        unit = unit_named(unit_name)
        if unit.edge:
            raise LabError(
                f"{unit_name} is an edge and has no fault toggles; use catalog, orders or monolith"
            )
        token = self.state.admin_token()
        records = [r for r in self.instances(unit_name) if not r.get("stopped")]
        if not records:
            raise LabError(f"no instance of {unit_name} is running (twinshop start {unit_name})")
        out = []
        with httpx.Client(timeout=5.0) as client:
            for record in records:
                try:
                    response = client.put(
                        record["url"] + "/_chaos",
                        json=toggles,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError as exc:
                    raise LabError(
                        f"{unit_name} at {record['url']} does not answer: {exc}"
                    ) from None
                if response.status_code == 404:
                    raise LabError(
                        f"chaos is disabled in {unit_name} (it was started with TWINSHOP_CHAOS=0)"
                    )
                if response.status_code != 200:
                    raise LabError(
                        f"{unit_name} at {record['url']} refused the toggles: "
                        f"{response.status_code} {response.text[:200]}"
                    )
                out.append({"url": record["url"], **response.json()})
        return out

    # -- the supervisor --------------------------------------------------------------

    def ensure_supervisor(self) -> int:
        """Start ``lab.supervisor`` for this state directory unless one runs; its pid."""
        with self._transaction() as state:
            pid = self._supervisor_pid(state)
            if pid is not None:
                return pid
            cmd = [sys.executable, "-m", "lab.supervisor", "--home", str(self.state.root)]
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            pid = processes.spawn(cmd, env=env, log=self.state.logs / "supervisor.log")
            state["supervisor"] = {"pid": pid, "started": time.time()}
        return pid

    def supervise_once(self, backoff: dict[int, tuple[int, float, float]]) -> list[str]:
        """One round of the supervisor: respawn every instance whose process died while the
        state does not mark it stopped (same port, same version) and re-publish its unit.

        ``backoff`` (port -> failures in a row, not before, spawned at) is the caller's
        memory. An instance that had started is respawned at once; one that keeps dying
        while starting after 0.5, 1, 2 … 10 s (``lab.runtime.restarts``)."""
        if not self.state.state_file.exists():
            raise SupervisorRetired("the state directory is gone")
        messages: list[str] = []
        now = time.time()
        with self._transaction() as state:
            if (state.get("supervisor") or {}).get("pid") != os.getpid():
                raise SupervisorRetired("the state names another supervisor, or none")
            changed: set[tuple[str, str]] = set()
            for arch, unit_name, record in self._records(state):
                port = record["port"]
                if record.get("stopped") or self._pending(record, now):
                    continue
                if processes.alive(record["pid"]):
                    if port in backoff and now - backoff[port][2] > 10:
                        del backoff[port]  # it stayed up: forget its history
                    if record.get("cpu_pid") != record["pid"] and restarts.reached_startup(
                        Path(record["log"]), int(record.get("log_offset", 0))
                    ):
                        self._limit(record)
                    continue
                count, not_before, _ = backoff.get(port, (0, 0.0, 0.0))
                started = restarts.reached_startup(
                    Path(record["log"]), int(record.get("log_offset", 0))
                )
                if now < not_before and not started:
                    continue
                count, delay = restarts.restart_plan(count, started=started)
                unit = self._unit(arch, unit_name)  # type: ignore[arg-type]
                fresh = self._spawn(
                    state, unit, port, token=self.state.admin_token(), version=record["version"],
                    impl=record.get("impl", impls.PYTHON),
                )  # fmt: skip
                how = "was killed after it started" if started else "died while starting"
                messages.append(
                    f"{arch}/{unit_name} on port {port} (pid {record['pid']}, version "
                    f"{record['version']}) {how}; respawned as pid {fresh['pid']}"
                    + (f", next respawn no sooner than {delay:g} s" if delay else "")
                )
                record.update(pid=fresh["pid"], log=fresh["log"], log_offset=fresh["log_offset"])
                record["respawns"] = int(record.get("respawns", 0)) + 1
                backoff[port] = (count, now + delay, now)
                changed.add((arch, unit_name))
            for arch, unit_name in sorted(changed):
                self._publish(state, arch, unit_name)
        return messages

    def _supervisor_pid(self, state: dict[str, Any]) -> int | None:
        pid = (state.get("supervisor") or {}).get("pid")
        if not isinstance(pid, int) or not processes.alive(pid):
            return None
        cmdline = processes.command_line(pid)
        return pid if not cmdline or "lab.supervisor" in cmdline else None

    def _stop_supervisor(self) -> None:
        with self._transaction() as state:
            pid = self._supervisor_pid(state)
            state.pop("supervisor", None)
        if pid is not None:
            processes.stop([pid], grace=5)

    # -- building blocks -------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        """Load the state under the lock, let the caller change it, save it (not on error)."""
        with self.state.lock():
            state = self._load()
            yield state
            self._save(state)

    def _unit_records(self, state: dict[str, Any], unit_name: str) -> tuple[Arch, list[Any]]:
        for arch, body in state["architectures"].items():
            if unit_name in body["units"]:
                return arch, body["units"][unit_name]
        running = sorted(u for body in state["architectures"].values() for u in body["units"])
        raise LabError(
            f"{unit_name!r} is not running here; running units: {', '.join(running) or 'none'}"
        )

    def _movable_records(self, state: dict[str, Any], unit_name: str) -> tuple[Arch, list[Any]]:
        """The unit's records, when no instance is stopped or being moved by another command."""
        arch, records = self._unit_records(state, unit_name)
        if any(r.get("stopped") for r in records):
            raise LabError(f"{unit_name} has stopped instances; run `twinshop start {unit_name}`")
        if any(self._pending(r, time.time()) for r in records):
            raise LabError(f"another command is changing {unit_name} right now; try again")
        return arch, records

    def _unit(self, arch: Arch, unit_name: str) -> Unit:
        return next(u for u in UNITS[arch] if u.name == unit_name)

    @staticmethod
    def _pending(record: dict[str, Any], now: float) -> bool:
        since = record.get("pending")
        return isinstance(since, int | float) and now - since < PENDING_TIMEOUT

    def _find(self, state: dict[str, Any], arch: str, unit: str, port: int) -> dict[str, Any]:
        records = state["architectures"].get(arch, {}).get("units", {}).get(unit, [])
        for record in records:
            if record["port"] == port:
                return record
        raise LabError(f"{unit} on port {port} vanished from the state (did `down` run?)")

    def _settle(self, records: list[dict[str, Any]], *, publish: bool = False) -> None:
        """Healthy now: clear ``pending`` (the supervisor takes over) and publish them."""
        with self._transaction() as state:
            units = set()
            for started in records:
                try:
                    record = self._find(state, started["arch"], started["unit"], started["port"])
                except LabError:
                    continue
                record.pop("pending", None)
                if started.get("cpu_pid") == record["pid"]:
                    record["cpu_pid"] = record["pid"]
                if publish:
                    record["published"] = True
                units.add((started["arch"], started["unit"]))
            for arch, unit in sorted(units):
                self._publish(state, arch, unit)

    def _discard(
        self, arch: str, unit: str, records: list[dict[str, Any]], *, grace: float
    ) -> None:
        """Stop these instances (when still running) and forget them; re-publish the unit."""
        if grace:
            processes.stop([r["pid"] for r in records], grace=grace)
        self.cpu_budget.prune()
        ports = {r["port"] for r in records}
        with self._transaction() as state:
            units = state["architectures"].get(arch, {}).get("units", {})
            if unit in units:
                units[unit] = [r for r in units[unit] if r["port"] not in ports]
                self._publish(state, arch, unit)

    def _replace(
        self,
        arch: Arch,
        unit: Unit,
        old: dict[str, Any],
        version: str,
        token: str,
        *,
        impl: str,
        timeout: float,
    ) -> None:
        """One step of a rolling redeploy: a new instance of ``version`` in, ``old`` out."""
        with self._transaction() as state:
            records = state["architectures"][arch]["units"][unit.name]
            new = self._spawn(state, unit, processes.free_port(self.host), token=token,
                              version=version, impl=impl)  # fmt: skip
            new["published"] = False
            records.append(new)
        try:
            self.wait_healthy([new], timeout=timeout)
        except LabError as exc:
            self._discard(arch, unit.name, [new], grace=3)
            self._settle(self.instances(unit.name))
            raise LabError(
                f"redeploy of {unit.name} stopped: {exc}; the old version still serves"
            ) from None
        with self._transaction() as state:
            fresh = self._find(state, arch, unit.name, new["port"])
            fresh.pop("pending", None)
            fresh["published"] = True
            self._find(state, arch, unit.name, old["port"])["published"] = False
            self._publish(state, arch, unit.name)
        time.sleep(self.drain_seconds)
        processes.stop([old["pid"]], grace=GRACE_SECONDS)
        self._discard(arch, unit.name, [old], grace=0)

    def _restart_as(
        self,
        arch: Arch,
        unit: Unit,
        old: dict[str, Any],
        version: str,
        token: str,
        *,
        impl: str,
        timeout: float,
    ) -> float:
        """Single-instance redeploy: SIGTERM the old process, start ``version`` on the same
        port; returns how long nothing listened there (seconds)."""
        stopped_at = time.monotonic()
        processes.stop([old["pid"]], grace=GRACE_SECONDS)
        with self._transaction() as state:
            record = self._find(state, arch, unit.name, old["port"])
            fresh = self._spawn(state, unit, old["port"], token=token, version=version, impl=impl)
            record.update(pid=fresh["pid"], log=fresh["log"], version=version, impl=impl)
        try:
            self.wait_healthy([record], timeout=timeout)
        finally:
            self._settle([record])
        return time.monotonic() - stopped_at

    def wait_healthy(self, records: list[dict[str, Any]], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = list(records)
        with httpx.Client(timeout=1.0) as client:
            while waiting:
                for record in list(waiting):
                    if not processes.alive(record["pid"]):
                        raise LabError(
                            f"{record['unit']} ({record['arch']}) failed to start; "
                            f"see its log: {record['log']}"
                        )
                    try:
                        if client.get(record["url"] + "/health").status_code == 200:
                            waiting.remove(record)
                            self._limit(record)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(f"{r['unit']} ({r['log']})" for r in waiting)
                    raise LabError(f"not healthy after {timeout:.0f} s: {names}")
                if waiting:
                    time.sleep(0.05)

    def _prepare(self, unit_name: str, impl: str) -> None:
        """Check that ``unit_name`` has ``impl``; build the Rust binary now (not under the
        state lock) when it is needed and missing or stale."""
        impls.check(unit_name, impl)
        if impl == impls.RUST:
            impls.rust_binary(unit_name)

    def _spawn(
        self,
        state: dict[str, Any],
        unit: Unit,
        port: int,
        *,
        token: str,
        version: str,
        impl: str = impls.PYTHON,
    ) -> dict[str, Any]:
        """Start one instance; the record is ``pending`` until someone settles it."""
        url = f"http://{self.host}:{port}"
        log = self.state.logs / f"{unit.arch}-{unit.name}-{port}.log"
        log_offset = restarts.log_size(log)
        if unit.edge:  # its own entry point: uvicorn with the edge's limits (server.py)
            cmd = [
                sys.executable, "-m", "services.gateway",
                "--host", self.host, "--port", str(port), "--timeout-graceful-shutdown", "5",
            ]  # fmt: skip
        else:  # the Python unit under uvicorn, or its Rust twin (lab.impls)
            cmd = impls.command(unit.name, impl, unit.app, host=self.host, port=port)
        extra = (state.get("unit_env") or {}).get(unit.name, {})
        traces_to = state.get("traces_to")
        extra = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": default_traces_to() if traces_to is None else traces_to,
            **extra,
        }
        env = self._env(unit, token=token, version=version, extra=extra)
        pid = processes.spawn(cmd, env=env, log=log)
        self._spawned.append(pid)
        return {
            "cpus": cpus_for(edge=unit.edge, environ=env),
            "arch": unit.arch,
            "unit": unit.name,
            "pid": pid,
            "port": port,
            "url": url,
            "log": str(log),
            "log_offset": log_offset,
            "version": version,
            "impl": impl,
            "pending": time.time(),
        }

    def _env(
        self, unit: Unit, *, token: str, version: str, extra: dict[str, str]
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "TWINSHOP_INSTANCE"}
        env.setdefault("TWINSHOP_CHAOS", "1")
        env.update(
            PYTHONUNBUFFERED="1",
            TWINSHOP_UNIT=unit.name,
            TWINSHOP_VERSION=version,
            TWINSHOP_ADMIN_TOKEN=token,
        )
        if unit.database:
            db = self.state.data / f"{unit.arch}-{unit.name}.db"
            env["TWINSHOP_DATABASE_URL"] = f"sqlite:///{db}"
        for needed in unit.needs:
            spec = f"file://{self.state.replicas_file(unit.arch, needed)}"
            env[f"TWINSHOP_{needed.upper()}_URL"] = spec
        if unit.edge:
            upstreams = sorted(set(unit.routes.values()))
            env["TWINSHOP_ROUTES"] = json.dumps(unit.routes)
            env["TWINSHOP_UPSTREAMS"] = json.dumps(
                {u: f"file://{self.state.replicas_file(unit.arch, u)}" for u in upstreams}
            )
        env.update(extra)
        env.update(self.unit_env.get(unit.name, {}))
        return env

    def _publish(self, state: dict[str, Any], arch: str, unit: str) -> None:
        """Rewrite a unit's discovery file from the state (call it under the lock)."""
        records = state["architectures"][arch]["units"].get(unit, [])
        urls = [r["url"] for r in records if not r.get("stopped") and r.get("published", True)]
        self.state.write_replicas(arch, unit, urls)

    def _probe(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"instance": None, "url": record["url"]}
        out.update(health.probe(record["url"]))
        out["impl"] = out.get("impl") or record.get("impl", impls.PYTHON)
        out["cpus"] = self.cpu_budget.applied(record["pid"], _group(record))
        return out

    def _limit(self, record: dict[str, Any]) -> None:
        """Move a started instance into its own CPU group (its compose budget)."""
        cpus = float(record.get("cpus") or cpus_for(edge=unit_named(record["unit"]).edge))
        if self.cpu_budget.limit(record["pid"], _group(record), cpus):
            record["cpu_pid"] = record["pid"]

    def _running(self, state: dict[str, Any], arch: str) -> bool:
        body = state["architectures"].get(arch)
        if not body:
            return False
        return any(processes.alive(r["pid"]) for rs in body["units"].values() for r in rs)

    def _records(self, state: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (arch, unit, record)
            for arch, body in state["architectures"].items()
            for unit, records in body["units"].items()
            for record in records
        ]

    def _load(self) -> dict[str, Any]:
        state = self.state.load()
        state.setdefault("runtime", self.name)
        state.setdefault("architectures", {})
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.state.save(state)


def _group(record: dict[str, Any]) -> str:
    """An instance's CPU group: one per arch, unit and port (the port names an instance)."""
    return f"{record['arch']}-{record['unit']}-{record['port']}"
