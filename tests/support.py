"""What the test suites share: a running pair of architectures and a small API client."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.runtime.process import ProcessRuntime
from lab.runtime.processes import free_port
from lab.state import StateDir
from lab.topology import Arch

CATALOG_IMPL_ENV = "TWINSHOP_TEST_CATALOG_IMPL"


@dataclass
class Stack:
    """Both entries, the admin token, and (process runtime) the runtime that runs them."""

    entries: dict[str, str]
    admin_token: str
    runtime: ProcessRuntime | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@contextmanager
def running_stack(
    home: Path,
    *,
    arches: tuple[Arch, ...] = ("micro", "mono"),
    unit_env: dict[str, dict[str, str]] | None = None,
    supervise: bool = False,
    catalog_impl: str | None = None,
    traces_to: str = "",
) -> Iterator[Stack]:
    """Start real processes on free ports; stop every one of them afterwards. With
    ``supervise`` a crashed unit comes back by itself, as under `twinshop up`.
    ``catalog_impl``: python (default), rust, or mixed (a Python and a Rust replica);
    ``TWINSHOP_TEST_CATALOG_IMPL`` sets it for the session stack. ``traces_to``: the OTLP
    endpoint the units send spans to (none by default: a test's spans go nowhere)."""
    impl = catalog_impl or os.environ.get(CATALOG_IMPL_ENV) or "python"
    runtime = ProcessRuntime(
        StateDir(home),
        edge_ports={"micro": free_port(), "mono": free_port()},
        unit_env=unit_env or {},
        supervise=supervise,
        impl_of={"catalog": "rust"} if impl == "rust" else {},
        traces_to=traces_to,
    )
    try:
        entries = runtime.up(arches, timeout=60)
        if impl == "mixed" and "micro" in arches:
            runtime.scale("catalog", 2, impl="rust")
        yield Stack(dict(entries), runtime.state.admin_token(), runtime)
    finally:
        runtime.down()


def stack_from_env() -> Stack | None:
    """``TWINSHOP_TEST_ENTRIES=micro=http://127.0.0.1:8080,mono=http://127.0.0.1:8081`` runs
    the contract suite against a stack that is already up (the docker suite does this)."""
    spec = os.environ.get("TWINSHOP_TEST_ENTRIES")
    if not spec:
        return None
    entries = dict(part.split("=", 1) for part in spec.split(","))
    return Stack(entries, os.environ.get("TWINSHOP_ADMIN_TOKEN", ""))


def eventually(
    condition: Callable[[], bool], *, within: float, what: str, every: float = 0.1
) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within} s: {what}")
        time.sleep(every)


class Api:
    """An httpx client on one entry, with the few calls tests repeat."""

    def __init__(self, arch: str, base_url: str, admin_token: str) -> None:
        self.arch = arch
        self.base_url = base_url
        self.admin = {"Authorization": f"Bearer {admin_token}"}
        self.http = httpx.Client(base_url=base_url, timeout=10.0)

    def new_product(self, *, stock: int = 10, price_cents: int = 250) -> dict[str, Any]:
        sku = f"T-{uuid.uuid4().hex[:12]}"
        response = self.http.post(
            "/products",
            json={"sku": sku, "name": f"Test {sku}", "price_cents": price_cents, "stock": stock},
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def stock(self, product_id: int) -> int:
        response = self.http.get(f"/products/{product_id}")
        assert response.status_code == 200, response.text
        return int(response.json()["stock"])

    def checkout(self, items: list[tuple[int, int]], **kwargs: Any) -> httpx.Response:
        body = {
            "customer": kwargs.pop("customer", "ada"),
            "items": [{"product_id": p, "quantity": q} for p, q in items],
        }
        return self.http.post("/orders", json=body, **kwargs)

    def close(self) -> None:
        self.http.close()


def twinshop(
    home: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a person would (``twinshop ARGS``) with its state in ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        env={**os.environ, "TWINSHOP_HOME": str(home), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
