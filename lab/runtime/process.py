"""The process runtime: every unit a local uvicorn process, SQLite in the state directory.

No Docker needed. Replicas find each other through small JSON files in
``$TWINSHOP_HOME/upstreams`` that this runtime rewrites whenever it starts or stops an
instance; the edges and the orders service re-read them every second.
"""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from lab.errors import LabError
from lab.runtime import processes
from lab.state import StateDir
from lab.topology import EDGE_OF, UNITS, Arch, Unit

DEFAULT_EDGE_PORTS: dict[Arch, int] = {"micro": 8080, "mono": 8081}


@dataclass
class ProcessRuntime:
    state: StateDir
    host: str = "127.0.0.1"
    edge_ports: dict[Arch, int] = field(default_factory=lambda: dict(DEFAULT_EDGE_PORTS))
    unit_env: dict[str, dict[str, str]] = field(default_factory=dict)
    """Extra environment per unit name (tests use it for short timeouts)."""
    version: str = "1"
    name: str = "process"

    # -- the CLI's verbs -------------------------------------------------------------

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 30.0) -> dict[Arch, str]:
        """Start every unit of ``arches`` and return once all are healthy."""
        state = self._load()
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
                    f"port {port} on {self.host} is in use, and the {edge} of {arch} needs it; "
                    f"stop what uses it or pick another port (twinshop up --{edge}-port N)"
                )
        self.state.ensure()
        token = self.state.admin_token()
        started: list[dict[str, Any]] = []
        for arch in arches:
            entry = f"http://{self.host}:{self.edge_ports[arch]}"
            state["architectures"][arch] = {"entry": entry, "units": {}}
            for unit in UNITS[arch]:
                port = self.edge_ports[arch] if unit.edge else processes.free_port(self.host)
                record = self._spawn(unit, port, token=token, version=self.version)
                state["architectures"][arch]["units"][unit.name] = [record]
                started.append(record)
            for unit in UNITS[arch]:
                if not unit.edge:
                    self._publish(state, arch, unit.name)
        self._save(state)
        try:
            self.wait_healthy(started, timeout=timeout)
        except LabError:
            processes.stop([r["pid"] for r in started], grace=3)
            for arch in arches:
                state["architectures"].pop(arch, None)
            self._save(state)
            raise
        return {arch: state["architectures"][arch]["entry"] for arch in arches}

    def down(self) -> int:
        """Stop every process this state directory knows of; returns how many."""
        state = self._load()
        pids = [r["pid"] for _, _, r in self._records(state)]
        processes.stop(pids)
        state["architectures"] = {}
        self._save(state)
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
        """SIGKILL every instance of a unit, like a crash; it stays down until ``start``."""
        state = self._load()
        arch, records = self._unit_records(state, unit_name)
        running = [r for r in records if not r.get("stopped")]
        processes.stop([r["pid"] for r in running], kill=True)
        for record in running:
            record["stopped"] = True
        self._publish(state, arch, unit_name)
        self._save(state)
        return len(running)

    def start(self, unit_name: str, *, timeout: float = 30.0) -> int:
        """Start the stopped instances of a unit again, on the same ports."""
        state = self._load()
        arch, records = self._unit_records(state, unit_name)
        unit = next(u for u in UNITS[arch] if u.name == unit_name)
        token = self.state.admin_token()
        restarted = []
        for i, record in enumerate(records):
            if record.get("stopped") or not processes.alive(record["pid"]):
                fresh = self._spawn(unit, record["port"], token=token, version=record["version"])
                records[i] = fresh
                restarted.append(fresh)
        self._save(state)
        self.wait_healthy(restarted, timeout=timeout)
        self._publish(state, arch, unit_name)
        return len(restarted)

    def instances(self, unit_name: str) -> list[dict[str, Any]]:
        """What the state says about each instance of a unit (url, pid, port, log)."""
        return self._unit_records(self._load(), unit_name)[1]

    # -- building blocks (the lab's kill/scale/redeploy use these too) ----------------

    def _unit_records(self, state: dict[str, Any], unit_name: str) -> tuple[Arch, list[Any]]:
        for arch, body in state["architectures"].items():
            if unit_name in body["units"]:
                return arch, body["units"][unit_name]
        running = sorted(u for body in state["architectures"].values() for u in body["units"])
        raise LabError(
            f"{unit_name!r} is not running here; running units: {', '.join(running) or 'none'}"
        )

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
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(f"{r['unit']} ({r['log']})" for r in waiting)
                    raise LabError(f"not healthy after {timeout:.0f} s: {names}")
                if waiting:
                    time.sleep(0.05)

    def _spawn(self, unit: Unit, port: int, *, token: str, version: str) -> dict[str, Any]:
        url = f"http://{self.host}:{port}"
        log = self.state.logs / f"{unit.arch}-{unit.name}-{port}.log"
        cmd = [
            sys.executable, "-m", "uvicorn", unit.app,
            "--host", self.host, "--port", str(port),
            "--no-access-log", "--timeout-graceful-shutdown", "5",
        ]  # fmt: skip
        pid = processes.spawn(cmd, env=self._env(unit, token=token, version=version), log=log)
        return {
            "arch": unit.arch,
            "unit": unit.name,
            "pid": pid,
            "port": port,
            "url": url,
            "log": str(log),
            "version": version,
        }

    def _env(self, unit: Unit, *, token: str, version: str) -> dict[str, str]:
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
        env.update(self.unit_env.get(unit.name, {}))
        return env

    def _publish(self, state: dict[str, Any], arch: str, unit: str) -> None:
        records = state["architectures"][arch]["units"].get(unit, [])
        urls = [r["url"] for r in records if not r.get("stopped")]
        self.state.write_replicas(arch, unit, urls)

    def _probe(self, record: dict[str, Any]) -> dict[str, Any]:
        out = {"instance": None, "url": record["url"], "healthy": False, "version": None}
        try:
            response = httpx.get(record["url"] + "/health", timeout=1.0)
            body = response.json()
            out.update(
                instance=body.get("instance"),
                healthy=response.status_code == 200,
                version=body.get("version"),
            )
        except (httpx.HTTPError, ValueError):
            pass
        return out

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
