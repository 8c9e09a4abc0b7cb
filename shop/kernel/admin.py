"""Admin routes: ``Authorization: Bearer <TWINSHOP_ADMIN_TOKEN>``, checked before anything else.

The check lives in a route class rather than a dependency so that it runs before FastAPI
parses the body: on admin routes a missing token is a 401 even when the body is malformed.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

ADMIN_SECURITY: dict[str, Any] = {"security": [{"adminToken": []}]}
"""``openapi_extra`` for admin operations."""


def token_matches(authorization: str | None, token: str) -> bool:
    """Constant-time comparison; an unset token admits nobody."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def admin_route_class(token: str) -> type[APIRoute]:
    """An ``APIRoute`` subclass that answers 401 unless the admin token is presented."""

    class AdminRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                if not token_matches(request.headers.get("authorization"), token):
                    return JSONResponse(
                        {"detail": "admin token missing or wrong"},
                        status_code=401,
                        headers={"WWW-Authenticate": "Bearer"},
                    )
                return await handler(request)

            return guarded

    return AdminRoute
