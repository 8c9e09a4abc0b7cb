"""Every overlay renders, validates strictly against a current Kubernetes version's schemas,
and keeps the promises the README makes (hardening, rollouts, autoscaling, policies)."""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate
import pytest

from tests.k8s.conftest import K8S, OVERLAYS, ROOT

KUBERNETES_VERSION = "1.34.0"
UNITS_WITH_HPA = {"catalog", "orders", "monolith"}


def named(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly_against_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    errors = []
    for doc in rendered[overlay]:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_overlays_hold_their_architecture_only(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployments = {o: set(named(docs, "Deployment")) for o, docs in rendered.items()}
    assert deployments["micro"] == {"gateway", "catalog", "orders"}
    assert deployments["mono"] == {"lb", "monolith"}
    assert deployments["both"] == deployments["micro"] | deployments["mono"]
    assert deployments["workshop"] == deployments["both"] | {"dashboard", "locust"}
    for docs in rendered.values():
        assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {
            "twinshop"
        }


def test_every_container_is_non_root_read_only_and_drops_every_capability(
    workshop: list[dict[str, Any]],
) -> None:
    for workload in workloads(workshop):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            assert "add" not in security["capabilities"]
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert limits["memory"] and requests["cpu"], container["name"]


def test_deployments_roll_without_losing_capacity(workshop: list[dict[str, Any]]) -> None:
    for name, deployment in named(workshop, "Deployment").items():
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, name


def test_units_autoscale_and_every_serving_unit_has_a_disruption_budget(
    workshop: list[dict[str, Any]],
) -> None:
    hpas = named(workshop, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == UNITS_WITH_HPA
    budgets = named(workshop, "PodDisruptionBudget")
    assert set(budgets) == UNITS_WITH_HPA | {"gateway", "lb"}


def test_traffic_is_denied_by_default_and_databases_admit_only_their_unit(
    workshop: list[dict[str, Any]],
) -> None:
    policies = named(workshop, "NetworkPolicy")
    deny = policies["deny-by-default"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for unit in ("catalog", "orders", "monolith"):
        rules = policies[f"{unit}-db"]["spec"]["ingress"]
        sources = [peer["podSelector"]["matchLabels"] for r in rules for peer in r["from"]]
        assert sources == [{"app.kubernetes.io/name": unit}]
    open_to_all = {
        name
        for name, p in policies.items()
        for rule in p["spec"].get("ingress", [])
        if "from" not in rule
    }
    assert open_to_all == {"gateway", "lb", "dashboard", "locust"}


def test_no_secret_value_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", str(K8S)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "deploy/k8s is not tracked by git"
    assert not [path for path in tracked if path.endswith(".secret")]
