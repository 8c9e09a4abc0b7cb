"""Idempotency-Key rules (draft-ietf-httpapi-idempotency-key-header), free of any I/O.

A key is one customer's (``KeyId``): another customer's identical key is another key. Same
key + same body → the stored answer again; same key + another body → 422; same key while
the first request still runs → 409 with ``Retry-After``. Keys expire (``KeyPolicy.ttl``,
24 h by default) and are pruned.

Exactly once, by construction: the key names the order it asked for, and its answer is
stored in the very transaction that makes that order's fate durable (confirmed, rejected).
So after a crash at any point, a retry finds one of three things:

- the answer (``replay``);
- the same order still ``pending`` and its holder gone — the lease ran out, or the holder
  was this very instance before a restart — so the retry ``resume``s *that* order (reserve
  is idempotent by order id and confirm is a compare-and-set, so even a holder that is
  alive after all cannot make a second order);
- an order that can never be confirmed any more (``releasing``/``failed``: the checkout
  gave up and said 503), so the retry may ``take_over`` the key with a new order.

The lease only keeps two live requests from working on one key at once; it is longer than
the checkout's time budget, so a live holder has answered before its lease ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shop.orders.model import Status
from shop.orders.ports import KeyId, KeyRecord

MAX_KEY_LENGTH = 255
BOOT = uuid.uuid4().hex[:12]
"""This process's boot: a holder recorded by an earlier boot of this instance is gone."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyPolicy:
    lease: float = 5.0
    """Seconds a request holds its key; longer than the checkout budget."""
    ttl: float = 24 * 3600.0
    """Seconds a key is remembered."""
    instance: str = field(default_factory=lambda: f"pid-{os.getpid()}")

    @property
    def holder(self) -> str:
        return f"{self.instance}/{BOOT}"


Kind = Literal["new", "mismatch", "replay", "in_flight", "resume", "take_over"]


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    record: KeyRecord | None = None


def fingerprint(parsed_body: Any) -> str:
    """The same JSON after parsing gives the same fingerprint, whatever its spacing or key order."""
    canonical = json.dumps(parsed_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def key_is_valid(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH


def holder_is_gone(holder: str, policy: KeyPolicy) -> bool:
    """The holder was this instance, in an earlier life (a restart, same container)."""
    instance, _, boot = holder.rpartition("/")
    return instance == policy.instance and boot != BOOT


def judge(
    record: KeyRecord | None,
    fingerprint: str,
    held: Status | None,
    *,
    now: float,
    policy: KeyPolicy,
) -> Verdict:
    """What to do with a request carrying a key whose stored state is ``record``.

    ``held`` is the status of the order the key holds (``None``: no such order).
    """
    if record is None or record.expires_at <= now:
        return Verdict("new", record)
    if record.fingerprint != fingerprint:
        return Verdict("mismatch", record)
    if record.state == "done":
        return Verdict("replay", record)
    if held == "pending":
        if record.lease_until > now and not holder_is_gone(record.holder, policy):
            return Verdict("in_flight", record)
        return Verdict("resume", record)
    if held in ("confirmed", "cancelling", "cancelled", "rejected"):
        # Cannot happen: those moves store the answer in the same transaction.
        return Verdict("in_flight", record)
    return Verdict("take_over", record)


def fresh_record(
    key: KeyId, fingerprint: str, order_id: str | None, *, now: float, policy: KeyPolicy
) -> KeyRecord:
    return KeyRecord(
        id=key,
        fingerprint=fingerprint,
        state="in_flight",
        order_id=order_id,
        holder=policy.holder,
        lease_until=now + policy.lease,
        expires_at=now + policy.ttl,
    )


def renewed(record: KeyRecord, order_id: str | None, *, now: float, policy: KeyPolicy) -> KeyRecord:
    """The same key, now held by this request for ``order_id``."""
    return replace(
        record,
        order_id=order_id,
        holder=policy.holder,
        lease_until=now + policy.lease,
        state="in_flight",
    )


def replayed(record: KeyRecord) -> Answer:
    assert record.status_code is not None and record.body is not None
    return Answer(record.status_code, record.body, {"Idempotent-Replayed": "true"})


def mismatch(key: str) -> Answer:
    # Shaped like every other 422 of the API (FastAPI's validation error list).
    detail = [
        {
            "type": "idempotency_key_reused",
            "loc": ["header", "idempotency-key"],
            "msg": "this Idempotency-Key was used with a different request body",
            "input": key,
        }
    ]
    return Answer(422, json.dumps({"detail": detail}))


def in_flight(policy: KeyPolicy) -> Answer:
    body = json.dumps({"detail": "a request with this Idempotency-Key is still in progress"})
    return Answer(409, body, {"Retry-After": str(max(1, round(policy.lease / 2)))})
