"""The state directory: databases, logs, replica lists for discovery, the admin token, and
what the lab started.

One per user by default (``$XDG_STATE_HOME/twinshop``, i.e. ``~/.local/state/twinshop``), so
that every terminal finds the running shop wherever it was opened; ``--home DIR`` or
``$TWINSHOP_HOME`` pick another one (tests, two shops side by side)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def default_home() -> Path:
    """The per-user state folder: ``$XDG_STATE_HOME/twinshop``, else
    ``~/.local/state/twinshop``."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "twinshop"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> StateDir:
        root = Path(home or os.environ.get("TWINSHOP_HOME") or default_home()).expanduser()
        return cls(root.absolute())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def upstreams(self) -> Path:
        return self.root / "upstreams"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "state.lock"

    def ensure(self) -> None:
        for folder in (self.root, self.logs, self.data, self.upstreams):
            folder.mkdir(parents=True, exist_ok=True)

    def admin_token(self) -> str:
        """``TWINSHOP_ADMIN_TOKEN``, or one generated once and kept in the state directory."""
        if token := os.environ.get("TWINSHOP_ADMIN_TOKEN"):
            return token
        path = self.root / "admin-token"
        if path.exists():
            return path.read_text().strip()
        self.ensure()
        token = secrets.token_urlsafe(24)
        path.write_text(token + "\n")
        path.chmod(0o600)
        return token

    def replicas_file(self, arch: str, unit: str) -> Path:
        return self.upstreams / f"{arch}-{unit}.json"

    def write_replicas(self, arch: str, unit: str, urls: list[str]) -> None:
        """Atomically replace a discovery file: readers never see half a list."""
        path = self.replicas_file(arch, unit)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(urls))
        tmp.replace(path)

    def load(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state_file.read_text()))
        except (OSError, ValueError):
            return {}

    def save(self, state: dict[str, Any]) -> None:
        self.ensure()
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the state directory (``state.lock``, ``flock``), so that
        a load-modify-save of ``state.json`` by the CLI and one by the supervisor never
        interleave. Not re-entrant: never take it twice in one process."""
        self.ensure()
        with self.lock_file.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
