"""The process runtime's state store and launcher, without starting a process: records in
``state.json``, the discovery files written from them, and an instance's environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.runtime.process_launcher import Launcher, cpu_group
from lab.runtime.process_state import (
    PENDING_TIMEOUT,
    Record,
    State,
    StateStore,
    all_records,
    find,
    is_pending,
    movable_records,
    unit_records,
)
from lab.state import StateDir
from lab.topology import unit_named


def record(unit: str, port: int, **flags: object) -> Record:
    return {"arch": "micro", "unit": unit, "port": port, "pid": 0,
            "url": f"http://127.0.0.1:{port}", **flags}  # fmt: skip


def micro(*catalog: Record) -> State:
    return {"architectures": {"micro": {"entry": "http://127.0.0.1:1", "units": {
        "catalog": list(catalog), "orders": [record("orders", 9)]}}}}  # fmt: skip


def test_records_are_found_by_unit_and_port() -> None:
    state = micro(record("catalog", 7), record("catalog", 8))
    assert [(a, u, r["port"]) for a, u, r in all_records(state)] == [
        ("micro", "catalog", 7), ("micro", "catalog", 8), ("micro", "orders", 9)]  # fmt: skip
    arch, records = unit_records(state, "catalog")
    assert arch == "micro" and [r["port"] for r in records] == [7, 8]
    assert find(state, "micro", "catalog", 8) is records[1]
    with pytest.raises(LabError, match="running units: catalog, orders"):
        unit_records(state, "monolith")
    with pytest.raises(LabError, match="vanished"):
        find(state, "micro", "catalog", 9)


def test_an_instance_is_pending_for_a_while_only() -> None:
    assert not is_pending(record("catalog", 7), now=1000.0)
    assert is_pending(record("catalog", 7, pending=990.0), now=1000.0)
    assert not is_pending(record("catalog", 7, pending=1000.0 - PENDING_TIMEOUT), now=1000.0)


def test_stopped_or_moving_instances_are_not_movable() -> None:
    assert movable_records(micro(record("catalog", 7)), "catalog", now=1.0)[0] == "micro"
    with pytest.raises(LabError, match="twinshop start catalog"):
        movable_records(micro(record("catalog", 7, stopped=True)), "catalog", now=1.0)
    with pytest.raises(LabError, match="another command"):
        movable_records(micro(record("catalog", 7, pending=1.0)), "catalog", now=2.0)


def test_a_transaction_saves_and_publishes_only_what_serves(tmp_path: Path) -> None:
    directory = StateDir(tmp_path)
    store = StateStore(directory, "process")
    with store.transaction() as state:
        state.update(micro(record("catalog", 7), record("catalog", 8, published=False),
                           record("catalog", 6, stopped=True)))  # fmt: skip
        store.publish(state, "micro", "catalog")
    assert json.loads(directory.replicas_file("micro", "catalog").read_text()) == [
        "http://127.0.0.1:7"
    ]
    assert store.load()["runtime"] == "process"
    with pytest.raises(RuntimeError), store.transaction() as state:
        state["architectures"] = {}
        raise RuntimeError("half-way")
    assert unit_records(store.load(), "catalog")[0] == "micro"  # not saved on error


def test_an_instance_finds_its_database_neighbours_and_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TWINSHOP_DATABASE_URL", raising=False)
    directory = StateDir(tmp_path)
    launcher = Launcher(directory, host="127.0.0.1", unit_env={"orders": {"X": "mine"}})
    env = launcher.environment(
        unit_named("orders"), token="t", version="3", extra={"X": "state", "Y": "state"}
    )
    assert env["TWINSHOP_UNIT"] == "orders" and env["TWINSHOP_VERSION"] == "3"
    assert env["TWINSHOP_ADMIN_TOKEN"] == "t"
    assert env["TWINSHOP_DATABASE_URL"] == f"sqlite:///{directory.data / 'micro-orders.db'}"
    assert env["TWINSHOP_CATALOG_URL"] == f"file://{directory.replicas_file('micro', 'catalog')}"
    assert (env["X"], env["Y"]) == ("mine", "state")  # the runtime's own over the state's
    edge = launcher.environment(unit_named("gateway"), token="t", version="1", extra={})
    assert json.loads(edge["TWINSHOP_ROUTES"]) == {"/products": "catalog", "/orders": "orders"}
    assert set(json.loads(edge["TWINSHOP_UPSTREAMS"])) == {"catalog", "orders"}
    assert "TWINSHOP_DATABASE_URL" not in edge
    assert cpu_group(record("catalog", 7)) == "micro-catalog-7"
