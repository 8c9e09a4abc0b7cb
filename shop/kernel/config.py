"""Settings every unit reads from its environment, once, at start-up."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from shop.core import limits
from shop.core.instance import default_instance


class UnitSettings(BaseSettings):
    """Environment of a catalog, orders or monolith unit (``TWINSHOP_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="TWINSHOP_", extra="ignore")

    UNIT: str = "unit"
    INSTANCE: str = ""
    VERSION: str = "1"
    DATABASE_URL: str = "sqlite:///./twinshop.db"
    # Secrets may come as files (docker), so that no value shows in `docker inspect`.
    DATABASE_PASSWORD_FILE: str = ""
    ADMIN_TOKEN: str = ""
    ADMIN_TOKEN_FILE: str = ""
    CHAOS: bool = False
    SEED_PRODUCTS: int = 100
    SEED_STOCK: int = 1000
    MAX_BODY_BYTES: int = limits.MAX_BODY_BYTES  # shared with the edges
    # One JSON line per request on stdout (shop.core.logs); 0 turns it off.
    LOG_REQUESTS: bool = True
    # orders (microservices) only: how to reach catalog, and how patient to be.
    CATALOG_URL: str = "http://catalog:8000"
    CATALOG_CONNECT_TIMEOUT: float = 0.5
    CATALOG_READ_TIMEOUT: float = 2.0
    CATALOG_ATTEMPTS: int = 2
    RECONCILE_AFTER: float = 15.0
    RECONCILE_INTERVAL: float = 2.0
    # A checkout answers within this many seconds of its arrival (503 + Retry-After when
    # catalog is slow or gone), and catalog is told to stop working for it after that.
    CHECKOUT_BUDGET: float = 2.0
    # Idempotency-Keys: how long a request holds its key (longer than the budget, so a
    # live holder has answered before a retry may resume its order), how long keys live.
    IDEMPOTENCY_LEASE: float = 5.0
    IDEMPOTENCY_TTL: float = 24 * 3600.0
    # How often old keys are pruned.
    HOUSEKEEPING_INTERVAL: float = 60.0

    @property
    def instance(self) -> str:
        return self.INSTANCE or default_instance()

    @model_validator(mode="after")
    def _read_secret_files(self) -> UnitSettings:
        if not self.ADMIN_TOKEN and self.ADMIN_TOKEN_FILE:
            self.ADMIN_TOKEN = Path(self.ADMIN_TOKEN_FILE).read_text().strip()
        if self.DATABASE_PASSWORD_FILE:
            password = Path(self.DATABASE_PASSWORD_FILE).read_text().strip()
            url = make_url(self.DATABASE_URL).set(password=password)
            self.DATABASE_URL = url.render_as_string(hide_password=False)
        return self


@lru_cache
def settings_for(unit: str) -> UnitSettings:
    """The settings of this process, with ``UNIT`` defaulting to the composition root's."""
    return UnitSettings(UNIT=os.environ.get("TWINSHOP_UNIT", unit))
