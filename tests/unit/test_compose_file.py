"""docker-compose.yml grants each container only what it needs: read the file, no Docker.
The same settings are checked on running containers in tests/docker/test_least_privilege.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
UNITS = ("catalog", "orders", "monolith")
DATABASES = {"catalog-db": "catalog", "orders-db": "orders", "monolith-db": "monolith"}
EDGES = ("gateway", "lb")
SECRET_JOBS = ("admin-secret", "catalog-db-secret", "orders-db-secret", "monolith-db-secret")
MEMBERS = {
    "public": {"gateway", "lb", "locust", "dashboard", "jaeger"},
    "micro": {"gateway", "catalog", "orders", "dashboard"},
    "mono": {"lb", "monolith", "dashboard"},
    "catalog-data": {"catalog", "catalog-db"},
    "orders-data": {"orders", "orders-db"},
    "monolith-data": {"monolith", "monolith-db"},
}
"""Who shares a network with whom: a database with its own service only; locust with the
edges only. (The dashboard reads each replica's /health, so it sits on the units' networks.)"""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def _volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volume (or host path) -> where it is mounted, with its mode."""
    out = {}
    for spec in service.get("volumes", []):
        source, target = spec.split(":", 1)
        out[source] = target
    return out


def test_every_service_is_read_only_without_capabilities_or_privilege_gain(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        assert service.get("read_only") is True, name
        assert service.get("cap_drop") == ["ALL"], name
        assert "cap_add" not in service, name
        assert service.get("security_opt") == ["no-new-privileges:true"], name
        assert "privileged" not in service, name
        assert 0 < int(service["pids_limit"]) <= 256, name
        assert any(t.startswith("/tmp:") for t in service.get("tmpfs", [])), name


def test_every_tmpfs_is_size_bounded(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for mount in service["tmpfs"]:
            assert "size=" in mount, (name, mount)


def test_every_long_running_service_has_a_cpu_and_memory_limit(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        if name in SECRET_JOBS:
            assert service["restart"] == "no" and service["network_mode"] == "none", name
            continue
        assert service.get("cpus"), name
        assert service.get("mem_limit"), name


def test_databases_and_locust_get_a_budget_set_by_a_variable(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in DATABASES:
        assert services[name]["cpus"] == "${TWINSHOP_DB_CPUS:-1.0}", name
        assert services[name]["mem_limit"] == "${TWINSHOP_DB_MEMORY:-256m}", name
    assert services["locust"]["cpus"] == "${TWINSHOP_LOCUST_CPUS:-1.0}"
    assert services["locust"]["mem_limit"] == "${TWINSHOP_LOCUST_MEMORY:-512m}"


def test_postgres_runs_as_its_own_user(services: dict[str, dict[str, Any]]) -> None:
    for name in DATABASES:
        assert services[name]["user"] == "999:999", name


def test_each_database_shares_a_network_with_its_own_service_only(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    members: dict[str, set[str]] = {}
    for name, service in services.items():
        for network in service.get("networks", []):
            members.setdefault(network, set()).add(name)
    assert members == MEMBERS
    for network, settings in compose["networks"].items():
        assert (settings or {}).get("internal", False) is (network != "public"), network


def test_only_the_units_see_the_admin_token(services: dict[str, dict[str, Any]]) -> None:
    holders = {name for name, s in services.items() if "admin-secret" in _volumes(s)}
    assert holders == {"admin-secret", *UNITS}
    for unit in UNITS:
        assert _volumes(services[unit])["admin-secret"] == "/run/twinshop/admin:ro"


def test_each_database_password_is_seen_by_that_database_and_its_service_only(
    services: dict[str, dict[str, Any]],
) -> None:
    for database, unit in DATABASES.items():
        volume = f"{database}-secret"
        holders = {name for name, s in services.items() if volume in _volumes(s)}
        assert holders == {volume, database, unit}, volume
        for holder in (database, unit):
            assert _volumes(services[holder])[volume] == "/run/twinshop/db:ro", holder


def test_each_database_has_its_own_owner_named_in_its_service_url(
    services: dict[str, dict[str, Any]],
) -> None:
    for database, unit in DATABASES.items():
        env = services[database]["environment"]
        assert env["TWINSHOP_DB_OWNER"] == env["POSTGRES_DB"] == unit
        assert "POSTGRES_PASSWORD" not in env and "POSTGRES_USER" not in env
        assert env["POSTGRES_PASSWORD_FILE"] == "/run/twinshop/db/password"
        url = services[unit]["environment"]["TWINSHOP_DATABASE_URL"]
        assert url == f"postgresql+psycopg://{unit}@{database}:5432/{unit}"
        init = _volumes(services[database])["./docker/postgres/only-its-owner.sh"]
        assert init.startswith("/docker-entrypoint-initdb.d/") and init.endswith(":ro")


def test_no_secret_value_is_written_in_the_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        env = service.get("environment") or {}
        for key in env:
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert key.endswith("_FILE"), (name, key)
