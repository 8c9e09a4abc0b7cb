"""Idempotency-Key bookkeeping: replay, mismatch, in flight, forget on 5xx."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shop.orders.idempotency import Answer, fingerprint, key_is_valid, run_once
from tests.unit.fakes import FakeUnitOfWork

LEASE = timedelta(seconds=30)


def test_fingerprint_ignores_spelling_not_content() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"b": [1, 2]}) != fingerprint({"b": [2, 1]})


def test_key_bounds() -> None:
    assert not key_is_valid("")
    assert key_is_valid("k")
    assert key_is_valid("k" * 255)
    assert not key_is_valid("k" * 256)


def test_first_call_runs_then_replays() -> None:
    uow = FakeUnitOfWork()
    calls = []

    def work() -> Answer:
        calls.append(1)
        return Answer(201, '{"id": "x"}')

    first = run_once(uow, "k", "fp", work, lease=LEASE)
    again = run_once(uow, "k", "fp", work, lease=LEASE)
    assert calls == [1]
    assert (first.status_code, first.headers) == (201, {})
    assert (again.status_code, again.body) == (201, '{"id": "x"}')
    assert again.headers == {"Idempotent-Replayed": "true"}


def test_other_body_is_422_and_in_flight_is_409() -> None:
    uow = FakeUnitOfWork()
    now = datetime.now(UTC)
    uow.idempotency.claim("k", fingerprint="fp", now=now, lease_until=now + LEASE)
    assert run_once(uow, "k", "other", lambda: Answer(201, "{}"), lease=LEASE).status_code == 422
    assert run_once(uow, "k", "fp", lambda: Answer(201, "{}"), lease=LEASE).status_code == 409


def test_a_key_held_by_a_dead_request_is_taken_over_after_its_lease() -> None:
    uow = FakeUnitOfWork()
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    uow.idempotency.claim("k", fingerprint="fp", now=long_ago, lease_until=long_ago + LEASE)
    assert run_once(uow, "k", "fp", lambda: Answer(201, "{}"), lease=LEASE).status_code == 201


def test_5xx_and_exceptions_are_not_stored() -> None:
    uow = FakeUnitOfWork()
    assert run_once(uow, "k", "fp", lambda: Answer(503, "{}"), lease=LEASE).status_code == 503
    assert "k" not in uow.idempotency.rows

    def boom() -> Answer:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run_once(uow, "k2", "fp", boom, lease=LEASE)
    assert "k2" not in uow.idempotency.rows


def test_4xx_is_stored() -> None:
    uow = FakeUnitOfWork()
    run_once(uow, "k", "fp", lambda: Answer(409, '{"detail": "short"}'), lease=LEASE)
    replay = run_once(uow, "k", "fp", lambda: Answer(201, "{}"), lease=LEASE)
    assert replay.status_code == 409
