"""Idempotency-Key handling (draft-ietf-httpapi-idempotency-key-header) for any endpoint.

Same key + same body → the stored answer again; same key + another body → 422; same key
while the first request is still running → 409. Answers of requests that reached the
business logic are stored when 2xx or 4xx; 5xx are forgotten so that a retry runs again.
A request that died with its process holds the key only until its lease runs out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shop.orders.ports import OrdersUnitOfWork, StoredResponse

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(parsed_body: Any) -> str:
    """The same JSON after parsing gives the same fingerprint, whatever its spacing or key order."""
    canonical = json.dumps(parsed_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def key_is_valid(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH


def _error(status_code: int, detail: str) -> Answer:
    return Answer(status_code, json.dumps({"detail": detail}))


def run_once(
    uow: OrdersUnitOfWork,
    key: str,
    body_fingerprint: str,
    work: Callable[[], Answer],
    *,
    lease: timedelta,
    now: datetime | None = None,
) -> Answer:
    """Run ``work`` at most once per key; the caller has validated the key."""
    now = now or datetime.now(UTC)
    with uow:
        claim = uow.idempotency.claim(
            key, fingerprint=body_fingerprint, now=now, lease_until=now + lease
        )
        uow.commit()
    if claim.outcome == "mismatch":
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
    if claim.outcome == "in_flight":
        return _error(409, "a request with this Idempotency-Key is still in progress")
    if claim.outcome == "replay" and claim.response is not None:
        stored = claim.response
        return Answer(stored.status_code, stored.body, {"Idempotent-Replayed": "true"})
    try:
        answer = work()
    except BaseException:
        _settle(uow, key, None)
        raise
    _settle(uow, key, answer if answer.status_code < 500 else None)
    return answer


def _settle(uow: OrdersUnitOfWork, key: str, answer: Answer | None) -> None:
    with uow:
        if answer is None:
            uow.idempotency.forget(key)
        else:
            uow.idempotency.complete(key, StoredResponse(answer.status_code, answer.body))
        uow.commit()
