"""The compose dashboard's view of the stack, from DNS and /health only (fakes for both)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lab.dashboard.network import NetworkView, shown_entries_from_env, url_of
from lab.dashboard.state import unit_view

ALL_UP = {
    "gateway": ["10.0.0.2"],
    "catalog": ["10.0.0.3", "10.0.0.4"],
    "orders": ["10.0.0.5"],
    "lb": ["10.0.0.6"],
    "monolith": ["10.0.0.7"],
}


class FakeNetwork:
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = dict(names)
        self.sick: set[str] = set()

    def resolve(self, name: str) -> list[str]:
        return list(self.names.get(name, []))

    def probe(self, url: str) -> dict[str, Any]:
        address = url.removeprefix("http://").split(":")[0]
        return {"instance": f"i-{address}", "version": "1", "healthy": address not in self.sick}


MakeView = Callable[..., NetworkView]


@pytest.fixture
def view() -> Iterator[MakeView]:
    """``view(network, **kwargs)``: a NetworkView over the fakes, closed after the test."""
    made: list[NetworkView] = []

    def make(network: FakeNetwork, **kwargs: Any) -> NetworkView:
        made.append(NetworkView(resolver=network.resolve, prober=network.probe, **kwargs))
        return made[-1]

    yield make
    for one in made:
        one.close()


def test_every_unit_and_replica_of_both_architectures_is_listed(view: MakeView) -> None:
    status = view(FakeNetwork(ALL_UP)).status()
    assert status["runtime"] == "compose"
    micro = status["architectures"]["micro"]
    assert micro["entry"] == "http://gateway:8000"
    assert [r["instance"] for r in micro["units"]["catalog"]] == ["i-10.0.0.3", "i-10.0.0.4"]
    assert all(r["healthy"] for r in micro["units"]["catalog"])
    assert set(status["architectures"]["mono"]["units"]) == {"lb", "monolith"}


def test_a_killed_unit_keeps_its_last_replicas_shown_unhealthy(view: MakeView) -> None:
    network = FakeNetwork(ALL_UP)
    shop = view(network)
    shop.status()
    network.names["orders"] = []  # docker kill: the name stops resolving
    units = shop.status()["architectures"]["micro"]["units"]
    assert units["orders"] == [
        {"url": url_of("10.0.0.5"), "instance": "i-10.0.0.5", "version": "1", "healthy": False}
    ]
    assert unit_view("orders", False, units["orders"])["state"] == "down"
    assert unit_view("catalog", False, units["catalog"])["state"] == "up"
    network.names["orders"] = ["10.0.0.9"]  # started again: a new container
    again = shop.status()["architectures"]["micro"]["units"]["orders"]
    assert [(r["instance"], r["healthy"]) for r in again] == [("i-10.0.0.9", True)]


def test_a_replica_that_fails_its_health_makes_the_unit_degraded(view: MakeView) -> None:
    network = FakeNetwork(ALL_UP)
    network.sick.add("10.0.0.4")
    units = view(network).status()["architectures"]["micro"]["units"]
    assert unit_view("catalog", False, units["catalog"])["state"] == "degraded"


def test_a_unit_never_seen_is_down_with_no_replicas(view: MakeView) -> None:
    names = {k: v for k, v in ALL_UP.items() if k != "orders"}
    units = view(FakeNetwork(names)).status()["architectures"]["micro"]["units"]
    assert units["orders"] == []
    assert unit_view("orders", False, [])["state"] == "down"


def test_an_architecture_with_nothing_running_is_left_out(view: MakeView) -> None:
    names = {k: v for k, v in ALL_UP.items() if k in ("lb", "monolith")}
    assert set(view(FakeNetwork(names)).status()["architectures"]) == {"mono"}


def test_the_page_shows_the_published_address_but_scrapes_the_service(view: MakeView) -> None:
    shop = view(FakeNetwork(ALL_UP), shown={"micro": "http://127.0.0.1:8080"})
    micro = shop.status()["architectures"]["micro"]
    assert micro["shown_entry"] == "http://127.0.0.1:8080"
    assert micro["entry"] == "http://gateway:8000"


def test_shown_entries_come_from_a_json_environment_variable(monkeypatch: Any) -> None:
    monkeypatch.setenv("TWINSHOP_DASHBOARD_ENTRIES", '{"micro": "http://127.0.0.1:8080"}')
    assert shown_entries_from_env() == {"micro": "http://127.0.0.1:8080"}
    monkeypatch.setenv("TWINSHOP_DASHBOARD_ENTRIES", '{"mono": "http://0.0.0.0:8081"}')
    assert shown_entries_from_env() == {"mono": "http://127.0.0.1:8081"}
    monkeypatch.setenv("TWINSHOP_DASHBOARD_ENTRIES", "not json")
    assert shown_entries_from_env() == {}


def test_a_hanging_lookup_counts_as_not_resolving_and_is_not_repeated() -> None:
    import threading

    network = FakeNetwork(ALL_UP)
    release = threading.Event()
    calls: list[str] = []

    def resolver(name: str) -> list[str]:
        calls.append(name)
        if name == "orders":
            release.wait(10)  # the host's DNS does not answer
            return []
        return network.resolve(name)

    shop = NetworkView(resolver=resolver, prober=network.probe)
    try:
        units = shop.status()["architectures"]["micro"]["units"]
        assert units["orders"] == [] and len(units["catalog"]) == 2
        shop.status()
        assert calls.count("orders") == 1  # still in flight: not asked again
    finally:
        release.set()
        shop.close()
