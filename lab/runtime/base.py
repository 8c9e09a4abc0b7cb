"""What every runtime offers (process, docker, swarm): the verbs of the CLI, the experiments
and the dashboard, in one typed interface, and what they share (``next_version``).
``lab.runtimes.make_runtime`` picks one."""

from __future__ import annotations

from typing import Any, Literal, Protocol, TypedDict

from lab.errors import LabError
from lab.topology import Arch

Redeployed = TypedDict(
    "Redeployed",
    {
        "unit": str,
        "from": str,  # the version before (``from`` is a Python keyword: hence this form)
        "to": str,
        "impl_from": str,  # python or rust (the catalog has both)
        "impl_to": str,
        "replicas": int,
        "mode": Literal["restart", "rolling"],
        "seconds": float,  # the whole operation
        "outage_seconds": float,  # nothing served the unit (0 for a rolling redeploy)
    },
)
"""What ``redeploy`` returns, on every runtime (``twinshop redeploy`` prints it as a sentence)."""


def next_version(current: str) -> str:
    """The version after ``current``: ``1`` -> ``2``; anything not numeric needs --version."""
    if current.isdigit():
        return str(int(current) + 1)
    raise LabError(f"the current version {current!r} is not a number; pass --version V")


class Runtime(Protocol):
    """Runs both architectures; every method names a unit by its topology name
    (``gateway``, ``catalog``, ``orders``, ``lb``, ``monolith``), passed by position."""

    name: str
    host: str
    edge_ports: dict[Arch, int]

    def up(self, arches: tuple[Arch, ...], *, timeout: float = ...) -> dict[Arch, str]:
        """Start ``arches``; return each one's entry URL once every unit is healthy."""
        ...

    def down(self, *, volumes: bool = False) -> int:
        """Stop everything (``volumes``: also delete the data); returns how many stopped."""
        ...

    def status(self) -> dict[str, Any]:
        """The shape of ``twinshop status --json``."""
        ...

    def kill(self, unit: str, /) -> int:
        """Stop every instance at once; it stays down until ``start``."""
        ...

    def start(self, unit: str, /, *, timeout: float = ...) -> int:
        """Bring back what ``kill`` stopped; wait until healthy and routed."""
        ...

    def crash(self, unit: str, /) -> str:
        """SIGKILL one instance, as a crash would: it comes back by itself."""
        ...

    def scale(self, unit: str, replicas: int, /, *, timeout: float = ...) -> tuple[int, int]:
        """Run ``replicas`` instances; returns (before, after)."""
        ...

    def redeploy(
        self,
        unit: str,
        version: str | None = None,
        /,
        *,
        impl: str | None = ...,
        timeout: float = ...,
    ) -> Redeployed:
        """A new version (and with ``impl``, the catalog's other implementation): rolling
        with 2+ instances, stop-and-start with one."""
        ...

    def chaos(self, unit: str, /, **toggles: Any) -> list[dict[str, Any]]:
        """Set fault toggles on every instance; returns each one's toggles."""
        ...

    def admin_get(self, unit: str, path: str, /) -> Any:
        """GET an operator route (``/_…``) of one instance, with the admin token."""
        ...

    def admin_token(self) -> str:
        """The token of the admin routes."""
        ...

    def memory_mb(self, unit: str, /) -> float:
        """Resident memory of every instance of ``unit``, summed."""
        ...

    def reset(self) -> tuple[int, str]:
        """Stop everything and forget its data and versions (not the admin token): the next
        ``up`` starts at version 1 with fresh databases. Returns how many units stopped and
        what was forgotten."""
        ...

    # -- what the CLI tells a person about this runtime --------------------------------

    def where(self) -> str:
        """Where the shop lives: ``state in DIR``, ``compose project P``, ``swarm stack S``."""
        ...

    def logs_hint(self) -> str:
        """How to read the units' logs."""
        ...

    def side_services(self) -> dict[str, str]:
        """What runs beside both architectures (the live dashboard, locust), by name."""
        ...
