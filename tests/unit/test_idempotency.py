"""Idempotency-Key rules, and exactly-once checkout under a crash at every point (fakes)."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from shop.orders import idempotency, saga, services
from shop.orders.checkout import CheckoutRequest, Settings
from shop.orders.idempotency import KeyPolicy, fingerprint, judge, key_is_valid
from shop.orders.ports import KeyId
from tests.unit.fakes import FakeInventory, FakeUnitOfWork
from tests.unit.test_checkout import render

POLICY = KeyPolicy(lease=5.0, ttl=100.0, instance="orders-1")
KEY = KeyId("ada", "k1")


def record(**changes: object) -> idempotency.KeyRecord:
    base = idempotency.fresh_record(KEY, "fp", "o1", now=1000.0, policy=POLICY)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_fingerprint_ignores_spelling_not_content() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"b": [1, 2]}) != fingerprint({"b": [2, 1]})


def test_key_bounds() -> None:
    assert not key_is_valid("")
    assert key_is_valid("k")
    assert key_is_valid("k" * 255)
    assert not key_is_valid("k" * 256)


@pytest.mark.parametrize(
    ("stored", "body", "held", "now", "kind"),
    [
        (None, "fp", None, 1000.0, "new"),
        ({}, "fp", "pending", 1200.0, "new"),  # expired (ttl 100 s)
        ({}, "other", "pending", 1001.0, "mismatch"),
        ({"state": "done", "status_code": 201, "body": "{}"}, "fp", "confirmed", 1001.0, "replay"),
        ({}, "fp", "pending", 1001.0, "in_flight"),  # lease runs until 1005
        ({}, "fp", "pending", 1006.0, "resume"),  # lease over: the holder died
        ({"holder": "orders-1/earlier-boot"}, "fp", "pending", 1001.0, "resume"),
        ({"holder": "orders-2/any"}, "fp", "pending", 1001.0, "in_flight"),
        ({}, "fp", "releasing", 1001.0, "take_over"),  # it answered 503: start afresh
        ({}, "fp", "failed", 1001.0, "take_over"),
        ({}, "fp", None, 1001.0, "take_over"),
    ],
)
def test_judge(
    stored: dict[str, object] | None, body: str, held: str | None, now: float, kind: str
) -> None:
    verdict = judge(
        None if stored is None else record(**stored),
        body,
        held,  # type: ignore[arg-type]
        now=now,
        policy=POLICY,
    )
    assert verdict.kind == kind


def test_in_flight_answer_says_when_to_retry() -> None:
    answer = idempotency.in_flight(POLICY)
    assert answer.status_code == 409
    assert int(answer.headers["Retry-After"]) >= 1


class Crashed(BaseException):
    """The process died here."""


class World:
    """One orders database and one catalog that outlive the process that crashes."""

    def __init__(self, lease: float = 5.0) -> None:
        self.uow = FakeUnitOfWork()
        self.inventory = FakeInventory({1: 10, 2: 10})
        self.settings = Settings(policy=KeyPolicy(lease=lease, instance="orders-1"))

    def checkout(self, key: str, crash_at: str = "", customer: str = "ada") -> idempotency.Answer:
        def crash(point: str) -> None:
            if point == crash_at:
                self.uow.rollback()  # what the database does to an open transaction
                raise Crashed(point)

        body = {"customer": customer, "items": [[1, 2]]}
        request = CheckoutRequest(customer, [(1, 2)], KeyId(customer, key), fingerprint(body))
        return saga.checkout(
            lambda: self.uow, self.inventory, request, render, settings=self.settings, crash=crash
        )

    def statuses(self) -> Counter[str]:
        return Counter(o.status for o in self.uow.orders.rows.values())


@pytest.mark.parametrize("point", ["after_pending", "after_reserve", "after_confirm"])
@pytest.mark.parametrize("restart", ["same_instance", "after_the_lease"])
def test_a_retry_after_a_crash_anywhere_makes_exactly_one_order(point: str, restart: str) -> None:
    world = World(lease=0.0 if restart == "after_the_lease" else 60.0)
    with pytest.raises(Crashed):
        world.checkout("k1", crash_at=point)
    if restart == "same_instance":
        # The restarted process is the same instance in a new boot: the holder is gone.
        idempotency.BOOT, saved = "new-boot", idempotency.BOOT
    try:
        retry = world.checkout("k1")
        again = world.checkout("k1")
    finally:
        if restart == "same_instance":
            idempotency.BOOT = saved
    assert retry.status_code == 201, retry
    assert again.status_code == 201 and json.loads(again.body) == json.loads(retry.body)
    assert world.statuses() == Counter({"confirmed": 1})
    assert world.inventory.stock[1] == 8  # reserved once
    orders = world.uow.orders.for_key(KeyId("ada", "k1"))
    assert [o.id for o in orders] == [json.loads(retry.body)["id"]]


def test_a_retry_while_the_holder_may_be_alive_is_409() -> None:
    world = World(lease=60.0)
    with pytest.raises(Crashed):
        world.checkout("k1", crash_at="after_reserve")
    assert world.checkout("k1").status_code == 409  # same boot: the holder may be running


def test_a_retry_after_a_503_takes_the_key_over_with_a_new_order() -> None:
    world = World()
    world.inventory.down = True
    assert world.checkout("k1").status_code == 503
    world.inventory.down = False
    assert world.checkout("k1").status_code == 201
    assert world.statuses() == Counter({"confirmed": 1, "releasing": 1})
    assert services.reconcile(world.uow, world.inventory, older_than=timedelta(0)) == 1
    assert world.inventory.stock[1] == 8


def test_keys_are_scoped_to_their_customer() -> None:
    world = World()
    squatted = world.checkout("shared-key", customer="bob")
    mine = world.checkout("shared-key", customer="ada")
    assert squatted.status_code == 201 and mine.status_code == 201
    assert json.loads(squatted.body)["id"] != json.loads(mine.body)["id"]
    assert "idempotent-replayed" not in {h.lower() for h in mine.headers}


def test_expired_keys_are_pruned() -> None:
    world = World()
    world.settings.policy = KeyPolicy(ttl=10.0)
    world.checkout("k1")
    assert len(world.uow.keys.rows) == 1
    now = time.time()
    assert services.prune_keys(world.uow, now=now) == 0
    assert services.prune_keys(world.uow, now=now + 11) == 1
    assert world.uow.keys.rows == {}
