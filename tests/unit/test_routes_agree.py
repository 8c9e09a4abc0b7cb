"""One route table (shop/core/routes.py): the edge and the lab read it; compose and the
Kubernetes manifests keep a literal, held equal to it here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lab.topology import UNITS
from services.gateway.config import EdgeSettings
from shop.core.routes import GATEWAY_ROUTES, LB_ROUTES

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"gateway": dict(GATEWAY_ROUTES), "lb": dict(LB_ROUTES)}


def _env(entries: object) -> dict[str, str]:
    """A container's environment, written either as a mapping or as a list of name/value."""
    if isinstance(entries, dict):
        return {str(k): str(v) for k, v in entries.items()}
    assert isinstance(entries, list)
    return {e["name"]: str(e.get("value", "")) for e in entries}


@pytest.mark.parametrize("edge", sorted(TABLES))
def test_compose_routes_as_the_table_says(edge: str) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = _env(compose["services"][edge]["environment"])
    assert json.loads(env["TWINSHOP_ROUTES"]) == TABLES[edge]


@pytest.mark.parametrize("edge", sorted(TABLES))
def test_the_kubernetes_manifests_route_as_the_table_says(edge: str) -> None:
    documents = yaml.safe_load_all((ROOT / "deploy/k8s/base" / edge / f"{edge}.yaml").read_text())
    deployment = next(d for d in documents if d and d.get("kind") == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert json.loads(_env(container["env"])["TWINSHOP_ROUTES"]) == TABLES[edge]


def test_the_lab_and_the_edge_read_the_table() -> None:
    routes = {u.name: u.routes for units in UNITS.values() for u in units if u.edge}
    assert routes == TABLES
    assert TABLES["gateway"] == EdgeSettings(UNIT="gateway").ROUTES
    assert TABLES["lb"] == EdgeSettings(UNIT="lb").ROUTES
