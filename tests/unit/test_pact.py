"""The small Pact v3 reader, mock and verifier that the orders-catalog contract uses."""

from __future__ import annotations

from pathlib import Path

import httpx

from lab.pact import Interaction, MockProvider, Pact, mismatches, verify

TYPE = {"matchers": [{"match": "type"}]}
RESERVE = Interaction(
    "reserve",
    request={"method": "PUT", "path": "/r/1", "headers": {"X-Budget": "50"},
             "body": {"n": 1},
             "matchingRules": {"header": {"X-Budget": {"matchers": [
                 {"match": "regex", "regex": "[0-9]+"}]}}}},
    response={"status": 200, "body": {"items": [{"id": 1, "price": 10}], "ok": True},
              "matchingRules": {"body": {"$.items": {"matchers": [{"match": "type", "min": 1}]},
                                         "$.items[*].price": TYPE}}},
)  # fmt: skip


def answer(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, json=body)


def test_a_response_may_add_keys_and_vary_where_a_rule_says_so() -> None:
    body = {"items": [{"id": 1, "price": 99, "extra": "x"}, {"id": 1, "price": 5}], "ok": True,
            "more": 1}  # fmt: skip
    assert mismatches(RESERVE.response, answer(200, body)) == []


def test_a_response_fails_on_a_missing_key_a_wrong_type_or_value_or_status() -> None:
    def problems(status: int, body: object) -> list[str]:
        return mismatches(RESERVE.response, answer(status, body))

    assert problems(200, {"items": [{"id": 1}], "ok": True}) == ["$.items[0].price: missing"]
    wrong_type = problems(200, {"items": [{"id": 1, "price": "10"}], "ok": True})
    assert wrong_type == ['$.items[0].price: expected a int, got "10"']
    empty = problems(200, {"items": [], "ok": True})
    assert empty == ["$.items: expected at least 1 items, got 0"]
    assert problems(201, {"items": [{"id": 2, "price": 1}], "ok": False}) == [
        "status: expected 200, got 201",
        "$.items[0].id: expected 1, got 2",
        "$.ok: expected true, got false",
    ]


def test_the_mock_answers_only_requests_the_pact_names() -> None:
    mock = MockProvider([RESERVE])
    with httpx.Client(transport=mock.transport, base_url="http://p") as client:
        assert client.put("/r/1", json={"n": 1}, headers={"X-Budget": "1234"}).status_code == 200
        assert client.put("/r/1", json={"n": 1}, headers={"X-Budget": "soon"}).status_code == 500
        assert client.put("/r/1", json={"n": 1}).status_code == 500
    assert mock.missed() == [] and len(mock.unexpected) == 2


def test_a_pact_file_round_trips_and_verify_names_missing_states(tmp_path: Path) -> None:
    pact = Pact("orders", "catalog", [Interaction(
        "stated", request={"method": "GET", "path": "/x"}, response={"status": 200},
        states=[{"name": "unknown state", "params": {}}])])  # fmt: skip
    path = tmp_path / "p.json"
    path.write_text(pact.text())
    loaded = Pact.load(path)
    assert loaded.as_json() == pact.as_json()
    assert loaded.as_json()["metadata"]["pactSpecification"]["version"] == "3.0.0"
    transport = httpx.MockTransport(lambda _: httpx.Response(200))
    with httpx.Client(transport=transport, base_url="http://p") as client:
        assert verify(loaded, client, {}) == {
            "stated": ["no handler for provider state 'unknown state'"]
        }
        assert verify(loaded, client, {"unknown state": lambda params: None}) == {"stated": []}
