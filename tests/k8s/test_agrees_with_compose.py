"""The manifests and docker-compose.yml describe the same stack: same images, environment
names, ports, probe paths and budgets. Change one without the other and this fails."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from tests.k8s.conftest import ROOT

SERVED = ("gateway", "catalog", "orders", "lb", "monolith", "dashboard", "locust")
DATABASES = ("catalog-db", "orders-db", "monolith-db")
UNITS = ("gateway", "catalog", "orders", "lb", "monolith")


def interpolate(value: Any) -> Any:
    """compose's ``${NAME:-default}`` with nothing set: the default."""
    if isinstance(value, str):
        return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = (ROOT / "docker-compose.yml").read_text()
    return dict(interpolate(yaml.safe_load(text))["services"])


@pytest.fixture(scope="module")
def containers(workshop: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Workload name -> its (only) container."""
    out = {}
    for doc in workshop:
        if doc["kind"] in ("Deployment", "StatefulSet"):
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            out[doc["metadata"]["name"]] = container
    return out


def env_names(container: dict[str, Any]) -> set[str]:
    return {e["name"] for e in container.get("env", [])}


def cpu(quantity: str | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory(quantity: str) -> int:
    """Bytes, from compose's ``256m`` or Kubernetes' ``256Mi``."""
    number, unit = re.fullmatch(r"([\d.]+)([A-Za-z]*)", str(quantity)).groups()  # type: ignore[union-attr]
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    return int(float(number) * scale[unit.lower()])


@pytest.mark.parametrize("name", SERVED + DATABASES)
def test_same_image(compose: dict[str, Any], containers: dict[str, Any], name: str) -> None:
    assert containers[name]["image"] == compose[name]["image"]


@pytest.mark.parametrize("name", SERVED)
def test_same_environment_names(
    compose: dict[str, Any], containers: dict[str, Any], name: str
) -> None:
    assert env_names(containers[name]) == set(compose[name].get("environment") or {})


@pytest.mark.parametrize("name", DATABASES)
def test_databases_get_every_compose_variable(
    compose: dict[str, Any], containers: dict[str, Any], name: str
) -> None:
    assert set(compose[name]["environment"]) <= env_names(containers[name])


@pytest.mark.parametrize("name", SERVED + DATABASES)
def test_same_budget(compose: dict[str, Any], containers: dict[str, Any], name: str) -> None:
    limits = containers[name]["resources"]["limits"]
    service = compose[name]
    if "cpus" in service:
        assert cpu(limits["cpu"]) == pytest.approx(float(service["cpus"]))
    if "mem_limit" in service:
        assert memory(limits["memory"]) == memory(service["mem_limit"])


@pytest.mark.parametrize("name", ("gateway", "lb", "dashboard", "locust"))
def test_published_port_is_the_container_port(
    compose: dict[str, Any], containers: dict[str, Any], name: str
) -> None:
    (published,) = compose[name]["ports"]
    assert [p["containerPort"] for p in containers[name]["ports"]] == [
        int(published.rsplit(":", 1)[1])
    ]


def test_every_address_in_compose_is_a_service_port(
    compose: dict[str, Any], workshop: list[dict[str, Any]]
) -> None:
    """``http://catalog:8000``, ``…@orders-db:5432/…``: each (name, port) one unit or edge
    uses to reach another is a Service of that name with that port."""
    services = {
        d["metadata"]["name"]: {p["port"] for p in d["spec"]["ports"]}
        for d in workshop
        if d["kind"] == "Service"
    }
    text = yaml.safe_dump({n: compose[n].get("environment") for n in UNITS})
    addresses = set(re.findall(r"[/@]([a-z][a-z-]*):(\d+)", text))
    assert len(addresses) >= 6
    for host, port in addresses:
        assert int(port) in services.get(host, set()), f"{host}:{port}"


@pytest.mark.parametrize("name", UNITS)
def test_probes_use_the_paths_the_images_check(containers: dict[str, Any], name: str) -> None:
    healthcheck = (ROOT / "docker" / "healthcheck.py").read_text()
    (health_path,) = re.findall(r"http://127\.0\.0\.1:8000(/\w+)", healthcheck)
    container = containers[name]
    assert container["livenessProbe"]["httpGet"]["path"] == health_path
    assert container["startupProbe"]["httpGet"]["path"] == health_path
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert [p["containerPort"] for p in container["ports"]] == [8000]


def test_databases_run_the_same_init_script_as_compose(compose: dict[str, Any]) -> None:
    """deploy/k8s keeps a copy of the script compose binds (kustomize reads no file outside
    its folder): the copy must be the same file."""
    bound = {
        mount.split(":")[0]
        for name in DATABASES
        for mount in compose[name].get("volumes", [])
        if str(mount).startswith("./")
    }
    assert bound == {"./docker/postgres/only-its-owner.sh"}
    copy = ROOT / "deploy" / "k8s" / "base" / "postgres-init" / "only-its-owner.sh"
    assert copy.read_bytes() == (ROOT / "docker" / "postgres" / "only-its-owner.sh").read_bytes()
