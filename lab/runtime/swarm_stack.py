"""The swarm stack file, derived from ``docker-compose.yml`` (one source of truth, no second
copy): the same services, images, environment, healthchecks and networks, plus what swarm
needs instead of compose's own options.

- budgets: ``cpus`` / ``mem_limit`` become ``deploy.resources.limits`` (equal values);
- ``restart`` becomes a restart policy (a crashed task is replaced by itself);
- rolling updates one task at a time, ``start-first`` with rollback on failure (databases
  ``stop-first``: two PostgreSQL servers must never share a data directory);
- the secrets compose makes in volumes (its one-shot ``make_secrets.py`` jobs) become swarm
  secrets, mounted read-only where the ``*_FILE`` variables point;
- a file bound from the checkout becomes a swarm config; a ``tmpfs`` a tmpfs mount;
- networks become overlay networks, ``internal`` kept;
- published ports: ``host`` mode by default, on every interface of the node that runs the
  edge's task (swarm cannot bind one address), or the ingress routing mesh, on every
  interface of every node (``publish="ingress"``; it needs the kernel's IPVS);
- services are ``endpoint_mode: dnsrr`` (with ``host`` publishing): a name resolves to every
  running task (as compose's DNS does), so the edges balance, retry and eject themselves,
  and the dashboard counts replicas by DNS; ``tasks.<name>`` lists the same tasks;
- databases stay on a manager node (their volumes are local to a node), the rest spreads
  over nodes.

Healthchecks are patient (``PATIENT_HEALTH``): swarm replaces an unhealthy task, compose
does not. Options swarm has no equivalent for (``depends_on``, ``security_opt``, ``pids_limit``) are
left out; the units wait for their database by retrying and being restarted.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

KEPT = (
    "image", "command", "entrypoint", "environment", "healthcheck", "init", "user",
    "read_only", "cap_add", "cap_drop", "stop_grace_period", "stop_signal", "working_dir",
    "labels", "sysctls", "ulimits",
)  # fmt: skip
"""Service options swarm honours as they are written for compose."""

UPDATE = {
    "parallelism": 1,
    "delay": "2s",  # the edges re-resolve names every second
    "order": "start-first",
    "failure_action": "rollback",
    "monitor": "10s",
}
ROLLBACK = {"parallelism": 1, "order": "start-first"}
RESTART = {"no": "none", "on-failure": "on-failure"}
PATIENT_HEALTH = {"interval": "5s", "timeout": "10s", "retries": 6, "start_period": "60s"}
"""Compose only reports an unhealthy container; swarm replaces it. On a busy machine (a
laptop running both architectures and a load test) a probe can take seconds, so swarm's
healthcheck is patient: a task is replaced after about a minute of failing probes, not
after the image's 9 s. The probe itself is the image's (or compose's) own."""

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME-default}`` with ``env``;
    ``$$`` stays ``$$`` (``docker stack deploy`` turns it into ``$``)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$$"
        name, how, default = match.group(1), match.group(2), match.group(3) or ""
        if how == ":-":
            return env.get(name) or default
        if how == "-":
            return env.get(name, default)
        return env.get(name, "")

    return _VARIABLE.sub(one, value)


def secret_jobs(services: dict[str, Any]) -> set[str]:
    """compose's one-shot services that make the secrets (they do not run on swarm)."""
    return {
        name
        for name, spec in services.items()
        if "make_secrets" in " ".join(map(str, spec.get("command") or []))
    }


def secret_volumes(services: dict[str, Any]) -> set[str]:
    return {
        str(mount).split(":", 1)[0]
        for name in secret_jobs(services)
        for mount in services[name].get("volumes") or []
    }


def memory_bytes(text: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)\s*([a-zA-Z]?)[bB]?", str(text)).groups()  # type: ignore[union-attr]
    return int(float(number) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit.lower()])


def _env(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(str(e).split("=", 1) for e in env if "=" in str(e))
    return {str(k): str(v) for k, v in env.items()}


def _port(text: str, mode: str) -> dict[str, Any]:
    parts = str(text).split(":")
    target, published = int(parts[-1]), int(parts[-2]) if len(parts) > 1 else None
    out: dict[str, Any] = {"target": target, "protocol": "tcp", "mode": mode}
    if published is not None:
        out["published"] = published
    return out


def _tmpfs(entry: str) -> dict[str, Any]:
    target, _, options = str(entry).partition(":")
    mount: dict[str, Any] = {"type": "tmpfs", "target": target}
    size = re.search(r"size=(\w+)", options)
    if size:
        mount["tmpfs"] = {"size": memory_bytes(size.group(1))}
    return mount


def stack_file(
    compose: dict[str, Any],
    names: list[str],
    *,
    stack: str,
    root: Path,
    publish: str = "host",
    edges_on_managers: bool = False,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The stack file for the services ``names`` of an (interpolated) compose file, and the
    swarm secrets it needs: {name in the stack file: name in the swarm}. ``publish``:
    ``host`` or ``ingress``; ``edges_on_managers``: what publishes a port runs on a manager
    (with ``host`` publishing, the entries then stay at the managers' addresses)."""
    services: dict[str, Any] = compose["services"]
    from_volume = secret_volumes(services)
    out: dict[str, Any] = {"version": "3.8", "services": {}}
    networks: dict[str, Any] = {}
    volumes: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    configs: dict[str, Any] = {}
    for name in names:
        spec = services[name]
        service = {k: spec[k] for k in KEPT if k in spec}
        service["healthcheck"] = {**(spec.get("healthcheck") or {}), **PATIENT_HEALTH}
        env = _env(spec)
        if env:
            service["environment"] = env
        mounts: list[Any] = []
        service_secrets: list[dict[str, Any]] = []
        service_configs: list[dict[str, Any]] = []
        stateful = False
        for mount in spec.get("volumes") or []:
            source, target = str(mount).split(":")[:2]
            if source in from_volume:
                for path in sorted(v for k, v in env.items() if k.endswith("_FILE")):
                    if path.startswith(target.rstrip("/") + "/"):
                        secret = f"{source}-{path[len(target) :].strip('/').replace('/', '-')}"
                        secrets[secret] = f"{stack}_{secret}"
                        service_secrets.append({"source": secret, "target": path, "mode": 0o444})
            elif source.startswith((".", "/")):
                config = f"{name}-{Path(target).name}".replace(".", "-")
                configs[config] = {"file": str((root / source).resolve())}
                service_configs.append({"source": config, "target": target, "mode": 0o444})
            else:
                volumes[source] = {}
                mounts.append(str(mount))
                stateful = True
        mounts += [_tmpfs(t) for t in spec.get("tmpfs") or []]
        if mounts:
            service["volumes"] = mounts
        if service_secrets:
            service["secrets"] = service_secrets
        if service_configs:
            service["configs"] = service_configs
        used = spec.get("networks") or ["default"]
        service["networks"] = list(used)
        for network in used:
            declared = (compose.get("networks") or {}).get(network) or {}
            networks[network] = {"driver": "overlay"} | (
                {"internal": True} if declared.get("internal") else {}
            )
        limits: dict[str, Any] = {}
        if "cpus" in spec:
            limits["cpus"] = str(spec["cpus"])
        if "mem_limit" in spec:
            limits["memory"] = str(spec["mem_limit"])
        deploy: dict[str, Any] = {
            "replicas": 1,
            "endpoint_mode": "vip" if spec.get("ports") and publish == "ingress" else "dnsrr",
            "restart_policy": {
                "condition": RESTART.get(str(spec.get("restart", "always")), "any"),
                "delay": "1s",
            },
            "update_config": UPDATE | ({"order": "stop-first"} if stateful else {}),
            "rollback_config": ROLLBACK | ({"order": "stop-first"} if stateful else {}),
            "placement": (
                {"constraints": ["node.role == manager"]}
                if stateful or (edges_on_managers and spec.get("ports"))
                else {"preferences": [{"spread": "node.id"}]}
            ),
        }
        if limits:
            deploy["resources"] = {"limits": limits}
        service["deploy"] = deploy
        if spec.get("ports"):
            service["ports"] = [_port(p, publish) for p in spec["ports"]]
        out["services"][name] = service
    out["networks"] = networks
    if volumes:
        out["volumes"] = volumes
    if secrets:
        out["secrets"] = {k: {"external": True, "name": v} for k, v in secrets.items()}
    if configs:
        out["configs"] = configs
    return out, secrets
