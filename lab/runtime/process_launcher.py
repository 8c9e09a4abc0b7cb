"""Starting one instance of a unit as a local process: its command (uvicorn, the edge's own
entry point, or the Rust twin), its environment (database, discovery files, routes, admin
token), its log, its CPU group; and waiting until instances answer ``/health``.

The launcher never decides *which* instances run: the operations (``lab.runtime.process``)
and the supervisor's rounds (``lab.runtime.process_supervision``) do, and record what it
starts in the state (``lab.runtime.process_state``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping

import httpx

from lab import impls
from lab.errors import LabError
from lab.runtime import processes, restarts
from lab.runtime.cpu_budget import CpuBudget, cpus_for
from lab.runtime.process_state import Record, State
from lab.state import StateDir
from lab.topology import Unit, unit_named

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


class Launcher:
    """Spawns instances for one state directory; remembers every pid it started."""

    def __init__(self, state: StateDir, *, host: str, unit_env: dict[str, dict[str, str]]) -> None:
        self.dir = state
        self.host = host
        self.unit_env = unit_env
        """Extra environment per unit name, over what the state's ``unit_env`` says."""
        self.spawned: list[int] = []
        """Every process started here, so that ``down`` leaves none behind."""
        self._cpu: CpuBudget | None = None

    @property
    def cpu_budget(self) -> CpuBudget:
        """Where each instance's CPU quota lives (``lab.runtime.cpu_budget``), or why none."""
        if self._cpu is None:
            self._cpu = CpuBudget.detect(self.dir.root)
        return self._cpu

    def prepare(self, unit_name: str, impl: str) -> None:
        """Check that ``unit_name`` has ``impl``; build the Rust binary now (not under the
        state lock) when it is needed and missing or stale."""
        impls.check(unit_name, impl)
        if impl == impls.RUST:
            impls.rust_binary(unit_name)

    def spawn(
        self,
        state: State,
        unit: Unit,
        port: int,
        *,
        token: str,
        version: str,
        impl: str = impls.PYTHON,
    ) -> Record:
        """Start one instance; the record is ``pending`` until someone settles it."""
        url = f"http://{self.host}:{port}"
        log = self.dir.logs / f"{unit.arch}-{unit.name}-{port}.log"
        log_offset = restarts.log_size(log)
        if unit.edge:  # its own entry point: uvicorn with the edge's limits (server.py)
            cmd = [
                sys.executable, "-m", "services.gateway",
                "--host", self.host, "--port", str(port), "--timeout-graceful-shutdown", "5",
            ]  # fmt: skip
        else:  # the Python unit under uvicorn, or its Rust twin (lab.impls)
            cmd = impls.command(unit.name, impl, unit.app, host=self.host, port=port)
        traces_to = state.get("traces_to")
        extra = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": default_traces_to() if traces_to is None else traces_to,
            **(state.get("unit_env") or {}).get(unit.name, {}),
        }
        env = self.environment(unit, token=token, version=version, extra=extra)
        pid = processes.spawn(cmd, env=env, log=log)
        self.spawned.append(pid)
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

    def environment(
        self, unit: Unit, *, token: str, version: str, extra: dict[str, str]
    ) -> dict[str, str]:
        """What an instance of ``unit`` finds in its environment."""
        env = {k: v for k, v in os.environ.items() if k != "TWINSHOP_INSTANCE"}
        env.setdefault("TWINSHOP_CHAOS", "1")
        env.update(
            PYTHONUNBUFFERED="1",
            TWINSHOP_UNIT=unit.name,
            TWINSHOP_VERSION=version,
            TWINSHOP_ADMIN_TOKEN=token,
        )
        if unit.database:
            db = self.dir.data / f"{unit.arch}-{unit.name}.db"
            env["TWINSHOP_DATABASE_URL"] = f"sqlite:///{db}"
        for needed in unit.needs:
            spec = f"file://{self.dir.replicas_file(unit.arch, needed)}"
            env[f"TWINSHOP_{needed.upper()}_URL"] = spec
        if unit.edge:
            upstreams = sorted(set(unit.routes.values()))
            env["TWINSHOP_ROUTES"] = json.dumps(unit.routes)
            env["TWINSHOP_UPSTREAMS"] = json.dumps(
                {u: f"file://{self.dir.replicas_file(unit.arch, u)}" for u in upstreams}
            )
        env.update(extra)
        env.update(self.unit_env.get(unit.name, {}))
        return env

    def wait_healthy(self, records: list[Record], *, timeout: float) -> None:
        """Until every instance answers 200 on ``/health`` (each then gets its CPU limit);
        LabError when one exits or ``timeout`` passes."""
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
                            self.limit(record)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(f"{r['unit']} ({r['log']})" for r in waiting)
                    raise LabError(f"not healthy after {timeout:.0f} s: {names}")
                if waiting:
                    time.sleep(0.05)

    def limit(self, record: Record) -> None:
        """Move a started instance into its own CPU group (its compose budget)."""
        cpus = float(record.get("cpus") or cpus_for(edge=unit_named(record["unit"]).edge))
        if self.cpu_budget.limit(record["pid"], cpu_group(record), cpus):
            record["cpu_pid"] = record["pid"]

    def applied_cpus(self, record: Record) -> float | None:
        """The CPU quota an instance actually runs under (None without one)."""
        return self.cpu_budget.applied(record["pid"], cpu_group(record))


def cpu_group(record: Record) -> str:
    """An instance's CPU group: one per arch, unit and port (the port names an instance)."""
    return f"{record['arch']}-{record['unit']}-{record['port']}"
