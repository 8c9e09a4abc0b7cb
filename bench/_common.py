"""What the benchmarks share: processes that always get stopped, and small HTTP calls.

The load generator is in ``_loadgen.py``, tables, JSON and the machine's description in
``_report.py``; process helpers (spawn, stop, /proc readings, ``free_port``) are the lab's own
(``lab/runtime/processes.py``), re-exported here for the scripts.

Benchmarks report; they never fail: every script exits 0 once it has printed its figures,
even when a target is missed.  Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from lab.runtime import processes
from lab.runtime.processes import free_port, group_cpu_seconds, rss_kb, uss_kb

__all__ = [
    "HOST",
    "REPO",
    "Processes",
    "free_port",
    "group_cpu_seconds",
    "http",
    "install_signal_handlers",
    "rss_kb",
    "uss_kb",
    "uvicorn_cmd",
    "wait_http",
    "workspace",
]

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


# -- signals: Ctrl-C and SIGTERM both unwind through every ``finally`` -----------------------


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit`` so that clean-up code runs."""

    def _exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


# -- processes (the lab's helpers: lab/runtime/processes.py) -----------------------------


class Processes:
    """Processes started by a benchmark, each in its own session with its log in ``workdir``;
    ``stop_all`` (also on exit) ends each group."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.pids: dict[str, int] = {}

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> int:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.pids[name] = processes.spawn(list(cmd), env=full_env, log=self.log(name), cwd=cwd)
        return self.pids[name]

    def pid(self, name: str) -> int:
        return self.pids[name]

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def alive(self, name: str) -> bool:
        return processes.alive(self.pids[name])

    def stop(self, name: str, grace: float = 5.0) -> None:
        """SIGTERM to its group, SIGKILL after ``grace`` seconds."""
        if (pid := self.pids.pop(name, None)) is not None:
            processes.stop([pid], grace=grace)

    def stop_all(self, grace: float = 5.0) -> None:
        pids, self.pids = list(self.pids.values()), {}
        processes.stop(pids, grace=grace)


@contextlib.contextmanager
def workspace(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary directory, removed at the end unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def uvicorn_cmd(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", HOST, "--port", str(port),
        "--no-access-log", "--no-proxy-headers", "--log-level", "warning", *extra,
    ]  # fmt: skip


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One small request with the standard library; returns (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def wait_http(url: str, timeout: float = 30.0, alive: Any = None) -> float:
    """Poll ``url`` until it answers 200; returns the seconds waited."""
    start = time.monotonic()
    while True:
        try:
            if http("GET", url, timeout=1.0)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"the process behind {url} exited")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{url} not healthy after {timeout:.0f} s")
        time.sleep(0.05)


def create_product(entry: str, token: str, stock: int = 1_000_000_000) -> int:
    """A fresh product (its own sku) with ``stock`` units, created through ``entry``: a
    benchmark's checkouts never run out nor share a row with an earlier run's."""
    sku = f"bench-{secrets.token_hex(6)}"
    status, body = http(
        "POST",
        entry + "/products",
        {"sku": sku, "name": f"Bench {sku}", "price_cents": 1234, "stock": stock},
        headers={"Authorization": f"Bearer {token}"},
    )
    if status != 201:
        raise RuntimeError(f"could not create a product at {entry}: {status} {body}")
    return int(body["id"])
