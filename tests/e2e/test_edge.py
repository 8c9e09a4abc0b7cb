"""The edge for real: uvicorn subprocesses in front of fake upstreams on loopback.

Replicas are found through ``file://`` discovery lists that the tests rewrite, the way
the lab does when it starts, kills or scales a unit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.runtime.processes import free_port
from tests.e2e.fake_upstream import FakeServer

ROOT = Path(__file__).resolve().parents[2]
FAST = {
    "TWINSHOP_DISCOVERY_INTERVAL": "0.2",
    "TWINSHOP_BREAKER_FAILURES": "3",
    "TWINSHOP_BREAKER_OPEN_SECONDS": "1.0",
    "TWINSHOP_EJECT_SECONDS": "5.0",
    "TWINSHOP_CONNECT_TIMEOUT": "0.5",
    "TWINSHOP_READ_TIMEOUT": "1.0",
    "TWINSHOP_MAX_BODY_BYTES": "1000",
    "TWINSHOP_INSTANCE": "edge-test",
}

StartEdge = Callable[..., str]
MakeReplica = Callable[..., FakeServer]


def write_discovery(path: Path, *replicas: FakeServer) -> None:
    """Replace the list atomically, as the lab does, so the edge never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([r.url for r in replicas]))
    os.replace(tmp, path)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=5.0) as c:
        yield c


@pytest.fixture
def replica() -> Iterator[MakeReplica]:
    """Start fake upstream ``n`` (with an optional OpenAPI document); all stop at the end."""
    servers: list[FakeServer] = []

    def make(n: int, openapi: dict[str, Any] | None = None) -> FakeServer:
        server = FakeServer(n, openapi)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(params=["httptools", "aiohttp"])
def start_edge(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[StartEdge]:
    """Run ``python -m services.gateway`` with the given settings; answer its URL.

    Every edge test runs once per forwarding client (``TWINSHOP_CLIENT``).
    """
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(**settings: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWINSHOP_")}
        env.update(FAST)
        env["TWINSHOP_CLIENT"] = request.param
        env.update({f"TWINSHOP_{k}": v for k, v in settings.items()})
        log = tmp_path / f"edge-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "services.gateway"),
                    *("--host", "127.0.0.1", "--port", str(port)),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append((process, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        with httpx.Client(trust_env=False, timeout=1.0) as probe:
            while True:
                if process.poll() is not None:
                    pytest.fail(f"edge exited:\n{log.read_text()}")
                try:
                    if probe.get(url + "/health").status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"edge did not start:\n{log.read_text()}")
                time.sleep(0.05)

    yield start
    for process, _ in processes:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for _, log in processes:
        text = log.read_text()
        assert "Traceback" not in text, text


def served_by(response: httpx.Response) -> str:
    return response.headers["x-served-by"]


def upstream_health(client: httpx.Client, edge: str, name: str) -> dict[str, Any]:
    health = client.get(edge + "/health").json()
    return dict(health["upstreams"][name])


def gateway(tmp_path: Path, start_edge: StartEdge, catalog: list[FakeServer], **extra: str) -> str:
    """A gateway whose catalog is ``catalog`` (file discovery) and orders the first one."""
    listing = tmp_path / "catalog.json"
    write_discovery(listing, *catalog)
    upstreams = {"catalog": f"file://{listing}", "orders": f"list:{catalog[0].url}"}
    return start_edge(UPSTREAMS=json.dumps(upstreams), **extra)


def test_spreads_load_and_survives_a_replica_going_down(
    tmp_path: Path, start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    one, two = replica(1), replica(2)
    edge = gateway(tmp_path, start_edge, [one, two])
    seen = {served_by(client.get(edge + "/products")) for _ in range(10)}
    assert seen == {"fake/1", "fake/2"}

    one.stop()
    for _ in range(20):
        response = client.get(edge + "/products/7")
        assert response.status_code == 200, response.text
        assert served_by(response) == "fake/2"
    # A POST without an idempotency key is safe to retry after a refused connect.
    assert client.post(edge + "/products", json={}).status_code == 200
    assert upstream_health(client, edge, "catalog") == {
        "replicas": 2,
        "healthy": 1,
        "breaker": "closed",
    }


def test_breaker_fails_fast_when_all_replicas_are_down_then_recovers(
    tmp_path: Path, start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    one, two = replica(1), replica(2)
    edge = gateway(tmp_path, start_edge, [one, two])
    assert client.get(edge + "/products").status_code == 200
    one.stop()
    two.stop()

    first = client.get(edge + "/products")
    assert first.status_code == 503
    assert first.json() == {"detail": "catalog unavailable"}
    assert first.headers["content-type"] == "application/json"
    assert int(first.headers["retry-after"]) >= 1
    assert client.get(edge + "/products").status_code == 503  # nothing usable: opens
    health = client.get(edge + "/health").json()
    assert health["status"] == "degraded"
    assert health["upstreams"]["catalog"] == {"replicas": 2, "healthy": 0, "breaker": "open"}
    for _ in range(10):  # answered by the open breaker (no time asserted: two busy cores)
        response = client.get(edge + "/products")
        assert response.status_code == 503
        assert response.json() == {"detail": "catalog unavailable"}
        assert int(response.headers["retry-after"]) >= 1

    two.start()
    deadline = time.monotonic() + 6
    while (response := client.get(edge + "/products")).status_code != 200:
        assert time.monotonic() < deadline, "the breaker never let a trial through"
        time.sleep(0.1)
    assert served_by(response) == "fake/2"
    assert upstream_health(client, edge, "catalog")["breaker"] == "closed"


def test_replicas_follow_the_discovery_file(
    tmp_path: Path, start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    one, three = replica(1), replica(3)
    listing = tmp_path / "catalog.json"
    edge = gateway(tmp_path, start_edge, [one])
    assert client.get(edge + "/ready").json() == {"status": "ready"}

    write_discovery(listing, one, three)
    deadline = time.monotonic() + 3
    while served_by(client.get(edge + "/products")) != "fake/3":
        assert time.monotonic() < deadline, "the added replica got no traffic"
    assert upstream_health(client, edge, "catalog")["replicas"] == 2

    write_discovery(listing, three)
    time.sleep(0.6)
    assert {served_by(client.get(edge + "/products")) for _ in range(10)} == {"fake/3"}

    write_discovery(listing)
    time.sleep(0.6)
    not_ready = client.get(edge + "/ready")
    assert not_ready.status_code == 503
    assert "catalog" in not_ready.json()["detail"]
    assert client.get(edge + "/products").json() == {"detail": "catalog unavailable"}


def test_forwards_requests_and_answers_its_own_errors_as_json(
    tmp_path: Path, start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    one, two = replica(1), replica(2)
    edge = gateway(tmp_path, start_edge, [one, two])

    response = client.post(
        edge + "/orders/o-1/cancel?x=1&y=%20z",
        content=b'{"why": "because"}',
        headers={
            "Authorization": "Bearer secret",
            "Idempotency-Key": "key-1",
            "Content-Type": "application/json",
            "Connection": "keep-alive, X-Private",
            "X-Private": "hop",
            "X-Request-ID": "trace-me-1",
        },
    )
    assert response.status_code == 200
    echo = response.json()
    assert echo["method"] == "POST"
    assert echo["raw_path"] == "/orders/o-1/cancel"
    assert echo["query"] == "x=1&y=%20z"
    assert echo["body"] == '{"why": "because"}'
    sent = echo["headers"]
    assert sent["authorization"] == "Bearer secret"
    assert sent["idempotency-key"] == "key-1"
    assert sent["content-type"] == "application/json"
    assert sent["host"] == one.url.removeprefix("http://")
    assert "x-private" not in sent
    assert sent["x-request-id"] == "trace-me-1"
    assert response.headers["x-request-id"] == "trace-me-1"
    assert served_by(response) == "fake/1"

    too_long = "r" * 201
    response = client.get(edge + "/products", headers={"X-Request-ID": too_long})
    rid = response.headers["x-request-id"]
    assert rid != too_long and 0 < len(rid) <= 200
    assert response.json()["headers"]["x-request-id"] == rid

    own = client.get(edge + "/nope", headers={"X-Request-ID": "trace-me-2"})
    assert own.status_code == 404
    assert own.json() == {"detail": "Not Found"}
    assert own.headers["content-type"] == "application/json"
    assert own.headers["x-request-id"] == "trace-me-2"
    assert served_by(own) == "gateway/edge-test@v1"
    assert client.get(edge + "/productsX").status_code == 404

    big = client.post(edge + "/orders", content=b"x" * 1001)
    assert big.status_code == 413
    assert "detail" in big.json() and "x-request-id" in big.headers
    chunked = client.post(edge + "/orders", content=iter([b"x" * 600, b"y" * 600]))
    assert chunked.status_code == 413
    assert client.post(edge + "/orders", content=b"x" * 1000).status_code == 200

    for _ in range(5):  # upstream 5xx pass through and are not breaker failures
        failed = client.get(edge + "/products/status/500")
        assert failed.status_code == 500 and served_by(failed) in {"fake/1", "fake/2"}
    assert upstream_health(client, edge, "catalog")["breaker"] == "closed"

    started = time.perf_counter()
    slow = client.get(edge + "/orders/slow/1.5")  # orders has one replica: no retry
    assert slow.status_code == 504
    assert slow.json() == {"detail": "orders timed out"}
    assert time.perf_counter() - started < 2.5

    health = client.get(edge + "/health")
    assert served_by(health) == "gateway/edge-test@v1"
    body = health.json()
    assert body["unit"] == "gateway" and body["instance"] == "edge-test"
    assert body["version"] == "1"
    assert body["upstreams"]["catalog"] == {"replicas": 2, "healthy": 2, "breaker": "closed"}
    assert body["upstreams"]["orders"]["healthy"] == 0  # ejected by the timeout
    assert body["status"] == "degraded"


def _schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _doc(paths: dict[str, str], schemas: list[str]) -> dict[str, Any]:
    ok = "application/json"
    return {
        "openapi": "3.1.0",
        "info": {"title": "unit", "version": "0"},
        "paths": {
            path: {"get": {"responses": {"200": {"content": {ok: {"schema": _schema(s)}}}}}}
            for path, s in paths.items()
        },
        "components": {"schemas": {s: {"type": "object", "title": s} for s in schemas}},
    }


CATALOG_DOC = _doc(
    {"/products": "Product", "/_chaos": "Chaos", "/health": "Health"},
    ["Product", "Chaos", "Health"],
)
ORDERS_DOC = _doc({"/orders": "Order", "/health": "Health"}, ["Order", "Health"])
MONOLITH_DOC = _doc(
    {"/products": "Product", "/orders": "Order", "/_chaos": "Chaos", "/health": "Health"},
    ["Product", "Order", "Chaos", "Health"],
)


def test_openapi_is_merged_and_the_same_for_gateway_and_lb(
    start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    catalog, orders = replica(1, CATALOG_DOC), replica(2, ORDERS_DOC)
    monolith = replica(3, MONOLITH_DOC)
    upstreams = {"catalog": f"list:{catalog.url}", "orders": f"list:{orders.url}"}
    gw = start_edge(UPSTREAMS=json.dumps(upstreams))
    lb = start_edge(
        UNIT="lb",
        ROUTES=json.dumps({"/": "monolith"}),
        UPSTREAMS=json.dumps({"monolith": f"list:{monolith.url}"}),
    )

    merged = client.get(gw + "/openapi.json")
    assert merged.status_code == 200
    doc = merged.json()
    assert doc["info"] == {"title": "twinshop", "version": "1"}
    assert sorted(doc["paths"]) == ["/health", "/orders", "/products", "/ready"]
    assert doc["paths"]["/health"]["get"]["operationId"] == "edge_health"
    schemas = doc["components"]["schemas"]
    assert {"Product", "Order", "EdgeHealth"} <= set(schemas)
    assert "Chaos" not in schemas and "Health" not in schemas

    lb_doc = client.get(lb + "/openapi.json").json()
    assert lb_doc["paths"] == doc["paths"]
    assert lb_doc["components"] == doc["components"]

    docs_page = client.get(gw + "/docs")
    assert docs_page.status_code == 200
    assert "/openapi.json" in docs_page.text


def test_openapi_serves_what_it_has_while_an_upstream_is_missing(
    start_edge: StartEdge, replica: MakeReplica, client: httpx.Client
) -> None:
    catalog = replica(1, CATALOG_DOC)
    upstreams = {"catalog": f"list:{catalog.url}", "orders": "list:http://127.0.0.1:9"}
    edge = start_edge(UPSTREAMS=json.dumps(upstreams))
    doc = client.get(edge + "/openapi.json").json()
    assert sorted(doc["paths"]) == ["/health", "/products", "/ready"]
