"""What runs where: the units of each architecture and how they find each other.

Both architectures sit behind the same edge program (``services/gateway``), so every
difference we measure comes from what is behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shop.core.routes import GATEWAY_ROUTES, LB_ROUTES

Arch = Literal["micro", "mono"]
ARCHES: tuple[Arch, ...] = ("micro", "mono")


@dataclass(frozen=True)
class Unit:
    name: str
    arch: Arch
    app: str  # the ASGI app, "module:attribute" (edges run "python -m services.gateway")
    edge: bool = False
    database: bool = False
    routes: dict[str, str] = field(default_factory=dict)  # edges only: prefix -> upstream
    needs: tuple[str, ...] = ()  # units it calls (found through discovery)


UNITS: dict[Arch, tuple[Unit, ...]] = {
    "micro": (
        Unit(
            "gateway",
            "micro",
            "services.gateway.app:app",
            edge=True,
            routes=dict(GATEWAY_ROUTES),
        ),
        Unit("catalog", "micro", "services.catalog.app:app", database=True),
        Unit("orders", "micro", "services.orders.app:app", database=True, needs=("catalog",)),
    ),
    "mono": (
        Unit("lb", "mono", "services.gateway.app:app", edge=True, routes=dict(LB_ROUTES)),
        Unit("monolith", "mono", "monolith.app:app", database=True),
    ),
}

EDGE_OF: dict[Arch, str] = {"micro": "gateway", "mono": "lb"}


def unit_named(name: str) -> Unit:
    for units in UNITS.values():
        for unit in units:
            if unit.name == name:
                return unit
    known = ", ".join(u.name for units in UNITS.values() for u in units)
    from lab.errors import LabError

    raise LabError(f"no unit called {name!r}; the units are: {known}")


def arches_for(choice: str) -> tuple[Arch, ...]:
    if choice == "both":
        return ARCHES
    if choice in ARCHES:
        return (choice,)  # type: ignore[return-value]
    from lab.errors import LabError

    raise LabError(f"--arch must be micro, mono or both, not {choice!r}")


def behind_an_edge(unit: str) -> bool:
    """Does an edge route requests to ``unit`` (catalog, orders, monolith: yes)?"""
    arch = unit_named(unit).arch
    return any(u.edge and unit in u.routes.values() for u in UNITS[arch])
