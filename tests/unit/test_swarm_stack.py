"""The swarm stack file is derived from docker-compose.yml, not written twice: budgets,
secrets, networks, publishing and update policies come out as the swarm runtime promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.runtime.swarm_stack import interpolate, memory_bytes, secret_jobs, stack_file

ROOT = Path(__file__).resolve().parents[2]
EVERYTHING = [
    "gateway", "catalog", "orders", "catalog-db", "orders-db",
    "lb", "monolith", "monolith-db", "locust", "dashboard",
]  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    env = {"TWINSHOP_GATEWAY_PORT": "18080", "TWINSHOP_UNIT_CPUS": "0.75"}
    return dict(interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), env))


@pytest.fixture(scope="module")
def stack(compose: dict[str, Any]) -> dict[str, Any]:
    return stack_file(compose, EVERYTHING, stack="shop", root=ROOT)[0]


def test_interpolation_takes_the_environment_then_the_default_and_keeps_dollar_dollar() -> None:
    assert interpolate("${A:-x}/${B:-y}/${C-z}/$$D", {"A": "1", "B": ""}) == "1/y/z/$$D"


def test_every_service_keeps_its_compose_image_environment_and_budget(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name in EVERYTHING:
        ours, theirs = stack["services"][name], compose["services"][name]
        assert ours["image"] == theirs["image"]
        assert set(ours.get("environment", {})) == set(theirs.get("environment") or {})
        limits = ours["deploy"].get("resources", {}).get("limits", {})
        if "cpus" in theirs:
            assert float(limits["cpus"]) == float(theirs["cpus"])
        if "mem_limit" in theirs:
            assert memory_bytes(limits["memory"]) == memory_bytes(theirs["mem_limit"])
    assert stack["services"]["catalog"]["deploy"]["resources"]["limits"]["cpus"] == "0.75"


def test_secret_jobs_do_not_run_and_their_files_become_swarm_secrets(
    compose: dict[str, Any],
) -> None:
    stack, needed = stack_file(compose, EVERYTHING, stack="shop", root=ROOT)
    assert not secret_jobs(compose["services"]) & set(stack["services"])
    assert needed and all(v == f"shop_{k}" for k, v in needed.items())
    assert stack["secrets"] == {k: {"external": True, "name": v} for k, v in needed.items()}
    catalog = stack["services"]["catalog"]
    env = catalog["environment"]
    mounted = {s["target"] for s in catalog["secrets"]}
    assert {v for k, v in env.items() if k.endswith("_FILE")} == mounted
    for service in stack["services"].values():
        for volume in service.get("volumes", []):
            assert isinstance(volume, dict) or not str(volume).startswith("secrets")


def test_networks_are_overlays_and_the_backend_stays_internal(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name, network in stack["networks"].items():
        assert network["driver"] == "overlay"
        assert network.get("internal", False) == bool(
            (compose["networks"].get(name) or {}).get("internal")
        )


def test_edges_publish_on_their_node_and_units_resolve_to_every_task(
    stack: dict[str, Any],
) -> None:
    gateway = stack["services"]["gateway"]
    assert gateway["ports"] == [
        {"target": 8000, "protocol": "tcp", "mode": "host", "published": 18080}
    ]
    assert all(s["deploy"]["endpoint_mode"] == "dnsrr" for s in stack["services"].values())
    ingress = stack_file(
        {"services": {"lb": {"image": "x", "ports": ["1:2"]}}}, ["lb"],
        stack="s", root=ROOT, publish="ingress",
    )[0]  # fmt: skip
    assert ingress["services"]["lb"]["deploy"]["endpoint_mode"] == "vip"
    assert ingress["services"]["lb"]["ports"][0]["mode"] == "ingress"


def test_units_roll_start_first_and_databases_stop_first_on_a_manager(
    stack: dict[str, Any],
) -> None:
    for name, service in stack["services"].items():
        deploy = service["deploy"]
        assert deploy["replicas"] == 1 and deploy["restart_policy"]["condition"] == "any"
        assert deploy["update_config"]["failure_action"] == "rollback"
        if name.endswith("-db"):
            assert deploy["update_config"]["order"] == "stop-first"
            assert deploy["placement"] == {"constraints": ["node.role == manager"]}
        else:
            assert deploy["update_config"]["order"] == "start-first"
            assert deploy["placement"] == {"preferences": [{"spread": "node.id"}]}


def test_healthchecks_are_patient_because_swarm_replaces_unhealthy_tasks(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name, service in stack["services"].items():
        health = service["healthcheck"]
        assert health["retries"] * 5 >= 30 and health["timeout"] == "10s", name
        if "healthcheck" in compose["services"][name]:
            assert health["test"] == compose["services"][name]["healthcheck"]["test"]
        else:
            assert "test" not in health  # the image's own probe
