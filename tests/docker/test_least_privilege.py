"""Every container of the compose stack runs with only what it needs: a read-only image, no
capability, no way to gain privileges, a process cap, its own secrets only; a database is
reachable from its own service only, and lets in only that service's role.
(tests/unit/test_compose_file.py checks the same settings in the file, without Docker.)"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import docker
from lab.runtime.docker import PROJECT_LABEL, SERVICE_LABEL, DockerRuntime

pytestmark = pytest.mark.docker

DATABASES = {"catalog-db": "catalog", "orders-db": "orders", "monolith-db": "monolith"}
UNITS = tuple(DATABASES.values())

# Runs inside a container (its own python3): try a TCP connection to every host:port given,
# all at once, and print {target: "open" or the error}.
PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def attempt(target):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
        return "open"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
targets = sys.argv[1:]
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(dict(zip(targets, pool.map(attempt, targets)))))
"""

# Runs inside a catalog container: log in to catalog-db as several roles, to several
# databases, and print what each attempt gave.
LOGINS = """
import json, psycopg
password = open("/run/twinshop/db/password").read().strip()
attempts = {
    "catalog@catalog": ("catalog", "catalog", password),
    "catalog@catalog, wrong password": ("catalog", "catalog", "not-the-password"),
    "orders@catalog": ("orders", "catalog", password),
    "postgres@catalog": ("postgres", "catalog", password),
    "postgres@postgres": ("postgres", "postgres", password),
    "catalog@postgres": ("catalog", "postgres", password),
}
out = {}
for name, (user, dbname, secret) in attempts.items():
    try:
        with psycopg.connect(host="catalog-db", user=user, dbname=dbname, password=secret,
                             connect_timeout=15) as conn:
            query = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            out[name] = "superuser" if conn.execute(query).fetchone()[0] else "ok"
    except psycopg.OperationalError as exc:
        out[name] = str(exc)
print(json.dumps(out))
"""


def _containers(runtime: DockerRuntime, *, include_stopped: bool = False) -> list[Any]:
    client = docker.from_env()  # type: ignore[attr-defined]
    return list(
        client.containers.list(
            all=include_stopped, filters={"label": f"{PROJECT_LABEL}={runtime.project}"}
        )
    )


def _service(container: Any) -> str:
    return str(container.labels[SERVICE_LABEL])


def _first(runtime: DockerRuntime, service: str) -> Any:
    return next(c for c in _containers(runtime) if _service(c) == service)


def _addresses(runtime: DockerRuntime, *services: str) -> list[str]:
    """Every address of every running container of these services, on all its networks."""
    return [
        network["IPAddress"]
        for container in _containers(runtime)
        if _service(container) in services
        for network in container.attrs["NetworkSettings"]["Networks"].values()
        if network["IPAddress"]
    ]


def _probe(container: Any, targets: list[str]) -> dict[str, str]:
    result = container.exec_run(["python3", "-c", PROBE, *targets])
    assert result.exit_code == 0, result.output.decode(errors="replace")[-500:]
    found: dict[str, str] = json.loads(result.output)
    return found


def test_every_container_is_read_only_with_no_capability_and_a_process_cap(
    docker_runtime: DockerRuntime,
) -> None:
    containers = _containers(docker_runtime, include_stopped=True)
    assert {_service(c) for c in containers} >= {"admin-secret", *DATABASES, *UNITS, "locust"}
    for container in containers:
        name, host = _service(container), container.attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True, name
        assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], name
        assert host["SecurityOpt"] == ["no-new-privileges:true"], name
        assert not host["Privileged"], name
        assert 0 < host["PidsLimit"] <= 256, name
        assert "/tmp" in (host["Tmpfs"] or {}), name
        if not name.endswith("-secret"):  # the one-shot jobs have no network and exit at once
            assert host["NanoCpus"] > 0 and host["Memory"] > 0, name


def test_no_running_process_can_gain_a_capability_or_write_its_image(
    docker_runtime: DockerRuntime,
) -> None:
    for container in _containers(docker_runtime):
        name = _service(container)
        status = container.exec_run(["cat", "/proc/1/status"]).output.decode()
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert int(fields["CapBnd"], 16) == 0, name
        assert int(fields["CapEff"], 16) == 0, name
        assert fields["NoNewPrivs"].strip() == "1", name
        write = container.exec_run(["touch", "/etc/written-by-an-attacker"])
        assert write.exit_code != 0, name
        assert b"Read-only file system" in write.output, (name, write.output)


def test_each_container_mounts_only_its_own_secrets(docker_runtime: DockerRuntime) -> None:
    expected: dict[str, set[str]] = {
        **{db: {f"{db}-secret"} for db in DATABASES},
        **{unit: {"admin-secret", f"{db}-secret"} for db, unit in DATABASES.items()},
        **{other: set() for other in ("gateway", "lb", "locust", "dashboard")},
    }
    prefix = f"{docker_runtime.project}_"
    for container in _containers(docker_runtime):
        name = _service(container)
        volumes = {
            m["Name"].removeprefix(prefix)
            for m in container.attrs["Mounts"]
            if m["Type"] == "volume" and m["Name"].removeprefix(prefix).endswith("-secret")
        }
        assert volumes == expected[name], name
    listing = _first(docker_runtime, "catalog-db").exec_run(["ls", "-R", "/run/twinshop"])
    seen = listing.output.decode().split()
    assert seen == ["/run/twinshop:", "db", "/run/twinshop/db:", "password"]  # no admin token


def test_catalog_cannot_reach_another_services_database(docker_runtime: DockerRuntime) -> None:
    others = _addresses(docker_runtime, "orders-db", "monolith-db")
    assert others
    targets = ["catalog-db:5432", "orders-db:5432", *(f"{ip}:5432" for ip in others)]
    found = _probe(_first(docker_runtime, "catalog"), targets)
    assert found.pop("catalog-db:5432") == "open"  # its own: the probe does work
    assert "gaierror" in found.pop("orders-db:5432")  # not even the name resolves
    assert all(outcome != "open" for outcome in found.values()), found


def test_locust_reaches_the_edges_only_and_no_edge_reaches_a_database(
    docker_runtime: DockerRuntime,
) -> None:
    databases = [f"{ip}:5432" for ip in _addresses(docker_runtime, *DATABASES)]
    units = [f"{ip}:8000" for ip in _addresses(docker_runtime, *UNITS)]
    assert databases and units
    targets = {
        "locust": ["gateway:8000", "lb:8000", *databases, *units],
        **{edge: databases for edge in ("gateway", "lb", "dashboard")},
    }
    with ThreadPoolExecutor(len(targets)) as pool:  # a dropped packet waits for the timeout
        jobs = {s: pool.submit(_probe, _first(docker_runtime, s), t) for s, t in targets.items()}
        found = {service: job.result() for service, job in jobs.items()}
    assert found["locust"].pop("gateway:8000") == found["locust"].pop("lb:8000") == "open"
    for service, outcomes in found.items():
        assert all(outcome != "open" for outcome in outcomes.values()), (service, outcomes)


def test_a_database_lets_in_its_own_role_only_and_that_role_is_no_superuser(
    docker_runtime: DockerRuntime,
) -> None:
    result = _first(docker_runtime, "catalog").exec_run(["python3", "-c", LOGINS])
    assert result.exit_code == 0, result.output.decode(errors="replace")[-500:]
    found = json.loads(result.output)
    assert found.pop("catalog@catalog") == "ok"
    assert "password authentication failed" in found.pop("catalog@catalog, wrong password")
    for attempt, outcome in found.items():
        assert "no pg_hba.conf entry" in outcome, (attempt, outcome)
