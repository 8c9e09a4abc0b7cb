"""What crosses an edge: never a trailer as a header, never a header the client made
hop-by-hop, never a unit's address, and the same public surface on both entries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import EDGES, Edge, edge_of
from tests.security.raw import connect, header_of, read_until_closed, status_of
from tests.support import Stack


@pytest.fixture
def client(edge: Edge) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge.url, timeout=10.0, trust_env=False) as http:
        yield http


def _chunked(path: str, body: bytes, *, headers: bytes = b"", trailers: bytes = b"") -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n" + headers + b"\r\n"
        b"%x\r\n" % len(body) + body + b"\r\n0\r\n" + trailers + b"\r\n"
    )


def _product() -> bytes:
    sku = f"SEC-{uuid.uuid4().hex[:10]}"
    return json.dumps({"sku": sku, "name": sku, "price_cents": 100, "stock": 1}).encode()


def test_a_token_in_a_trailer_is_not_a_token(edge: Edge) -> None:
    token = b"Authorization: Bearer " + edge.admin_token.encode() + b"\r\n"
    # Sent in one piece: the trailer arrives together with the head.
    for headers, trailers, expected in ((b"", token, 401), (token, b"", 201)):
        sock = connect(edge.host, edge.port)
        with sock:
            sock.sendall(_chunked("/products", _product(), headers=headers, trailers=trailers))
            answer = read_until_closed(sock, within=10)
        assert status_of(answer) == expected, answer[:300]


def test_an_idempotency_key_in_a_trailer_is_not_a_key(edge: Edge) -> None:
    order = b'{"customer": "trailer", "items": [{"product_id": 1, "quantity": 1}]}'
    key = f"Idempotency-Key: sec-{uuid.uuid4().hex}\r\n".encode()
    ids = []
    for _ in range(2):
        sock = connect(edge.host, edge.port)
        with sock:
            sock.sendall(_chunked("/orders", order, trailers=key))
            answer = read_until_closed(sock, within=10)
        assert status_of(answer) == 201, answer[:300]
        assert header_of(answer, b"idempotent-replayed") is None
        ids.append(json.loads(answer.split(b"\r\n\r\n", 1)[1])["id"])
    assert ids[0] != ids[1]


def test_a_key_the_client_made_hop_by_hop_does_not_reach_the_unit(
    edge: Edge, client: httpx.Client
) -> None:
    order = {"customer": "hop", "items": [{"product_id": 1, "quantity": 1}]}
    key = f"sec-{uuid.uuid4().hex}"
    stripped = {"Idempotency-Key": key, "Connection": "Idempotency-Key"}
    first, second = (client.post("/orders", json=order, headers=stripped) for _ in range(2))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]  # no key upstream, so no replay
    # (and so no retry either: tests/unit/test_edge_proxy.py decides it the same way)
    kept = [client.post("/orders", json=order, headers={"Idempotency-Key": key + "-k"})]
    kept.append(client.post("/orders", json=order, headers={"Idempotency-Key": key + "-k"}))
    assert kept[1].headers.get("idempotent-replayed") == "true"
    assert kept[0].json()["id"] == kept[1].json()["id"]


@pytest.mark.parametrize(
    "path",
    [
        "/products/",
        "/products/?limit=3",
        "/products/1/",
        "/orders/",
        "/health/",
        "/ready/",
        "/metrics/",
        "/docs/",
        "/openapi.json/",
    ],
)
def test_a_trailing_slash_never_redirects(edge: Edge, client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404, (response.status_code, response.headers)
    assert "location" not in response.headers


# Every path a client might try, and what both entries answer.  The edge's own five,
# the public API, and nothing of a unit's: its doc pages, operator routes, internal API.
SURFACE = {
    "/docs": 200,
    "/openapi.json": 200,
    "/health": 200,
    "/ready": 200,
    "/metrics": 200,
    "/products": 200,
    "/products/1": 200,
    "/redoc": 404,
    "/docs/oauth2-redirect": 404,
    "/_chaos": 404,
    "/reservations/x": 404,
    "/nothing": 404,
    "/": 404,
}
OWN = ("/docs", "/openapi.json", "/health", "/ready", "/metrics")


@pytest.mark.parametrize("path", sorted(SURFACE))
def test_both_entries_expose_the_same_surface(hardened_stack: Stack, path: str) -> None:
    answers = {}
    for arch in sorted(EDGES):
        edge = edge_of(hardened_stack, arch)
        answers[arch] = httpx.get(edge.url + path, timeout=10.0, follow_redirects=False)
        if path in OWN:
            assert answers[arch].headers["x-served-by"].startswith(edge.unit + "/")
    assert {a: r.status_code for a, r in answers.items()} == dict.fromkeys(EDGES, SURFACE[path])
    if path == "/openapi.json":
        micro, mono = (answers[a].json() for a in sorted(EDGES))
        assert micro["paths"] == mono["paths"]
