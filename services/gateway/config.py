"""The edge's settings, read once from ``TWINSHOP_*`` environment variables.

One program serves both architectures: ``UNIT=gateway`` routes by path prefix to the
microservices, ``UNIT=lb`` sends every route to the monolith.  Only the route table and
the upstreams differ, so both get the same defaults for everything else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shop.core import limits
from shop.core.discovery import parse_discovery
from shop.core.instance import default_instance
from shop.core.routes import GATEWAY_ROUTES, LB_ROUTES

GATEWAY_UPSTREAMS = {"catalog": "http://catalog:8000", "orders": "http://orders:8000"}
LB_UPSTREAMS = {"monolith": "http://monolith:8000"}


class EdgeSettings(BaseSettings):
    """Environment of the edge (``TWINSHOP_`` prefix); see the field comments for units."""

    model_config = SettingsConfigDict(env_prefix="TWINSHOP_", extra="ignore")

    UNIT: Literal["gateway", "lb"] = "gateway"
    INSTANCE: str = Field(default_factory=default_instance)
    VERSION: str = "1"
    # Path prefix -> upstream name; longest prefix wins, "/" catches everything.
    ROUTES: dict[str, str] = Field(default_factory=lambda: dict(GATEWAY_ROUTES))
    # Upstream name -> discovery spec (shop.core.discovery).
    UPSTREAMS: dict[str, str] = Field(default_factory=lambda: dict(GATEWAY_UPSTREAMS))
    BALANCE: Literal["round_robin", "least_outstanding"] = "least_outstanding"
    # The forwarding client (services.gateway.client): same behaviour, different speed.
    CLIENT: Literal["httptools", "aiohttp"] = "httptools"
    CONNECT_TIMEOUT: float = Field(default=1.0, gt=0)  # seconds
    READ_TIMEOUT: float = Field(default=10.0, gt=0)  # seconds
    DISCOVERY_INTERVAL: float = Field(default=1.0, gt=0)  # seconds
    # This many requests in a row failing on transport errors (after retry) open the breaker.
    BREAKER_FAILURES: int = Field(default=5, ge=1)
    BREAKER_OPEN_SECONDS: float = Field(default=2.0, gt=0)
    EJECT_SECONDS: float = Field(default=5.0, ge=0)
    # The units' limit, from the same variable: a body they would refuse stops here (413).
    MAX_BODY_BYTES: int = Field(default=limits.MAX_BODY_BYTES, ge=0)
    # What one client connection may cost (services.gateway.protocol): a request head of
    # more than MAX_HEADER_BYTES (URL, header names and values) or MAX_HEADERS fields is
    # refused with 431 while it arrives; its head must arrive within HEADER_TIMEOUT of its
    # first byte and its body within BODY_TIMEOUT of the head (else 408 and close); an idle
    # connection is closed after IDLE_TIMEOUT; past MAX_CONNECTIONS open connections or
    # MAX_IN_FLIGHT requests being answered, new ones get a fast 503.
    MAX_HEADER_BYTES: int = Field(default=16 * 1024, ge=1024)
    MAX_HEADERS: int = Field(default=100, ge=8)
    HEADER_TIMEOUT: float = Field(default=5.0, gt=0)  # seconds
    BODY_TIMEOUT: float = Field(default=10.0, gt=0)  # seconds
    IDLE_TIMEOUT: float = Field(default=5.0, gt=0)  # seconds
    MAX_CONNECTIONS: int = Field(default=1000, ge=1)
    MAX_IN_FLIGHT: int = Field(default=500, ge=1)
    # One JSON line per request on stdout (shop.core.logs); 0 turns it off.
    LOG_REQUESTS: bool = True

    @field_validator("ROUTES")
    @classmethod
    def _normalise_prefixes(cls, routes: dict[str, str]) -> dict[str, str]:
        normalised: dict[str, str] = {}
        for prefix, upstream in routes.items():
            if not prefix.startswith("/"):
                raise ValueError(f"route prefix {prefix!r} must start with '/'")
            normalised[prefix.rstrip("/") or "/"] = upstream
        return normalised

    @model_validator(mode="after")
    def _check_upstreams(self) -> EdgeSettings:
        # An lb started without a route table means "everything to the monolith".
        if self.UNIT == "lb" and "ROUTES" not in self.model_fields_set:
            self.ROUTES = dict(LB_ROUTES)
            if "UPSTREAMS" not in self.model_fields_set:
                self.UPSTREAMS = dict(LB_UPSTREAMS)
        missing = sorted(set(self.ROUTES.values()) - set(self.UPSTREAMS))
        if missing:
            raise ValueError(f"routes name upstreams with no discovery spec: {missing}")
        for spec in self.UPSTREAMS.values():
            parse_discovery(spec)  # fail at start-up, not on the first request
        return self

    @property
    def served_by(self) -> str:
        """The ``X-Served-By`` value of the edge's own responses."""
        return f"{self.UNIT}/{self.INSTANCE}@v{self.VERSION}"

    @property
    def routed_upstreams(self) -> list[str]:
        """The upstreams some route sends traffic to, in a stable order."""
        return sorted(set(self.ROUTES.values()))
