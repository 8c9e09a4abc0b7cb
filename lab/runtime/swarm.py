"""The swarm runtime: the same images as a Docker Swarm stack (``docker stack deploy``), from
``docker-compose.yml`` turned into a stack file by ``lab.runtime.swarm_stack``.

Semantics, matching the other runtimes:

- ``up`` makes this engine a single-node swarm when it is in none (and marks the node, so
  that ``down`` leaves the swarm again, and only then, once no service is left in it);
- ``kill`` scales a unit to 0 (swarm would replace a killed task) after SIGKILLing its
  containers, and remembers the count in a label of the service; ``start`` scales it back;
- a crash (``crash``, ``chaos --crash-at``) comes back by itself: restart policy ``any``;
- ``scale`` returns once the edge in front routes to every new task;
- ``redeploy`` is swarm's rolling update (``start-first``, one task at a time, rollback on
  failure) with 2+ replicas, and ``stop-first`` with one: a real outage, as elsewhere;
- ``chaos``, ``crash`` and the admin routes go through ``docker exec`` into the task
  containers on this engine (the units publish no port).

The secrets' values live in the state directory (``.twinshop/swarm/<stack>/``, mode 0600),
beside nothing else: they are created in the swarm from there at each ``up``, so that a
database volume that outlives a swarm still matches its password; ``down --volumes``
deletes both.

Why this module stays above 300 lines: it is one adapter, the ``Runtime`` protocol over
``docker stack`` and ``docker service``, and every verb leans on the same few readers (the
stack's services, their tasks, labels, the entry). The stack file itself is already apart
(``lab.runtime.swarm_stack``); the rest is only exercised by the swarm suite, which needs a
Docker engine, so it is kept in one piece rather than split without that suite to prove it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lab import impls
from lab.compose import DEFAULT_PROJECT, compose_env, project_root
from lab.errors import LabError
from lab.health import wait_edge_routes
from lab.runtime.base import Redeployed, next_version
from lab.runtime.container_admin import exec_admin
from lab.runtime.docker import DATABASES, _client
from lab.runtime.swarm_stack import interpolate, stack_file
from lab.state import StateDir
from lab.topology import EDGE_OF, UNITS, Arch, behind_an_edge, unit_named

STACK_LABEL = "com.docker.stack.namespace"
SERVICE_LABEL = "com.docker.swarm.service.name"
KILLED_LABEL = "twinshop.killed-replicas"
"""On a killed unit's service: how many replicas ``start`` brings back."""
CREATED_LABEL = "twinshop.swarm-created"
"""On the node: ``up`` made this swarm, so ``down`` may leave it."""
FAILED_STATES = {"failed", "rejected", "orphaned"}

READ_TOKEN = "import os; print(open(os.environ['TWINSHOP_ADMIN_TOKEN_FILE']).read().strip())"


def docker(*args: str, stdin: str | None = None, timeout: float = 300) -> str:
    """Run one docker CLI command; a failure becomes a ``LabError`` with its last words."""
    try:
        result = subprocess.run(
            ["docker", *args], input=stdin, capture_output=True, text=True, timeout=timeout,
            check=False,
        )  # fmt: skip
    except FileNotFoundError:
        raise LabError(
            "the docker CLI is not installed (Debian: apt-get install docker.io)"
        ) from None
    if result.returncode != 0:
        detail = " / ".join(result.stderr.strip().splitlines()[-3:])
        raise LabError(f"`docker {' '.join(args[:3])}…` failed: {detail}")
    return result.stdout


def swarm_state() -> str:
    """``inactive``, ``active``, ``pending``, ``error`` or ``locked``."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


@dataclass
class SwarmRuntime:
    state: StateDir
    stack: str = DEFAULT_PROJECT
    host: str = "127.0.0.1"
    edge_ports: dict[Arch, int] = field(default_factory=lambda: {"micro": 8080, "mono": 8081})
    locust_port: int = 8089
    dashboard_port: int = 8090
    advertise_addr: str = "127.0.0.1"
    publish: str = "host"
    """``host``: each edge's port on the node that runs it; ``ingress``: the routing mesh."""
    edges_on_managers: bool = False
    """Run what publishes a port on a manager (stable entry addresses with ``host``)."""
    name: str = "swarm"

    # -- the CLI's verbs -------------------------------------------------------------

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 240.0) -> dict[Arch, str]:
        """Deploy the services of ``arches`` that are not deployed yet (those that are are
        left alone: their replicas and versions stay), then wait until healthy."""
        self._ensure_swarm()
        names = [s for arch in arches for s in self._services(arch)]
        if set(arches) == {"micro", "mono"}:
            names += ["locust", "dashboard"]
        new = [n for n in names if n not in self._services_by_name()]
        if new:
            stack, needed = stack_file(
                self._compose(),
                new,
                stack=self.stack,
                root=project_root(),
                publish=self.publish,
                edges_on_managers=self.edges_on_managers,
            )
            _pin_local_images(stack)
            self._create_secrets(needed)
            self.stack_path.parent.mkdir(parents=True, exist_ok=True)
            self.stack_path.write_text(yaml.safe_dump(stack, sort_keys=False))
            docker(
                "stack", "deploy", "--resolve-image", "never", "--prune=false",
                "-c", str(self.stack_path), self.stack,
            )  # fmt: skip
        self.wait_healthy([n for n in names if n != "locust"], timeout=timeout)
        for arch in arches:
            self._wait_entry(arch, timeout=60)
            for unit in UNITS[arch]:
                if not unit.edge:
                    self.wait_edges_see(unit.name)
        return {arch: self._entry(arch) for arch in arches}

    @property
    def dashboard(self) -> str:
        """The stack's own dashboard (a service; up with both architectures)."""
        return f"http://{self.host}:{self.dashboard_port}"

    def side_services(self) -> dict[str, str]:
        return {
            "live dashboard": self.dashboard,
            "locust": f"http://{self.host}:{self.locust_port}",
        }

    def where(self) -> str:
        return f"swarm stack {self.stack}"

    def logs_hint(self) -> str:
        return f"logs: docker service logs {self.stack}_UNIT"

    def reset(self) -> tuple[int, str]:
        return self.down(volumes=True), f"{self.where()} (services, volumes and secrets)"

    @property
    def stack_path(self) -> Path:
        """The stack file ``up`` deployed last (read it to see what swarm runs)."""
        return self.state.root / "swarm" / self.stack / "stack.yml"

    def down(self, *, volumes: bool = False) -> int:
        """Remove the stack (tasks stop gracefully), wait until its containers and networks
        are gone; ``volumes``: also its volumes and secrets. Leaves the swarm if ``up``
        made it and nothing else runs in it."""
        running = 0
        if swarm_state() == "active":
            services = self._services_by_name()
            running = sum(len(self._tasks(s)) for s in services.values())
            if services:
                docker("stack", "rm", self.stack)
            self._wait_gone(timeout=120)
            if volumes:
                labelled = {"label": f"twinshop.stack={self.stack}"}
                for secret in _client().secrets.list(filters=labelled):
                    secret.remove()
            self._leave_if_ours()
        if volumes:  # a swarm left earlier leaves its volumes on the node
            for volume in _client().volumes.list(filters={"label": f"{STACK_LABEL}={self.stack}"}):
                volume.remove(force=True)
            for path in self.stack_path.parent.glob("*"):
                path.unlink()
        return running

    def status(self) -> dict[str, Any]:
        services = self._services_by_name() if swarm_state() == "active" else {}
        out: dict[str, Any] = {"runtime": self.name, "architectures": {}}
        for arch, units in UNITS.items():
            if not any(u.name in services for u in units):
                continue
            body: dict[str, Any] = {"entry": self._entry(arch), "units": {}}
            for unit in units:
                service = services.get(unit.name)
                body["units"][unit.name] = self._describe(unit.name, service) if service else []
            out["architectures"][arch] = body
        return out

    def kill(self, unit: str) -> int:
        """Scale the unit to 0 (remembering how many it had), SIGKILL its containers at
        once; it stays down until ``start``."""
        service = self._service(unit)
        replicas = _replicas(service)
        if replicas == 0:
            return 0
        docker(
            "service", "update", "--detach", "--label-add", f"{KILLED_LABEL}={replicas}",
            "--replicas", "0", service.name,
        )  # fmt: skip
        for container in self._containers(unit):
            with contextlib.suppress(Exception):  # already gone: swarm was quicker
                container.kill()
        deadline = time.monotonic() + 60
        while self._tasks(self._service(unit)) and time.monotonic() < deadline:
            time.sleep(0.5)
        return replicas

    def start(self, unit: str, *, timeout: float = 120.0) -> int:
        service = self._service(unit)
        labels = service.attrs["Spec"].get("Labels") or {}
        if KILLED_LABEL not in labels and _replicas(service) > 0:
            return 0
        replicas = int(labels.get(KILLED_LABEL, 1))
        docker(
            "service", "update", "--detach", "--label-rm", KILLED_LABEL,
            "--replicas", str(replicas), service.name,
        )  # fmt: skip
        self.wait_healthy([unit], timeout=timeout)
        self.wait_edges_see(unit, replicas=replicas)
        return replicas

    def crash(self, unit: str) -> str:
        """SIGKILL one task's container; the restart policy replaces it."""
        container = random.choice(self._containers(unit, required=True))
        container.kill()
        return f"{unit} task container {container.name}"

    def scale(self, unit: str, replicas: int, *, timeout: float = 120.0) -> tuple[int, int]:
        """Run ``replicas`` tasks; returns once all are healthy and the edge routes to them.
        Swarm picks the tasks to remove and stops them gracefully (SIGTERM, then
        ``stop_grace_period``); the edge retries an idempotent request elsewhere."""
        if unit_named(unit).edge:
            arch = unit_named(unit).arch
            behind = ", ".join(u.name for u in UNITS[arch] if not u.edge)
            raise LabError(
                f"{unit} is an edge: it owns the published port of {arch} and cannot be "
                f"scaled; use what is behind it ({behind})"
            )
        if replicas < 1:
            raise LabError(f"scale {unit} to 1 or more (to stop it: twinshop kill)")
        service = self._service(unit)
        before = _replicas(service)
        docker("service", "scale", "--detach", f"{service.name}={replicas}")
        self.wait_healthy([unit], timeout=timeout)
        self.wait_edges_see(unit, replicas=replicas)
        return before, replicas

    def redeploy(
        self,
        unit: str,
        version: str | None = None,
        *,
        impl: str | None = None,
        timeout: float = 240.0,
    ) -> Redeployed:
        """A new ``TWINSHOP_VERSION`` through swarm's rolling update: ``start-first`` with
        2+ replicas (a new task is healthy before an old one stops; no request fails),
        ``stop-first`` with one (the outage a single replica really has, reported as the
        time until the new task is healthy: at most that long unserved). A new task that
        does not become healthy rolls the service back, and this raises. ``impl`` (the
        catalog: python or rust) swaps the image too (twinshop/catalog-rs)."""
        unit_named(unit)
        service = self._service(unit)
        replicas = _replicas(service)
        old_version = _env(service).get("TWINSHOP_VERSION", "1")
        new_version = version or next_version(old_version)
        old_impl = _impl(service)
        new_impl = impls.check(unit, impl or old_impl)
        image = [] if new_impl == old_impl else ["--image", _image_for(service, new_impl)]
        order = "start-first" if replicas >= 2 else "stop-first"
        started = time.monotonic()
        docker(
            "service", "update", "--detach", "--update-order", order, *image,
            "--env-add", f"TWINSHOP_VERSION={new_version}", service.name,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            update = (self._service(unit).attrs.get("UpdateStatus") or {}).get("State")
            if update == "completed" or (update is None and replicas == 0):
                break
            if update in ("rollback_started", "rollback_completed", "rollback_paused", "paused"):
                message = self._service(unit).attrs["UpdateStatus"].get("Message", "")
                raise LabError(f"redeploy of {unit} failed and was rolled back: {message}")
            if time.monotonic() > deadline:
                raise LabError(f"redeploy of {unit} did not finish in {timeout:.0f} s ({update})")
            time.sleep(0.5)
        self.wait_healthy([unit], timeout=timeout)
        outage = 0.0 if replicas >= 2 else time.monotonic() - started
        self.wait_edges_see(unit, replicas=replicas)
        mode: Literal["restart", "rolling"] = "rolling" if replicas >= 2 else "restart"
        return {
            "unit": unit,
            "from": old_version,
            "to": new_version,
            "impl_from": old_impl,
            "impl_to": new_impl,
            "replicas": replicas,
            "mode": mode,
            "seconds": round(time.monotonic() - started, 2),
            "outage_seconds": round(outage, 2),
        }

    def chaos(self, unit: str, /, **toggles: Any) -> list[dict[str, Any]]:
        """Set fault toggles in every task of a unit, from inside each one."""
        if unit_named(unit).edge:
            raise LabError(
                f"{unit} is an edge and has no fault toggles; use catalog, orders or monolith"
            )
        out = []
        for container in self._containers(unit, required=True):
            text = exec_admin(container, "PUT", "/_chaos", json.dumps(toggles))
            out.append({"url": f"{container.name[:40]}:8000", **json.loads(text)})
        return out

    def admin_get(self, unit: str, path: str) -> Any:
        return json.loads(exec_admin(self._containers(unit, required=True)[0], "GET", path))

    def admin_token(self) -> str:
        """The token the stack mounted (read inside a unit's task: never in an env var)."""
        for unit in ("catalog", "orders", "monolith"):
            for container in self._containers(unit):
                result = container.exec_run(["python3", "-c", READ_TOKEN])
                if result.exit_code == 0:
                    return str(result.output.decode().strip())
        raise LabError(f"no running unit of stack {self.stack!r} holds the admin token; is it up?")

    def memory_mb(self, unit: str) -> float:
        total = 0.0
        for container in self._containers(unit):
            stats = container.stats(stream=False)
            total += stats.get("memory_stats", {}).get("usage", 0) / 2**20
        return round(total, 1)

    # -- waiting -----------------------------------------------------------------------

    def wait_healthy(self, names: list[str], *, timeout: float) -> None:
        """Until every service has as many running tasks as it asks for. A task with a
        healthcheck runs only once healthy; tasks that keep failing are reported."""
        deadline = time.monotonic() + timeout
        while True:
            waiting, errors = [], []
            services = self._services_by_name()
            for name in names:
                service = services.get(name)
                if service is None:
                    waiting.append(name)
                    continue
                tasks = service.tasks()
                running = [
                    t for t in tasks
                    if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                ]  # fmt: skip
                if len(running) != _replicas(service) or any(
                    t["DesiredState"] == "running" and t["Status"]["State"] != "running"
                    for t in tasks
                ):
                    waiting.append(name)
                    errors += [
                        f"{name}: {t['Status'].get('Err') or t['Status'].get('Message')}"
                        for t in tasks
                        if t["Status"]["State"] in FAILED_STATES
                    ][-1:]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(
                    f"not healthy after {timeout:.0f} s: {', '.join(waiting)}"
                    + (f" ({'; '.join(errors)})" if errors else "")
                    + f" (see: docker service ps {self.stack}_{waiting[0]} --no-trunc)"
                )
            time.sleep(0.5)

    def wait_edges_see(self, unit: str, *, replicas: int = 1, timeout: float = 60.0) -> None:
        """Until the edge in front of ``unit`` counts ``replicas`` healthy replicas of it
        with its breaker closed (``lab.health``); a LabError after ``timeout``."""
        if not behind_an_edge(unit):
            return
        arch = unit_named(unit).arch
        if not wait_edge_routes(self._entry(arch), unit, replicas=replicas, timeout=timeout):
            raise LabError(f"the edge of {arch} does not route to {replicas} {unit} task(s)")

    def _wait_entry(self, arch: Arch, *, timeout: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self._entry(arch) + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise LabError(
                    f"{arch} runs but {self._entry(arch)} does not answer; is the port free "
                    f"on this machine? (docker service ps {self.stack}_{EDGE_OF[arch]})"
                )
            time.sleep(0.5)

    # -- the swarm itself ----------------------------------------------------------------

    def _ensure_swarm(self) -> None:
        state = swarm_state()
        if state == "inactive":
            docker("swarm", "init", "--advertise-addr", self.advertise_addr)
            node = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
            docker("node", "update", "--label-add", f"{CREATED_LABEL}=1", node)
            return
        if state != "active":
            raise LabError(f"this engine's swarm is {state}; fix it (docker info) and retry")
        if docker("info", "--format", "{{.Swarm.ControlAvailable}}").strip() != "true":
            raise LabError("this engine is a swarm worker; run twinshop on a manager node")

    def _leave_if_ours(self) -> None:
        node = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
        labels = _client().nodes.get(node).attrs["Spec"].get("Labels") or {}
        if labels.get(CREATED_LABEL) and not _client().services.list():
            docker("swarm", "leave", "--force")

    def _create_secrets(self, needed: dict[str, str]) -> None:
        """Each secret from its file in the state directory (made once, mode 0600)."""
        folder = self.stack_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        existing = {s.name for s in _client().secrets.list()}
        for key, swarm_name in needed.items():
            path = folder / f"{key}.secret"
            if not path.exists():
                path.touch(mode=0o600)
                path.write_text(secrets.token_urlsafe(24))
            if swarm_name not in existing:
                docker(
                    "secret", "create", "--label", f"twinshop.stack={self.stack}",
                    swarm_name, "-", stdin=path.read_text(),
                )  # fmt: skip

    def _wait_gone(self, *, timeout: float) -> None:
        """``docker stack rm`` returns at once; its containers and networks go later."""
        deadline = time.monotonic() + timeout
        client = _client()
        while time.monotonic() < deadline:
            containers = client.api.containers(
                all=True, filters={"label": f"{STACK_LABEL}={self.stack}"}
            )
            networks = client.networks.list(filters={"label": f"{STACK_LABEL}={self.stack}"})
            if not containers and not networks:
                return
            time.sleep(1)
        raise LabError(f"stack {self.stack} is still being removed (docker stack ps {self.stack})")

    # -- looking ---------------------------------------------------------------------

    def _compose(self) -> dict[str, Any]:
        env = {
            **compose_env(),
            "TWINSHOP_GATEWAY_PORT": str(self.edge_ports["micro"]),
            "TWINSHOP_LB_PORT": str(self.edge_ports["mono"]),
            "TWINSHOP_LOCUST_PORT": str(self.locust_port),
            "TWINSHOP_DASHBOARD_PORT": str(self.dashboard_port),
            "TWINSHOP_BIND": self.host,
        }
        text = (project_root() / "docker-compose.yml").read_text()
        return dict(interpolate(yaml.safe_load(text), env))

    def _services_by_name(self) -> dict[str, Any]:
        prefix = f"{self.stack}_"
        services = _client().services.list(filters={"label": f"{STACK_LABEL}={self.stack}"})
        return {s.name.removeprefix(prefix): s for s in services}

    def _service(self, unit: str) -> Any:
        unit_named(unit)
        service = self._services_by_name().get(unit)
        if service is None:
            raise LabError(
                f"{unit!r} is not deployed in stack {self.stack!r} (twinshop up --runtime swarm)"
            )
        return service

    def _tasks(self, service: Any) -> list[dict[str, Any]]:
        """The tasks that are meant to run or still run."""
        return [
            t for t in service.tasks()
            if t["DesiredState"] == "running" or t["Status"]["State"] in ("running", "starting")
        ]  # fmt: skip

    def _containers(self, unit: str, *, required: bool = False) -> list[Any]:
        """The running task containers of ``unit`` on this engine."""
        found = _client().containers.list(
            filters={"label": f"{SERVICE_LABEL}={self.stack}_{unit}", "status": "running"},
            ignore_removed=True,
        )
        if required and not found:
            raise LabError(
                f"no task of {unit} runs on this engine (twinshop start {unit} --runtime swarm)"
            )
        return sorted(found, key=lambda c: c.name)

    def _describe(self, unit: str, service: Any) -> list[dict[str, Any]]:
        version = _env(service).get("TWINSHOP_VERSION")
        url = (
            self._entry(unit_named(unit).arch)
            if unit in EDGE_OF.values()
            else f"http://{unit}:8000"
        )
        out = [
            {
                "instance": t["ID"][:12],
                "url": url,
                "healthy": t["Status"]["State"] == "running",
                "version": _task_env(t).get("TWINSHOP_VERSION", version),
                "impl": _impl(service),
            }
            for t in self._tasks(service)
        ]
        killed = int((service.attrs["Spec"].get("Labels") or {}).get(KILLED_LABEL, 0))
        out += [{"instance": None, "url": url, "healthy": False, "version": version}] * killed
        return out

    def _services(self, arch: Arch) -> list[str]:
        return [u.name for u in UNITS[arch]] + list(DATABASES[arch])

    def _entry(self, arch: Arch) -> str:
        return f"http://{self.host}:{self.edge_ports[arch]}"


def _pin_local_images(stack: dict[str, Any]) -> None:
    """Each service runs the local image by its ID, named in a label: a task then never
    pulls (a swarm node pulls a tag on every start, and ``twinshop/…`` on a public registry
    would be somebody else's image), and every node runs exactly what was built here."""
    for name, service in stack["services"].items():
        image = service["image"]
        probe = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.returncode != 0:
            raise LabError(f"{name}: image {image} is not on this engine (twinshop images build)")
        service["image"] = probe.stdout.strip()
        service["deploy"]["labels"] = {"twinshop.image": image}


def _replicas(service: Any) -> int:
    return int(service.attrs["Spec"]["Mode"].get("Replicated", {}).get("Replicas", 0))


def _env(service: Any) -> dict[str, str]:
    spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    return dict(e.split("=", 1) for e in spec.get("Env") or [] if "=" in e)


def _task_env(task: dict[str, Any]) -> dict[str, str]:
    spec = task["Spec"]["ContainerSpec"]
    return dict(e.split("=", 1) for e in spec.get("Env") or [] if "=" in e)


def advertise_addr() -> str:
    """Where ``up`` advertises a new swarm [env TWINSHOP_SWARM_ADVERTISE_ADDR]."""
    return os.environ.get("TWINSHOP_SWARM_ADVERTISE_ADDR", "127.0.0.1")


def publish_mode() -> str:
    """How edges publish their port [env TWINSHOP_SWARM_PUBLISH: host or ingress]."""
    mode = os.environ.get("TWINSHOP_SWARM_PUBLISH", "host")
    if mode not in ("host", "ingress"):
        raise LabError(f"TWINSHOP_SWARM_PUBLISH must be host or ingress, not {mode!r}")
    return mode


def _image(service: Any) -> str:
    """The service's image, without the digest swarm pins."""
    spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    return str(spec.get("Image", "")).split("@")[0]


def _impl(service: Any) -> str:
    return impls.RUST if "catalog-rs" in _image(service) else impls.PYTHON


def _image_for(service: Any, impl: str) -> str:
    """The same image name (registry and tag kept) for the other implementation."""
    image = _image(service)
    if impl == impls.RUST:
        return image.replace("/catalog:", "/catalog-rs:")
    return image.replace("/catalog-rs:", "/catalog:")
