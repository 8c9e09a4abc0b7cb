"""Hops are counted from one request id across the units' log lines."""

from __future__ import annotations

from lab.experiments.hops import lines_with

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
