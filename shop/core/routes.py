"""The route table of each edge: path prefix -> upstream unit. Declared once, here.

The edge (``services/gateway/config.py``) and the lab (``lab/topology.py``) read it;
``docker-compose.yml`` and the Kubernetes manifests keep a literal, which
tests/unit/test_routes_agree.py holds equal to this table.
"""

from __future__ import annotations

from types import MappingProxyType

GATEWAY_ROUTES = MappingProxyType({"/products": "catalog", "/orders": "orders"})
"""The microservices' gateway: by path prefix to the service that owns the resource."""

LB_ROUTES = MappingProxyType({"/": "monolith"})
"""The monolith's load balancer: every route to the monolith."""
