"""Settings every unit reads from its environment, once, at start-up."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


def default_instance() -> str:
    """A short id that tells replicas apart: the container id in docker, host-pid elsewhere."""
    host = socket.gethostname()
    if len(host) == 12 and all(ch in "0123456789abcdef" for ch in host):
        return host  # a container id
    return f"{host[:12]}-{os.getpid()}"


class UnitSettings(BaseSettings):
    """Environment of a catalog, orders or monolith unit (``TWINSHOP_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="TWINSHOP_", extra="ignore")

    UNIT: str = "unit"
    INSTANCE: str = ""
    VERSION: str = "1"
    DATABASE_URL: str = "sqlite:///./twinshop.db"
    ADMIN_TOKEN: str = ""
    CHAOS: bool = False
    SEED_PRODUCTS: int = 100
    SEED_STOCK: int = 1000
    MAX_BODY_BYTES: int = 64 * 1024
    # orders (microservices) only: how to reach catalog, and how patient to be.
    CATALOG_URL: str = "http://catalog:8000"
    CATALOG_CONNECT_TIMEOUT: float = 0.5
    CATALOG_READ_TIMEOUT: float = 2.0
    CATALOG_ATTEMPTS: int = 2
    RECONCILE_AFTER: float = 15.0
    RECONCILE_INTERVAL: float = 2.0
    IDEMPOTENCY_LEASE: float = 60.0

    @property
    def instance(self) -> str:
        return self.INSTANCE or default_instance()


@lru_cache
def settings_for(unit: str) -> UnitSettings:
    """The settings of this process, with ``UNIT`` defaulting to the composition root's."""
    return UnitSettings(UNIT=os.environ.get("TWINSHOP_UNIT", unit))
