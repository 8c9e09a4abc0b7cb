"""The docker runtime: the compose stack, driven with the compose CLI (up, down, scale)
and inspected through the Docker SDK (compose labels), with the same ``status`` shape as
the process runtime.

Versions: ``TWINSHOP_VERSION`` is interpolated into every unit's environment by compose.
Every compose call that touches one unit passes that unit's *current* version (read from
its containers), so that scaling never reverts a redeploy, and uses ``--no-recreate``
unless recreating is the point.

Why this module stays above 300 lines: it is one class, the ``Runtime`` protocol's verbs
over the compose CLI and the Docker SDK, plus the few container readers they share (version,
implementation, health of a container). Each verb is a handful of lines; separating them
would split one adapter whose parts change together whenever compose's behaviour does.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from lab import impls
from lab.compose import DEFAULT_PROJECT, compose
from lab.errors import LabError
from lab.health import wait_edge_routes
from lab.runtime.base import Redeployed, next_version
from lab.runtime.container_admin import exec_admin
from lab.topology import EDGE_OF, UNITS, Arch, behind_an_edge, unit_named

DATABASES: dict[Arch, tuple[str, ...]] = {
    "micro": ("catalog-db", "orders-db"),
    "mono": ("monolith-db",),
}
IMAGE_VARIABLE = "TWINSHOP_CATALOG_IMAGE"
IMAGES = {"python": "twinshop/catalog:latest", "rust": "twinshop/catalog-rs:latest"}
"""The catalog's image per implementation (compose: ``image: ${TWINSHOP_CATALOG_IMAGE:-…}``)."""
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"
DNS_SETTLE_SECONDS = 1.5
"""The edges re-resolve a service's name every second: wait this long after the replica set
changed before relying on them having noticed."""
STOP_GRACE_SECONDS = 15
"""SIGTERM, then this long for in-flight requests (as ``stop_grace_period`` in compose)."""
ADMIN_TOKEN_FILE = "/run/twinshop/admin/token"
"""Where the units find the admin token (the ``admin-secret`` volume of docker-compose.yml);
only catalog, orders and monolith mount it."""


def _client() -> Any:
    import docker

    try:
        client = docker.from_env()  # type: ignore[attr-defined]
        client.ping()
    except Exception as exc:
        raise LabError(
            f"no Docker engine answers ({exc.__class__.__name__}); start it "
            "(e.g. `dockerd &`) or use --runtime process"
        ) from None
    return client


@dataclass
class DockerRuntime:
    project: str = DEFAULT_PROJECT
    host: str = "127.0.0.1"
    edge_ports: dict[Arch, int] = field(default_factory=lambda: {"micro": 8080, "mono": 8081})
    locust_port: int = 8089
    dashboard_port: int = 8090
    name: str = "docker"

    def compose(self, *args: str, env: dict[str, str] | None = None) -> None:
        """A compose command on this stack, with its ports (and ``env`` on top)."""
        full = {
            "TWINSHOP_GATEWAY_PORT": str(self.edge_ports["micro"]),
            "TWINSHOP_LB_PORT": str(self.edge_ports["mono"]),
            "TWINSHOP_LOCUST_PORT": str(self.locust_port),
            "TWINSHOP_DASHBOARD_PORT": str(self.dashboard_port),
            "TWINSHOP_BIND": self.host,
            **(env or {}),
        }
        compose(self.project, *args, env=full)

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 180.0) -> dict[Arch, str]:
        services = [s for arch in arches for s in self._services(arch)]
        if set(arches) == {"micro", "mono"}:
            services += ["locust", "dashboard"]
        self.compose("up", "-d", "--no-recreate", *services)
        self.wait_healthy([s for s in services if s != "locust"], timeout=timeout)
        return {arch: self._entry(arch) for arch in arches}

    @property
    def dashboard(self) -> str:
        """The compose stack's own dashboard (a service; up with both architectures)."""
        return f"http://{self.host}:{self.dashboard_port}"

    def side_services(self) -> dict[str, str]:
        return {
            "live dashboard": self.dashboard,
            "locust": f"http://{self.host}:{self.locust_port}",
        }

    def where(self) -> str:
        return f"compose project {self.project}"

    def logs_hint(self) -> str:
        return f"logs: docker compose -p {self.project} logs"

    def reset(self) -> tuple[int, str]:
        return self.down(volumes=True), f"{self.where()} (containers and database volumes)"

    def down(self, *, volumes: bool = False) -> int:
        running = len(self._containers())
        self.compose("down", *(["--volumes"] if volumes else []))
        return running

    def status(self) -> dict[str, Any]:
        by_service: dict[str, list[Any]] = {}
        for container in self._containers():
            by_service.setdefault(container.labels[SERVICE_LABEL], []).append(container)
        out: dict[str, Any] = {"runtime": self.name, "architectures": {}}
        for arch, units in UNITS.items():
            if not any(u.name in by_service for u in units):
                continue
            out["architectures"][arch] = {
                "entry": self._entry(arch),
                "units": {
                    u.name: [self._describe(c) for c in by_service.get(u.name, [])] for u in units
                },
            }
        return out

    def kill(self, unit: str) -> int:
        """SIGKILL the unit's containers; Docker does not restart a killed container, so it
        stays down until ``start`` (a crash from inside restarts by itself)."""
        containers = [c for c in self._containers() if c.labels[SERVICE_LABEL] == unit]
        running = [c for c in containers if c.status == "running"]
        if not containers:
            raise LabError(f"{unit!r} is not running in compose project {self.project!r}")
        for container in running:
            container.kill()
        return len(running)

    def start(self, unit: str, *, timeout: float = 120.0) -> int:
        containers = [c for c in self._containers() if c.labels[SERVICE_LABEL] == unit]
        stopped = [c for c in containers if c.status != "running"]
        for container in stopped:
            container.start()
        self.wait_healthy([unit], timeout=timeout)
        self.wait_edges_see(unit)
        return len(stopped)

    def scale(self, unit: str, replicas: int, *, timeout: float = 120.0) -> tuple[int, int]:
        """Run ``replicas`` containers of a unit; returns (before, after).

        Up: compose ``--scale`` with the unit's current version and ``--no-recreate`` (the
        running ones are left alone, never reverted to another version), then wait until
        all are healthy. Down: the highest-numbered containers, one at a time: SIGTERM
        (in-flight requests finish within ``stop_grace_period``), remove, then a discovery
        interval, so that the edge's one retry never meets a second leaving replica."""
        self._refuse_edge(unit, "scaled")
        if replicas < 1:
            raise LabError(f"scale {unit} to 1 or more (to stop it: twinshop kill)")
        running = self._unit_containers(unit, running=True)
        if replicas > len(running):
            version = self._version_of(unit, running)
            env = {"TWINSHOP_VERSION": version, **self._image_env(unit, self._impl_of(running))}
            self.compose(
                "up", "-d", "--no-deps", "--no-recreate", "--scale", f"{unit}={replicas}", unit,
                env=env,
            )  # fmt: skip
        for container in reversed(running[replicas:]):
            container.stop(timeout=STOP_GRACE_SECONDS)
            container.remove()
            time.sleep(DNS_SETTLE_SECONDS)
        self.wait_healthy([unit], timeout=timeout)
        self.wait_edges_see(unit, replicas=replicas)  # return once the edge routes to them
        return len(running), replicas

    def redeploy(
        self,
        unit: str,
        version: str | None = None,
        *,
        impl: str | None = None,
        timeout: float = 180.0,
    ) -> Redeployed:
        """Replace the unit's containers by ones of a new version.

        One container: ``compose up --force-recreate`` (stop, then start: a real outage,
        reported as the time until the new container is healthy: compose stops the old one
        first, so the unit is unserved for at most that long).
        N >= 2, rolling, one old container at a time: ``--scale N+1 --no-recreate`` with
        the new version (only the new container is created), wait until it is healthy and
        the edges resolved it, then stop (SIGTERM: in-flight requests finish) and remove
        one old container, and let the edges notice. At most one replica is starting or
        stopping at any moment, so the edge's one retry of an idempotent request always
        finds a good replica: no GET fails.

        The edges resolve the service name (Docker DNS lists a container as soon as it
        runs, healthy or not); a replica that refuses connections is ejected and the
        request retried on another.

        ``impl`` (the catalog: python or rust) picks the image the new containers run
        (``TWINSHOP_CATALOG_IMAGE`` in compose)."""
        unit_named(unit)
        running = self._unit_containers(unit, running=True)
        old_version = self._version_of(unit, running)
        new_version = version or next_version(old_version)
        old_impl = self._impl_of(running)
        new_impl = impls.check(unit, impl or old_impl)
        env = {"TWINSHOP_VERSION": new_version, **self._image_env(unit, new_impl)}
        started = time.monotonic()
        outage = 0.0
        mode: Literal["restart", "rolling"]
        if len(running) == 1:
            self.compose("up", "-d", "--no-deps", "--force-recreate", unit, env=env)
            self.wait_healthy([unit], timeout=timeout)
            outage = time.monotonic() - started
            self.wait_edges_see(unit)
            mode = "restart"
        else:
            count = len(running)
            for container in running:
                self.compose(
                    "up", "-d", "--no-deps", "--no-recreate", "--scale", f"{unit}={count + 1}",
                    unit, env=env,
                )  # fmt: skip
                self.wait_healthy([unit], timeout=timeout)
                time.sleep(DNS_SETTLE_SECONDS)
                container.stop(timeout=STOP_GRACE_SECONDS)
                container.remove()
                time.sleep(DNS_SETTLE_SECONDS)
            mode = "rolling"
        return {
            "unit": unit,
            "from": old_version,
            "to": new_version,
            "impl_from": old_impl,
            "impl_to": new_impl,
            "replicas": len(running),
            "mode": mode,
            "seconds": round(time.monotonic() - started, 2),
            "outage_seconds": round(outage, 2),
        }

    def wait_edges_see(
        self, unit: str, *, replicas: int | None = None, timeout: float = 15.0
    ) -> None:
        """Return once the edge in front of ``unit`` routes to it (``lab.health``: with
        ``replicas``, exactly that many, all healthy). Docker's "healthy" alone does not mean
        the entry answers yet. After ``timeout`` it returns anyway: the caller's next
        request tells."""
        if behind_an_edge(unit):
            entry = self._entry(unit_named(unit).arch)
            wait_edge_routes(
                entry, unit, replicas=replicas or 1, exact=replicas is not None, timeout=timeout
            )

    def chaos(self, unit: str, /, **toggles: Any) -> list[dict[str, Any]]:
        """Set fault toggles on every running container of a unit, from inside each one
        (``docker exec``: the units' ports are not published); returns their toggles."""
        self._refuse_edge(unit, "given fault toggles")
        out = []
        for container in self._unit_containers(unit, running=True):
            text = exec_admin(container, "PUT", "/_chaos", json.dumps(toggles))
            out.append({"url": f"{container.name}:8000", **json.loads(text)})
        return out

    def crash(self, unit: str) -> str:
        """SIGKILL one running container of the unit and start it again at once, as a
        restart policy would after a crash. Returns which one."""
        container = random.choice(self._unit_containers(unit, running=True))
        container.kill()
        container.start()
        return f"{unit} container {container.name}"

    def admin_get(self, unit: str, path: str) -> Any:
        """GET an operator route (``/_…``) of the unit, from inside its first container."""
        container = self._unit_containers(unit, running=True)[0]
        return json.loads(exec_admin(container, "GET", path))

    def memory_mb(self, unit: str) -> float:
        """Memory use of every container of ``unit``, summed (the engine's stats)."""
        total = 0.0
        for container in self._unit_containers(unit, running=True):
            stats = container.stats(stream=False)
            total += stats.get("memory_stats", {}).get("usage", 0) / 2**20
        return round(total, 1)

    def _refuse_edge(self, unit: str, what: str) -> None:
        if unit_named(unit).edge:
            arch = unit_named(unit).arch
            behind = ", ".join(u.name for u in UNITS[arch] if not u.edge)
            raise LabError(
                f"{unit} is an edge: it owns the published port of {arch} and cannot be "
                f"{what}; use what is behind it ({behind})"
            )

    def _unit_containers(self, unit: str, *, running: bool = False) -> list[Any]:
        """The unit's containers, lowest compose number first; none is an error."""
        containers = [c for c in self._containers() if c.labels[SERVICE_LABEL] == unit]
        if running:
            containers = [c for c in containers if c.status == "running"]
        if not containers:
            raise LabError(
                f"{unit!r} is not running in compose project {self.project!r}"
                + (f" (twinshop start {unit} --runtime docker)" if running else "")
            )
        return sorted(containers, key=lambda c: int(c.labels.get(NUMBER_LABEL, 0)))

    @staticmethod
    def _image_env(unit: str, impl: str) -> dict[str, str]:
        """The compose variable naming the image of ``unit`` in ``impl`` (catalog only)."""
        if unit not in impls.CRATES:
            return {}
        return {IMAGE_VARIABLE: IMAGES[impl]}

    def _impl_of(self, containers: list[Any]) -> str:
        """The implementation the newest of these containers runs."""
        described = [self._describe(c)["impl"] for c in containers]
        return described[-1] if described else impls.PYTHON

    def _version_of(self, unit: str, containers: list[Any]) -> str:
        versions = {self._describe(c)["version"] or "1" for c in containers}
        numeric = sorted((v for v in versions if v.isdigit()), key=int)
        return numeric[-1] if numeric else sorted(versions)[-1]

    def wait_healthy(self, services: list[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            waiting = []
            for service in services:
                containers = [c for c in self._containers() if c.labels[SERVICE_LABEL] == service]
                if not containers or any(_health(c) != "healthy" for c in containers):
                    waiting.append(service)
                for container in containers:
                    if container.status == "exited" and not service.endswith("-secret"):
                        logs = container.logs(tail=5).decode(errors="replace").strip()
                        raise LabError(f"{service} exited: {logs[-400:]}")
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise LabError(
                    f"not healthy after {timeout:.0f} s: {', '.join(waiting)} "
                    f"(see: docker compose -p {self.project} logs {waiting[0]})"
                )
            time.sleep(0.5)

    def admin_token(self) -> str:
        """The token the stack generated (it is never passed in an environment variable)."""
        for container in self._containers():
            if container.labels[SERVICE_LABEL] in ("catalog", "orders", "monolith"):
                result = container.exec_run(["cat", ADMIN_TOKEN_FILE])
                if result.exit_code == 0:
                    return str(result.output.decode().strip())
        raise LabError("no running unit holds the admin token; is the stack up?")

    def _services(self, arch: Arch) -> list[str]:
        return [u.name for u in UNITS[arch]] + list(DATABASES[arch])

    def _entry(self, arch: Arch) -> str:
        return f"http://{self.host}:{self.edge_ports[arch]}"

    def _containers(self) -> list[Any]:
        return list(
            _client().containers.list(
                all=True, filters={"label": f"{PROJECT_LABEL}={self.project}"}
            )
        )

    def _describe(self, container: Any) -> dict[str, Any]:
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"] if "=" in e)
        service = container.labels[SERVICE_LABEL]
        url = (
            self._entry("micro" if service == "gateway" else "mono")
            if service in EDGE_OF.values()
            else f"http://{service}:8000"
        )
        return {
            "instance": container.id[:12],
            "url": url,
            "healthy": _health(container) == "healthy",
            "version": env.get("TWINSHOP_VERSION"),
            "impl": impls.RUST
            if "catalog-rs" in str(container.attrs["Config"]["Image"])
            else impls.PYTHON,
            "cpus": (container.attrs["HostConfig"].get("NanoCpus") or 0) / 1e9 or None,
        }


def _health(container: Any) -> str:
    container.reload()
    if container.status != "running":
        return container.status
    state = container.attrs["State"]
    return str(state.get("Health", {}).get("Status", "healthy"))
