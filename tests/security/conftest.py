"""One stack for the whole security suite, its edges with short deadlines and a low cap.

The limits are the defaults except where waiting for the default would make a test slow
(the deadlines) or need thousands of sockets (the connection cap).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.support import Stack, running_stack

EDGE_ENV = {
    "TWINSHOP_HEADER_TIMEOUT": "1",
    "TWINSHOP_BODY_TIMEOUT": "1",
    "TWINSHOP_IDLE_TIMEOUT": "1",
    "TWINSHOP_MAX_CONNECTIONS": "64",
    "TWINSHOP_LOG_REQUESTS": "0",
}
EDGES = {"micro": "gateway", "mono": "lb"}


@dataclass(frozen=True)
class Edge:
    """One entry of the stack under test, and what a test needs to know about it."""

    arch: str
    unit: str
    url: str
    host: str
    port: int
    pid: int
    admin_token: str


@pytest.fixture(scope="package")
def hardened_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Both architectures as local processes (process runtime), shared by every test here."""
    env = {unit: dict(EDGE_ENV) for unit in EDGES.values()}
    with running_stack(tmp_path_factory.mktemp("security"), unit_env=env) as stack:
        yield stack


def edge_of(stack: Stack, arch: str) -> Edge:
    assert stack.runtime is not None
    unit = EDGES[arch]
    (record,) = stack.runtime.instances(unit)
    url = stack.entries[arch]
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return Edge(arch, unit, url, parts.hostname, parts.port, record["pid"], stack.admin_token)


@pytest.fixture(params=sorted(EDGES))
def edge(request: pytest.FixtureRequest, hardened_stack: Stack) -> Edge:
    """The same hostile input against the gateway (micro) and the lb (mono)."""
    return edge_of(hardened_stack, request.param)
