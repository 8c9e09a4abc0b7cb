"""The bits of ASGI the edge needs: type aliases and reading a bounded request body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.errors import EdgeError

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body; ``EdgeError(413)`` as soon as it exceeds ``limit`` bytes."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise EdgeError(413, f"request body over {limit} bytes")
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise EdgeError(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
