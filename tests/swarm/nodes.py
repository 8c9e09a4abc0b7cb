"""Several swarm nodes on one machine: Docker-in-Docker containers made from a Debian root
filesystem built offline (debootstrap with Debian's ``docker.io``, then ``docker import``),
each running its own engine, joined into one swarm, with the twinshop images loaded into
each (``docker save | docker load``: no registry).

What this machine allows (``--privileged`` is refused here): a list of capabilities,
seccomp and AppArmor unconfined, the host's cgroups, and a volume for each engine's
storage. Every container, volume and network it makes is named with ``prefix`` and removed
by ``remove``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

NODE_IMAGE = "twinshop-test/swarm-node:bookworm"
CAPS = (
    "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "MKNOD", "SYS_CHROOT", "SETFCAP", "SYS_PTRACE",
    "DAC_READ_SEARCH", "SYS_MODULE", "IPC_LOCK", "SYS_NICE", "LINUX_IMMUTABLE",
)  # fmt: skip
ENGINE_PORT = 2375
"""Each node's engine on the nodes' private bridge (no TLS: reachable only from this host)."""


def host_env() -> dict[str, str]:
    """This machine's engine, whatever DOCKER_HOST a test points the runtime at."""
    return {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}


def run(*args: str, stdin: bytes | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        args, input=stdin, capture_output=True, timeout=timeout, check=False, env=host_env()
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args[:4])}… failed: {result.stderr.decode(errors='replace')[-500:]}"
        )
    return result.stdout.decode(errors="replace")


def run_quietly(*args: str) -> None:
    subprocess.run(args, capture_output=True, check=False, env=host_env())


def build_node_image(workdir: Path) -> None:
    """The node image, once: debootstrap (about a minute), ``docker import``."""
    if (
        subprocess.run(
            ["docker", "image", "inspect", NODE_IMAGE], capture_output=True, env=host_env()
        ).returncode
        == 0
    ):
        return
    root = workdir / "node-rootfs"
    run(
        "debootstrap", "--variant=minbase",
        "--include=docker.io,iptables,ca-certificates,procps,iproute2",
        "bookworm", str(root), timeout=1800,
    )  # fmt: skip
    tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(
        ["docker", "import", "-", NODE_IMAGE], stdin=tar.stdout, check=True, env=host_env()
    )
    tar.wait()


@dataclass
class Nodes:
    prefix: str
    count: int = 3
    names: list[str] = field(default_factory=list)
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return f"{self.prefix}-net"

    def start(self) -> None:
        run("docker", "network", "create", self.network)
        for i in range(1, self.count + 1):
            name = f"{self.prefix}-node{i}"
            caps = [f"--cap-add={cap}" for cap in CAPS]
            run(
                "docker", "run", "-d", "--name", name, "--hostname", f"node{i}",
                "--network", self.network, *caps,
                "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                "--tmpfs", "/run", "-v", f"{name}-engine:/var/lib/docker",
                "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                NODE_IMAGE, "dockerd", "--storage-driver=vfs",
                "--host=unix:///var/run/docker.sock", f"--host=tcp://0.0.0.0:{ENGINE_PORT}",
            )  # fmt: skip
            self.names.append(name)
        for name in self.names:
            self.addresses[name] = run(
                "docker", "inspect", "-f",
                f"{{{{(index .NetworkSettings.Networks \"{self.network}\").IPAddress}}}}", name,
            ).strip()  # fmt: skip
            self._wait_engine(name)

    def _wait_engine(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run(
            ["docker", "exec", name, "docker", "info"], capture_output=True, env=host_env()
        ).returncode:
            if time.monotonic() > deadline:
                logs = run("docker", "logs", "--tail", "20", name)
                raise RuntimeError(f"the engine in {name} did not start: {logs}")
            time.sleep(1)

    def engine(self, name: str) -> str:
        """The DOCKER_HOST of a node's engine."""
        return f"tcp://{self.addresses[name]}:{ENGINE_PORT}"

    def load(self, images: list[str]) -> None:
        """Every image into every node: one ``docker save``, one ``docker load`` per node."""
        archive = subprocess.run(
            ["docker", "save", *images], capture_output=True, check=True
        ).stdout
        for name in self.names:
            run("docker", "exec", "-i", name, "docker", "load", stdin=archive, timeout=900)

    def form_swarm(self) -> None:
        """The first node initialises the swarm; the others join as workers."""
        first, *rest = self.names
        address = self.addresses[first]
        run("docker", "exec", first, "docker", "swarm", "init", "--advertise-addr", address)
        token = run("docker", "exec", first, "docker", "swarm", "join-token", "-q", "worker")
        for name in rest:
            run(
                "docker", "exec", name, "docker", "swarm", "join", "--advertise-addr",
                self.addresses[name], "--token", token.strip(), f"{address}:2377",
            )  # fmt: skip

    def stop(self, name: str) -> None:
        run("docker", "stop", "-t", "0", name)

    def remove(self) -> None:
        """Every node container, its engine's volume and the network."""
        for name in self.names:
            run_quietly("docker", "rm", "-f", "-v", name)
            run_quietly("docker", "volume", "rm", "-f", f"{name}-engine")
        run_quietly("docker", "network", "rm", self.network)
