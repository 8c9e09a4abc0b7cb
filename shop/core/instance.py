"""Which replica is this? A short id for ``X-Served-By`` and ``/health``."""

from __future__ import annotations

import os
import socket


def default_instance() -> str:
    """The container id in docker (its hostname), ``<host>-<pid>`` elsewhere."""
    host = socket.gethostname().split(".")[0]
    if len(host) == 12 and all(ch in "0123456789abcdef" for ch in host):
        return host
    return f"{host[:12]}-{os.getpid()}"
