"""The process runtime's state store: ``state.json`` under the state directory's lock, the
instance records in it, and the discovery files written from it.

``state.json`` holds one record per instance (arch, unit, pid, port, url, log, version, impl,
cpus) plus a few flags:

- ``stopped``: put down on purpose (``twinshop kill``); stays down until ``start``;
- ``published``: listed in the discovery file (absent means yes);
- ``pending``: a time stamp; a CLI operation (up, start, scale, redeploy) is moving this
  instance, so the supervisor leaves it alone (for at most ``PENDING_TIMEOUT`` seconds,
  in case that CLI died half-way).

The CLI and the supervisor (``lab.supervisor``) both change it: every load-modify-save
holds the state directory's lock (:meth:`StateStore.transaction`), and instances are named by
port. The functions below read or change a state already loaded under that lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lab.errors import LabError
from lab.runtime import processes
from lab.state import StateDir
from lab.topology import UNITS, Arch, Unit

PENDING_TIMEOUT = 120.0

State = dict[str, Any]
"""``state.json`` as loaded: ``{"runtime", "host", "architectures": {arch: {"entry",
"units": {unit: [Record, ...]}}}, "unit_env", "supervisor"}``."""
Record = dict[str, Any]
"""One instance, as described in the module docstring."""


class StateStore:
    """``state.json`` of one state directory, always changed under its lock."""

    def __init__(self, state: StateDir, runtime_name: str) -> None:
        self.dir = state
        self.runtime_name = runtime_name

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """Load the state under the lock, let the caller change it, save it (not on error)."""
        with self.dir.lock():
            state = self.load()
            yield state
            self.dir.save(state)

    def load(self) -> State:
        state = self.dir.load()
        state.setdefault("runtime", self.runtime_name)
        state.setdefault("architectures", {})
        return state

    def publish(self, state: State, arch: str, unit: str) -> None:
        """Rewrite a unit's discovery file from the state (call it in a transaction)."""
        records = state["architectures"][arch]["units"].get(unit, [])
        urls = [r["url"] for r in records if not r.get("stopped") and r.get("published", True)]
        self.dir.write_replicas(arch, unit, urls)


def all_records(state: State) -> list[tuple[str, str, Record]]:
    """(arch, unit, record) of every instance in the state."""
    return [
        (arch, unit, record)
        for arch, body in state["architectures"].items()
        for unit, records in body["units"].items()
        for record in records
    ]


def unit_records(state: State, unit_name: str) -> tuple[Arch, list[Record]]:
    """The architecture running ``unit_name`` and its records (the list in the state)."""
    for arch, body in state["architectures"].items():
        if unit_name in body["units"]:
            return arch, body["units"][unit_name]
    running = sorted(u for body in state["architectures"].values() for u in body["units"])
    raise LabError(
        f"{unit_name!r} is not running here; running units: {', '.join(running) or 'none'}"
    )


def is_pending(record: Record, now: float) -> bool:
    """A CLI operation is moving this instance (and has not been gone for too long)."""
    since = record.get("pending")
    return isinstance(since, int | float) and now - since < PENDING_TIMEOUT


def movable_records(state: State, unit_name: str, now: float) -> tuple[Arch, list[Record]]:
    """The unit's records, when no instance is stopped or being moved by another command."""
    arch, records = unit_records(state, unit_name)
    if any(r.get("stopped") for r in records):
        raise LabError(f"{unit_name} has stopped instances; run `twinshop start {unit_name}`")
    if any(is_pending(r, now) for r in records):
        raise LabError(f"another command is changing {unit_name} right now; try again")
    return arch, records


def find(state: State, arch: str, unit: str, port: int) -> Record:
    """The record of the instance of ``unit`` on ``port``."""
    records = state["architectures"].get(arch, {}).get("units", {}).get(unit, [])
    for record in records:
        if record["port"] == port:
            return record
    raise LabError(f"{unit} on port {port} vanished from the state (did `down` run?)")


def unit_of(arch: Arch, unit_name: str) -> Unit:
    return next(u for u in UNITS[arch] if u.name == unit_name)


def is_running(state: State, arch: str) -> bool:
    """Some instance of ``arch`` is alive."""
    body = state["architectures"].get(arch)
    if not body:
        return False
    return any(processes.alive(r["pid"]) for rs in body["units"].values() for r in rs)
