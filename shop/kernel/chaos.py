"""Fault toggles for experiments: added latency, an error rate, and crash-on-checkout.

Disabled unless ``TWINSHOP_CHAOS=1``; when enabled, ``PUT /_chaos`` (admin token) sets
them. They are hidden from the public OpenAPI document.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from dataclasses import asdict, dataclass

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.kernel.admin import admin_route_class

_SPARED = ("/health", "/ready", "/_chaos", "/metrics")


@dataclass
class Chaos:
    latency_ms: int = 0
    error_rate: float = 0.0
    crash_on_checkout: bool = False

    def crash_if_armed(self) -> None:
        """Called by checkout after stock is reserved: die like a segfault would."""
        if self.crash_on_checkout:
            if os.getpid() == 1:  # a container's init ignores signals it sends itself
                os._exit(137)
            os.kill(os.getpid(), signal.SIGKILL)


class ChaosUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    crash_on_checkout: bool | None = None


def chaos_router(chaos: Chaos, *, enabled: bool, admin_token: str) -> APIRouter:
    router = APIRouter(route_class=admin_route_class(admin_token), include_in_schema=False)

    def _require_enabled() -> None:
        if not enabled:
            raise HTTPException(404, "chaos is disabled (set TWINSHOP_CHAOS=1)")

    @router.get("/_chaos")
    def read_chaos() -> dict[str, object]:
        _require_enabled()
        return asdict(chaos)

    @router.put("/_chaos")
    def set_chaos(update: ChaosUpdate) -> dict[str, object]:
        _require_enabled()
        for name, value in update.model_dump(exclude_none=True).items():
            setattr(chaos, name, value)
        return asdict(chaos)

    return router


class ChaosMiddleware:
    """Apply latency and injected errors to every route but health, readiness and chaos."""

    def __init__(self, app: ASGIApp, *, chaos: Chaos) -> None:
        self.app = app
        self.chaos = chaos

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chaos = self.chaos
        if scope["type"] == "http" and not scope["path"].startswith(_SPARED):
            if chaos.latency_ms:
                await asyncio.sleep(chaos.latency_ms / 1000)
            if chaos.error_rate and random.random() < chaos.error_rate:
                body = b'{"detail":"chaos: injected error"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
