"""The process runtime: every unit a local uvicorn process, SQLite in the state directory.

No Docker needed. Replicas find each other through small JSON files in
``$TWINSHOP_HOME/upstreams`` that this runtime rewrites whenever it starts or stops an
instance; the edges and the orders service re-read them every second.

Four modules, one concept each:

- ``process_state``: ``state.json`` (one record per instance) under the lock, and the
  discovery files written from it;
- ``process_launcher``: starting one instance (command, environment, log, CPU group) and
  waiting until instances are healthy;
- ``process_supervision``: starting ``lab.supervisor`` and what one of its rounds does;
- this module: the operations (up, down, status, kill, start, crash, scale, redeploy, chaos),
  each a sequence of steps over the other three.

Why this module stays above 300 lines: it is one class, the ``Runtime`` protocol's verbs for
local processes. Each verb is a short sequence of state transactions, spawns and waits that
reads best next to the others (scale and redeploy share the drain and discard steps);
splitting the verbs across files would scatter one story without removing any coupling.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from lab import health, impls
from lab.errors import LabError
from lab.runtime import processes
from lab.runtime.base import Redeployed, next_version
from lab.runtime.cpu_budget import CpuBudget
from lab.runtime.process_launcher import DASHBOARD_PORT, Launcher, default_traces_to
from lab.runtime.process_state import (
    PENDING_TIMEOUT,
    Record,
    StateStore,
    all_records,
    find,
    is_running,
    movable_records,
    unit_of,
    unit_records,
)
from lab.runtime.process_supervision import (
    Backoff,
    SupervisorRetired,
    ensure_supervisor,
    stop_supervisor,
    supervise_once,
)
from lab.state import StateDir
from lab.topology import EDGE_OF, UNITS, Arch, Unit, behind_an_edge, unit_named

__all__ = [
    "DASHBOARD_PORT",
    "DEFAULT_EDGE_PORTS",
    "DISCOVERY_INTERVAL",
    "DRAIN_SECONDS",
    "GRACE_SECONDS",
    "PENDING_TIMEOUT",
    "ProcessRuntime",
    "SupervisorRetired",
    "default_traces_to",
    "next_version",
]

DEFAULT_EDGE_PORTS: dict[Arch, int] = {"micro": 8080, "mono": 8081}
DISCOVERY_INTERVAL = 1.0
"""How often the edges and orders re-read the discovery files (seconds)."""
DRAIN_SECONDS = 1.5
"""How long an unpublished replica keeps running: more than one discovery interval, so
that no new request reaches it when it gets SIGTERM."""
GRACE_SECONDS = 10.0
"""SIGTERM, then this long for in-flight requests (uvicorn's own limit is 5 s), then SIGKILL."""


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
    store: StateStore = field(init=False, repr=False)
    launcher: Launcher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.store = StateStore(self.state, self.name)
        self.launcher = Launcher(self.state, host=self.host, unit_env=self.unit_env)

    @property
    def cpu_budget(self) -> CpuBudget:
        """Where each instance's CPU quota lives (``lab.runtime.cpu_budget``), or why none."""
        return self.launcher.cpu_budget

    # -- the CLI's verbs -------------------------------------------------------------

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 30.0) -> dict[Arch, str]:
        """Start every unit of ``arches`` and return once all are healthy."""
        self.state.ensure()
        token = self.state.admin_token()
        for unit_name, impl in self.impl_of.items():
            self.launcher.prepare(unit_name, impl)
        started: list[Record] = []
        with self.store.transaction() as state:
            for arch in arches:
                if is_running(state, arch):
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
                    record = self.launcher.spawn(
                        state, unit, port, token=token, version=self.version, impl=impl
                    )
                    state["architectures"][arch]["units"][unit.name] = [record]
                    started.append(record)
                for unit in UNITS[arch]:
                    if not unit.edge:
                        self.store.publish(state, arch, unit.name)
        try:
            self.wait_healthy(started, timeout=timeout)
        except LabError:
            with self.store.transaction() as state:
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
        stop_supervisor(self.store)
        with self.store.transaction() as state:
            pids = [r["pid"] for _, _, r in all_records(state)]
            processes.stop(pids, grace=GRACE_SECONDS)
            state["architectures"] = {}
        # Anything this object started that the state no longer names (replaced instances).
        processes.stop([pid for pid in self.launcher.spawned if processes.alive(pid)], grace=2)
        self.launcher.spawned.clear()
        self.cpu_budget.prune()
        return len(pids)

    def reset(self) -> tuple[int, str]:
        """``down``, then delete the databases, logs, discovery files and the state file;
        the admin token stays."""
        stopped = self.down()
        for folder in (self.state.data, self.state.logs, self.state.upstreams):
            shutil.rmtree(folder, ignore_errors=True)
        self.state.state_file.unlink(missing_ok=True)
        return stopped, f"{self.state.root} (databases, logs, versions)"

    def where(self) -> str:
        return f"state in {self.state.root}"

    def logs_hint(self) -> str:
        return f"state and logs in {self.state.root}"

    def side_services(self) -> dict[str, str]:
        return {}  # `twinshop dashboard` and `twinshop load` run on demand

    def status(self) -> dict[str, Any]:
        """The shape of ``twinshop status --json`` (see README)."""
        state = self.store.load()
        records = list(all_records(state))
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
        with self.store.transaction() as state:
            arch, records = unit_records(state, unit_name)
            running = [r for r in records if not r.get("stopped")]
            for record in running:
                record["stopped"] = True
                record.pop("pending", None)
            self.store.publish(state, arch, unit_name)
            processes.stop([r["pid"] for r in running], kill=True)
        return len(running)

    def start(self, unit_name: str, *, timeout: float = 30.0) -> int:
        """Start the stopped instances of a unit again, on the same ports."""
        token = self.state.admin_token()
        restarted: list[Record] = []
        with self.store.transaction() as state:
            arch, records = unit_records(state, unit_name)
            unit = unit_of(arch, unit_name)
            for i, record in enumerate(records):
                if record.get("stopped") or not processes.alive(record["pid"]):
                    fresh = self.launcher.spawn(
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
        rss = (processes.rss_kb(record["pid"]) for record in self.instances(unit_name))
        total = sum(kb for kb in rss if kb is not None) / 1024
        return round(total, 1)

    def instances(self, unit_name: str) -> list[Record]:
        """What the state says about each instance of a unit (url, pid, port, log)."""
        return unit_records(self.store.load(), unit_name)[1]

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
            self.launcher.prepare(unit_name, impl)
        token = self.state.admin_token()
        added: list[Record] = []
        removed: list[Record] = []
        with self.store.transaction() as state:
            arch, records = movable_records(state, unit_name, time.time())
            before = len(records)
            version = records[-1]["version"]
            impl = impl or records[-1].get("impl", impls.PYTHON)
            for _ in range(replicas - before):
                port = processes.free_port(self.host)
                record = self.launcher.spawn(
                    state, unit, port, token=token, version=version, impl=impl
                )
                record["published"] = False
                records.append(record)
                added.append(record)
            for record in records[replicas:]:  # the newest go first
                record["published"] = False
                record["pending"] = time.time()
                removed.append(record)
            self.store.publish(state, arch, unit_name)
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
        instances of it, its breaker closed (``lab.health``; the edge re-reads the discovery
        file every second); False on timeout, True at once when no edge routes to it."""
        entry = self.store.load()["architectures"].get(arch, {}).get("entry")
        if not entry or not behind_an_edge(unit_name):
            return True
        return health.wait_edge_routes(
            entry, unit_name, replicas=replicas, exact=True, timeout=timeout
        )

    def redeploy(
        self,
        unit_name: str,
        version: str | None = None,
        *,
        impl: str | None = None,
        timeout: float = 30.0,
    ) -> Redeployed:
        """Replace every instance of a unit by one of a new version (and, with ``impl``,
        another implementation: ``--impl rust`` swaps the catalog's language).

        Two or more instances: rolling, one at a time (start a new one, wait until healthy,
        publish it and unpublish an old one, let the edges notice, SIGTERM the old one):
        the unit never stops serving. One instance: stop it, start the new version on the
        same port: the outage a single-replica deploy really has."""
        token = self.state.admin_token()
        if impl is not None:
            self.launcher.prepare(unit_name, impl)
        with self.store.transaction() as state:
            arch, records = movable_records(state, unit_name, time.time())
            unit = unit_of(arch, unit_name)
            old_version = str(records[-1]["version"])
            new_version = version or next_version(old_version)
            old_impl = str(records[-1].get("impl", impls.PYTHON))
            new_impl = impl or old_impl
            old = list(records)
            for record in old:
                record["pending"] = time.time()
        started = time.monotonic()
        mode: Literal["restart", "rolling"]
        if len(old) == 1:
            outage = self._restart_as(
                arch, unit, old[0], new_version, token, impl=new_impl, timeout=timeout
            )
            self.wait_edge_routes(arch, unit_name, 1)  # after the outage, its breaker too
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

    def chaos(self, unit_name: str, /, **toggles: Any) -> list[Record]:
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

    # -- building blocks -------------------------------------------------------------

    def wait_healthy(self, records: list[Record], *, timeout: float) -> None:
        self.launcher.wait_healthy(records, timeout=timeout)

    # -- the supervisor (lab.runtime.process_supervision) ----------------------------

    def ensure_supervisor(self) -> int:
        """Start ``lab.supervisor`` for this state directory unless one runs; its pid."""
        return ensure_supervisor(self.store)

    def supervise_once(self, backoff: Backoff) -> list[str]:
        """One round of the supervisor (``process_supervision.supervise_once``)."""
        return supervise_once(self.store, self.launcher, backoff)

    # -- steps the operations share --------------------------------------------------

    def _settle(self, records: list[Record], *, publish: bool = False) -> None:
        """Healthy now: clear ``pending`` (the supervisor takes over) and publish them."""
        with self.store.transaction() as state:
            units = set()
            for started in records:
                try:
                    record = find(state, started["arch"], started["unit"], started["port"])
                except LabError:
                    continue
                record.pop("pending", None)
                if started.get("cpu_pid") == record["pid"]:
                    record["cpu_pid"] = record["pid"]
                if publish:
                    record["published"] = True
                units.add((started["arch"], started["unit"]))
            for arch, unit in sorted(units):
                self.store.publish(state, arch, unit)

    def _discard(self, arch: str, unit: str, records: list[Record], *, grace: float) -> None:
        """Stop these instances (when still running) and forget them; re-publish the unit."""
        if grace:
            processes.stop([r["pid"] for r in records], grace=grace)
        self.cpu_budget.prune()
        ports = {r["port"] for r in records}
        with self.store.transaction() as state:
            units = state["architectures"].get(arch, {}).get("units", {})
            if unit in units:
                units[unit] = [r for r in units[unit] if r["port"] not in ports]
                self.store.publish(state, arch, unit)

    def _replace(
        self,
        arch: Arch,
        unit: Unit,
        old: Record,
        version: str,
        token: str,
        *,
        impl: str,
        timeout: float,
    ) -> None:
        """One step of a rolling redeploy: a new instance of ``version`` in, ``old`` out."""
        with self.store.transaction() as state:
            records = state["architectures"][arch]["units"][unit.name]
            new = self.launcher.spawn(state, unit, processes.free_port(self.host), token=token,
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
        with self.store.transaction() as state:
            fresh = find(state, arch, unit.name, new["port"])
            fresh.pop("pending", None)
            fresh["published"] = True
            find(state, arch, unit.name, old["port"])["published"] = False
            self.store.publish(state, arch, unit.name)
        time.sleep(self.drain_seconds)
        processes.stop([old["pid"]], grace=GRACE_SECONDS)
        self._discard(arch, unit.name, [old], grace=0)

    def _restart_as(
        self,
        arch: Arch,
        unit: Unit,
        old: Record,
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
        with self.store.transaction() as state:
            record = find(state, arch, unit.name, old["port"])
            fresh = self.launcher.spawn(
                state, unit, old["port"], token=token, version=version, impl=impl
            )
            record.update(pid=fresh["pid"], log=fresh["log"], version=version, impl=impl)
        try:
            self.wait_healthy([record], timeout=timeout)
        finally:
            self._settle([record])
        return time.monotonic() - stopped_at

    def _probe(self, record: Record) -> dict[str, Any]:
        out: dict[str, Any] = {"instance": None, "url": record["url"]}
        out.update(health.probe(record["url"]))
        out["impl"] = out.get("impl") or record.get("impl", impls.PYTHON)
        out["cpus"] = self.launcher.applied_cpus(record)
        return out
