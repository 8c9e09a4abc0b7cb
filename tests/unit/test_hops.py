"""Hops are counted from one request id across the units' log lines, and measured from traces."""

from __future__ import annotations

from lab.experiments.hops import lines_with
from lab.experiments.traced import summarise, text

RID = "0a4a2f917f8a911d725e580f50e1788a"
LINES = [
    '{"ts":"t1","unit":"gateway","request_id":"RID","route":"orders","status":201}',
    '{"ts":"t0","unit":"orders","request_id":"RID","route":"/orders","status":201}',
    "INFO: Started server process [12]",
    '{"ts":"t0","unit":"catalog","request_id":"RID","route":"/reservations","status":200}',
    '{"ts":"t2","unit":"catalog","request_id":"other","route":"/products/1","status":200}',
    '{"ts":"t3","unit":"catalog","note":"mentions RID but is another request"}',
    "not json RID {",
]
LINES = [line.replace("RID", RID) for line in LINES]


def test_the_lines_of_one_request_are_its_hops() -> None:
    found = lines_with(RID, LINES)
    assert sorted(e["unit"] for e in found) == ["catalog", "gateway", "orders"]
    assert lines_with("missing", LINES) == []


def trace(total: float, network: float, calls: list[tuple[str, str]]) -> dict[str, object]:
    return {
        "trace_id": f"t{total}", "hops": len(calls), "total_ms": total,
        "network_ms": network, "process_ms": total - network,
        "calls": [{"from": a, "to": b} for a, b in calls],
    }  # fmt: skip


def test_hops_and_network_time_come_from_the_traces() -> None:
    calls = [("gateway", "orders"), ("orders", "catalog")]
    measured = summarise(
        {
            "checkout": [trace(10, 2, calls), trace(30, 4, calls), trace(12, 3, calls)],
            "browse": [],
        }
    )
    checkout = measured["checkout"]
    assert (checkout["hops"], checkout["path"]) == (2, ["gateway→orders", "orders→catalog"])
    assert (checkout["total_ms"], checkout["network_ms"], checkout["process_ms"]) == (12, 3, 9)
    assert measured["browse"] is None
    assert text(measured, "checkout") == (
        "2 hops past the entry (gateway→orders, orders→catalog): network 3 ms, in process "
        "9 ms of 12 ms"
    )
    assert text(measured, "browse").startswith("not traced")
