"""The docker runtime: the compose stack, driven with the compose CLI (up, down, scale)
and inspected through the Docker SDK (compose labels), with the same ``status`` shape as
the process runtime."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from lab.compose import DEFAULT_PROJECT, compose
from lab.errors import LabError
from lab.topology import EDGE_OF, UNITS, Arch

DATABASES: dict[Arch, tuple[str, ...]] = {
    "micro": ("catalog-db", "orders-db"),
    "mono": ("monolith-db",),
}
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


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
    name: str = "docker"

    def compose(self, *args: str) -> None:
        """A compose command on this stack, with its ports."""
        env = {
            "TWINSHOP_GATEWAY_PORT": str(self.edge_ports["micro"]),
            "TWINSHOP_LB_PORT": str(self.edge_ports["mono"]),
            "TWINSHOP_LOCUST_PORT": str(self.locust_port),
            "TWINSHOP_BIND": self.host,
        }
        compose(self.project, *args, env=env)

    def up(self, arches: tuple[Arch, ...], *, timeout: float = 180.0) -> dict[Arch, str]:
        services = [s for arch in arches for s in self._services(arch)]
        if set(arches) == {"micro", "mono"}:
            services.append("locust")
        self.compose("up", "-d", "--no-recreate", *services)
        self.wait_healthy([s for s in services if s != "locust"], timeout=timeout)
        return {arch: self._entry(arch) for arch in arches}

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
        return len(stopped)

    def scale(self, unit: str, replicas: int, *, timeout: float = 120.0) -> None:
        self.compose("up", "-d", "--no-deps", "--scale", f"{unit}={replicas}", unit)
        self.wait_healthy([unit], timeout=timeout)

    def wait_healthy(self, services: list[str], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            waiting = []
            for service in services:
                containers = [c for c in self._containers() if c.labels[SERVICE_LABEL] == service]
                if not containers or any(_health(c) != "healthy" for c in containers):
                    waiting.append(service)
                for container in containers:
                    if container.status == "exited" and service != "secrets":
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
                result = container.exec_run(["cat", "/run/twinshop/admin-token"])
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
        }


def _health(container: Any) -> str:
    container.reload()
    if container.status != "running":
        return container.status
    state = container.attrs["State"]
    return str(state.get("Health", {}).get("Status", "healthy"))
