"""Fault toggles for experiments: added latency, an error rate, and crash points.

Disabled unless ``TWINSHOP_CHAOS=1``; when enabled, ``PUT /_chaos`` (admin token) sets
them. They are hidden from the public OpenAPI document.

A crash point names a boundary in a flow where dying changes what happens next (e.g.
``after_reserve``: stock is reserved, the order not yet confirmed). ``crash_at`` arms one;
the next request that reaches it kills the process with SIGKILL, like a segfault or the
OOM killer would. Each unit lists its own points (``Chaos.points``);
``crash_on_checkout`` is the older name of ``crash_at=after_reserve``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from shop.kernel.admin import admin_route_class

_SPARED = ("/health", "/ready", "/_chaos", "/metrics")


@dataclass
class Chaos:
    latency_ms: int = 0
    error_rate: float = 0.0
    crash_at: str = ""
    points: tuple[str, ...] = field(default=(), repr=False)
    """The crash points this unit's flows pass (set by the composition root)."""

    @property
    def crash_on_checkout(self) -> bool:
        return self.crash_at == "after_reserve"

    def crash(self, point: str) -> None:
        """Called by a flow at ``point``: die there if it is armed."""
        if self.crash_at and self.crash_at == point:
            die()

    def crash_if_armed(self) -> None:
        self.crash("after_reserve")

    def toggles(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "error_rate": self.error_rate,
            "crash_at": self.crash_at,
            "crash_on_checkout": self.crash_on_checkout,
            "crash_points": list(self.points),
        }


def die() -> None:
    """Die like a segfault would: no clean-up, no answer."""
    if os.getpid() == 1:  # a container's init ignores signals it sends itself
        os._exit(137)
    os.kill(os.getpid(), signal.SIGKILL)


class ChaosUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    latency_ms: int | None = Field(default=None, ge=0, le=60_000)
    error_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    crash_at: str | None = Field(default=None, max_length=64, description="'' disarms")
    crash_on_checkout: bool | None = None


def chaos_router(chaos: Chaos, *, enabled: bool, admin_token: str) -> APIRouter:
    router = APIRouter(route_class=admin_route_class(admin_token), include_in_schema=False)

    def _require_enabled() -> None:
        if not enabled:
            raise HTTPException(404, "chaos is disabled (set TWINSHOP_CHAOS=1)")

    @router.get("/_chaos")
    def read_chaos() -> dict[str, object]:
        _require_enabled()
        return chaos.toggles()

    @router.put("/_chaos")
    def set_chaos(update: ChaosUpdate) -> dict[str, object]:
        _require_enabled()
        crash_at = update.crash_at
        if update.crash_on_checkout is not None:
            crash_at = "after_reserve" if update.crash_on_checkout else ""
        if crash_at and crash_at not in chaos.points:
            where = ", ".join(chaos.points) or "none"
            raise HTTPException(422, f"unknown crash point {crash_at!r}; this unit has: {where}")
        if update.latency_ms is not None:
            chaos.latency_ms = update.latency_ms
        if update.error_rate is not None:
            chaos.error_rate = update.error_rate
        if crash_at is not None:
            chaos.crash_at = crash_at
        return chaos.toggles()

    return router


class ChaosMiddleware:
    """Apply latency and injected errors to every route but health, readiness and chaos."""

    def __init__(self, app: ASGIApp, *, chaos: Chaos) -> None:
        self.app = app
        self.chaos = chaos

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        chaos = self.chaos
        if scope["type"] == "http":
            # When this request arrived: time budgets (X-Deadline-Ms) count from here.
            scope.setdefault("state", {}).setdefault("arrived", time.monotonic())
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
