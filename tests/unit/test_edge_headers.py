"""What the edge forwards and returns: hop-by-hop headers, request ids, lengths."""

from __future__ import annotations

import pytest
import uvicorn

from services.gateway.config import EdgeSettings
from services.gateway.proxy import public_location, response_headers, split_headers
from services.gateway.upstream import KEEPALIVE_SECONDS
from shop.core import limits
from shop.kernel.config import UnitSettings


def test_request_headers_drop_hop_by_hop_and_host_but_keep_the_rest() -> None:
    incoming = split_headers(
        [
            (b"host", b"edge:8080"),
            (b"connection", b"keep-alive, x-private"),
            (b"keep-alive", b"timeout=5"),
            (b"transfer-encoding", b"chunked"),
            (b"upgrade", b"h2c"),
            (b"x-private", b"secret"),
            (b"content-length", b"12"),
            (b"x-request-id", b"abc"),
            (b"authorization", b"Bearer t"),
            (b"idempotency-key", b"k1"),
            (b"content-type", b"application/json"),
        ]
    )
    assert incoming.forward == [
        (b"authorization", b"Bearer t"),
        (b"idempotency-key", b"k1"),
        (b"content-type", b"application/json"),
    ]
    assert incoming.request_id == b"abc"
    assert incoming.content_length == b"12"
    assert incoming.idempotency_key


def test_response_headers_drop_hop_by_hop_and_set_length_and_request_id() -> None:
    raw = [
        (b"Content-Type", b"application/json"),
        (b"Content-Length", b"999"),
        (b"Connection", b"keep-alive"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Server", b"uvicorn"),
        (b"Date", b"today"),
        (b"X-Request-ID", b"other"),
        (b"X-Served-By", b"catalog/1"),
        (b"Set-Cookie", b"a=1"),
        (b"Set-Cookie", b"b=2"),
    ]
    headers = response_headers(raw, "GET", 200, b"{}", b"rid")
    assert headers == [
        (b"content-type", b"application/json"),
        (b"x-served-by", b"catalog/1"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"content-length", b"2"),
        (b"x-request-id", b"rid"),
    ]


def test_head_keeps_the_upstream_length_and_204_gets_none() -> None:
    head = response_headers([(b"content-length", b"42")], "HEAD", 200, b"", b"r")
    assert (b"content-length", b"42") in head
    empty = response_headers([], "DELETE", 204, b"", b"r")
    assert all(name != b"content-length" for name, _ in empty)


def test_settings_defaults_are_the_gateway_table(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("UNIT", "ROUTES", "UPSTREAMS", "BALANCE", "MAX_BODY_BYTES"):
        monkeypatch.delenv(f"TWINSHOP_{name}", raising=False)
    settings = EdgeSettings()
    assert settings.ROUTES == {"/products": "catalog", "/orders": "orders"}
    assert settings.UPSTREAMS == {"catalog": "http://catalog:8000", "orders": "http://orders:8000"}
    assert settings.BALANCE == "least_outstanding"
    assert settings.MAX_BODY_BYTES == UnitSettings().MAX_BODY_BYTES == 64 * 1024  # one limit
    assert settings.served_by == f"gateway/{settings.INSTANCE}@v1"


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWINSHOP_UNIT", "lb")
    monkeypatch.setenv("TWINSHOP_INSTANCE", "lb-1")
    monkeypatch.setenv("TWINSHOP_ROUTES", '{"/": "monolith"}')
    monkeypatch.setenv("TWINSHOP_UPSTREAMS", '{"monolith": "list:http://127.0.0.1:1"}')
    monkeypatch.setenv("TWINSHOP_BREAKER_OPEN_SECONDS", "0.5")
    settings = EdgeSettings()
    assert settings.served_by == f"lb/lb-1@v{settings.VERSION}"
    assert settings.routed_upstreams == ["monolith"]
    assert settings.BREAKER_OPEN_SECONDS == 0.5


def test_an_lb_without_a_route_table_sends_everything_to_the_monolith(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ROUTES", "UPSTREAMS"):
        monkeypatch.delenv(f"TWINSHOP_{name}", raising=False)
    settings = EdgeSettings(UNIT="lb")
    assert settings.ROUTES == {"/": "monolith"}
    assert settings.UPSTREAMS == {"monolith": "http://monolith:8000"}


def test_routes_must_name_known_upstreams() -> None:
    with pytest.raises(ValueError, match="no discovery spec"):
        EdgeSettings(ROUTES={"/x": "nowhere"}, UPSTREAMS={"catalog": "list:http://a"})
    with pytest.raises(ValueError, match="must start with"):
        EdgeSettings(ROUTES={"x": "catalog"}, UPSTREAMS={"catalog": "list:http://a"})


@pytest.mark.parametrize(
    ("location", "public"),
    [
        (b"http://127.0.0.1:41234/products", b"/products"),
        (b"HTTPS://catalog:8000/products/?q=a", b"/products/?q=a"),
        (b"//catalog:8000/orders/1", b"/orders/1"),
        (b"http://catalog:8000", b"/"),
        (b"/orders/1", b"/orders/1"),
        (b"orders/1", b"orders/1"),
    ],
)
def test_a_location_keeps_only_its_path(location: bytes, public: bytes) -> None:
    assert public_location(location) == public


def test_an_idempotency_key_named_in_connection_does_not_go_upstream() -> None:
    incoming = split_headers(
        [(b"idempotency-key", b"k"), (b"connection", b"close, Idempotency-Key")]
    )
    assert incoming.forward == [] and not incoming.idempotency_key
    kept = split_headers([(b"idempotency-key", b"k"), (b"connection", b"close")])
    assert kept.forward == [(b"idempotency-key", b"k")] and kept.idempotency_key


def test_the_pool_drops_idle_connections_before_the_units_close_them() -> None:
    assert uvicorn.Config(app="x:y").timeout_keep_alive == limits.UNIT_KEEPALIVE_SECONDS
    assert KEEPALIVE_SECONDS == limits.EDGE_POOL_KEEPALIVE_SECONDS < limits.UNIT_KEEPALIVE_SECONDS
