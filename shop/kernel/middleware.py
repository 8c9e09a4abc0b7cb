"""ASGI middleware every unit runs: request id, ``X-Served-By``, and a body size limit.

Written as plain ASGI (not ``BaseHTTPMiddleware``) because it sits on every request.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shop.core import request_id
from shop.core.logs import REQUEST_ID_KEY


class UnitHeaders:
    """Stamp every response with ``X-Request-ID`` and ``X-Served-By``; cap request bodies."""

    def __init__(self, app: ASGIApp, *, served_by: str, max_body_bytes: int) -> None:
        self.app = app
        self.served_by = served_by.encode()
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        length = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value
            elif name == b"content-length":
                length = value
        rid = request_id.accept(incoming)
        token = request_id.current.set(rid)
        scope[REQUEST_ID_KEY] = rid  # for the request log line, written further out
        stamp = [(b"x-request-id", rid.encode()), (b"x-served-by", self.served_by)]

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *stamp]}
            await send(message)

        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await _too_large(send_stamped)
                return
            await self.app(scope, self._limited(receive), send_stamped)
        finally:
            request_id.current.reset(token)

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over {limit} bytes")
            return message

        return receive_limited


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
