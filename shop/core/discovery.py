"""Where the replicas of a unit are: one small port, three adapters.

A *discovery spec* is a string an operator can write in an environment variable:

- ``http://catalog:8000`` or ``dns:catalog:8000`` — resolve the host name every time we
  look; in docker, ``docker compose up --scale catalog=3`` adds A records, so new replicas
  appear without a restart;
- ``file:///path/to/catalog.json`` — a JSON list of base URLs that the lab rewrites when it
  starts, kills or scales a unit in the process runtime;
- ``list:http://127.0.0.1:9001,http://127.0.0.1:9002`` — a fixed list (tests, benchmarks).

Every adapter answers the same question: "which base URLs serve this unit right now?".
Only the standard library is used, so the edge and the orders service can share it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit


class Discovery(Protocol):
    """The replicas of one unit, as base URLs such as ``http://127.0.0.1:9001``."""

    def replicas(self) -> list[str]: ...


@dataclass(frozen=True)
class StaticDiscovery:
    urls: tuple[str, ...]

    def replicas(self) -> list[str]:
        return list(self.urls)


@dataclass(frozen=True)
class FileDiscovery:
    """A JSON file holding a list of base URLs; a missing or half-written file means none."""

    path: Path

    def replicas(self) -> list[str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return []
        return [str(u).rstrip("/") for u in data] if isinstance(data, list) else []


@dataclass(frozen=True)
class DnsDiscovery:
    """Every IPv4/IPv6 address the host name resolves to, in a stable order."""

    host: str
    port: int
    scheme: str = "http"

    def replicas(self) -> list[str]:
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except OSError:
            return []
        addresses = sorted({str(info[4][0]) for info in infos})
        return [
            f"{self.scheme}://[{a}]:{self.port}" if ":" in a else f"{self.scheme}://{a}:{self.port}"
            for a in addresses
        ]


def parse_discovery(spec: str) -> Discovery:
    """Turn a discovery spec (see the module docstring) into an adapter."""
    spec = spec.strip()
    if spec.startswith("file://"):
        return FileDiscovery(Path(spec.removeprefix("file://")))
    if spec.startswith("list:"):
        urls = tuple(u.strip().rstrip("/") for u in spec.removeprefix("list:").split(",") if u)
        return StaticDiscovery(urls)
    if spec.startswith("dns:"):
        host, _, port_text = spec.removeprefix("dns:").rpartition(":")
        return DnsDiscovery(host, int(port_text))
    if spec.startswith(("http://", "https://")):
        parts = urlsplit(spec)
        if parts.hostname is None:
            raise ValueError(f"no host in discovery spec {spec!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.hostname == "localhost" or _is_ip_literal(parts.hostname):
            return StaticDiscovery((spec.rstrip("/"),))
        return DnsDiscovery(parts.hostname, port, parts.scheme)
    raise ValueError(
        f"unknown discovery spec {spec!r}: use http://host:port, dns:host:port, "
        "file:///path.json or list:url,url"
    )


def _is_ip_literal(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
