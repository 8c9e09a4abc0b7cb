"""Request ids: keep the caller's when it is sane, otherwise make one.

Every response carries ``X-Request-ID``; units pass it on to every internal call so one
request can be followed across gateway, orders and catalog.
"""

from __future__ import annotations

import os
from contextvars import ContextVar

HEADER = "x-request-id"
MAX_LENGTH = 200


def is_valid(value: str) -> bool:
    """1..200 printable ASCII characters (space to tilde)."""
    return 0 < len(value) <= MAX_LENGTH and all(" " <= ch <= "~" for ch in value)


def new() -> str:
    return os.urandom(16).hex()  # uuid4's format without its cost, on every request


def accept(value: str | bytes | None) -> str:
    """The caller's id when valid, else a fresh one."""
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return new()
    return value if value is not None and is_valid(value) else new()


current: ContextVar[str] = ContextVar("twinshop_request_id", default="")
"""The id of the request being served; adapters pass it on to internal calls."""
