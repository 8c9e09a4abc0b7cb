"""Forwarding decisions (retry, ejection, breaker, error answers) with a scripted client.

No sockets: the upstream's HTTP client is replaced by a fake that answers or raises.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.gateway.app import Edge
from services.gateway.client import (
    ConnectFailed,
    ConnectionBroken,
    RawHeaders,
    RawResponse,
    ReadTimeout,
)
from services.gateway.config import EdgeSettings
from services.gateway.proxy import EdgeError, forward
from services.gateway.upstream import Upstream

A, B = "http://a:1", "http://b:1"


class ScriptedClient:
    """Answers 200 unless ``failures`` names an exception for a replica's base URL."""

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[tuple[str, str, str]] = []
        self.retryable: list[bool] = []

    async def request(
        self,
        base_url: str,
        method: str,
        target: str,
        headers: RawHeaders,
        body: bytes,
        timeout: float | None = None,
        *,
        retryable: bool = False,
    ) -> RawResponse:
        self.calls.append((base_url, method, target))
        self.retryable.append(retryable)
        if base_url in self.failures:
            raise self.failures[base_url]
        return RawResponse(200, [(b"X-Served-By", base_url.encode())], b"{}")

    def sweep(self) -> None:
        pass

    async def close(self) -> None:
        pass


def upstream(client: ScriptedClient, *urls: str, failures: int = 5, eject: float = 60) -> Upstream:
    up = Upstream(
        "catalog",
        "list:" + ",".join(urls),
        strategy="round_robin",
        eject_seconds=eject,
        breaker_failures=failures,
        breaker_open_seconds=60,
        connect_timeout=1,
        read_timeout=1,
        discovery_interval=1,
    )
    up.balancer.update(urls)
    up.attach(client)
    return up


def send(up: Upstream, method: str = "GET", *, retryable: bool = True) -> Any:
    async def go() -> Any:
        return await forward(up, method, "/products", [], b"", retryable=retryable, rid=b"r")

    return asyncio.run(go())


def test_a_connect_failure_is_retried_on_the_other_replica_and_ejects() -> None:
    client = ScriptedClient({A: ConnectFailed("refused")})
    up = upstream(client, A, B)
    reply = send(up, "POST", retryable=False)  # never sent, so safe for any method
    assert reply.status == 200
    assert [call[0] for call in client.calls] == [A, B]
    assert [r.url for r in up.balancer.healthy()] == [B]
    assert up.breaker.consecutive_failures == 0  # the success reset it


def test_a_broken_connection_is_retried_only_when_retryable() -> None:
    client = ScriptedClient({A: ConnectionBroken("reset")})
    with pytest.raises(EdgeError) as error:
        send(upstream(client, A, B), "POST", retryable=False)
    assert error.value.status == 502
    assert len(client.calls) == 1

    client = ScriptedClient({A: ConnectionBroken("reset")})
    assert send(upstream(client, A, B), "POST", retryable=True).status == 200
    assert [call[0] for call in client.calls] == [A, B]


@pytest.mark.parametrize("retryable", [True, False])
def test_the_retry_rule_is_passed_down_to_the_client(retryable: bool) -> None:
    client = ScriptedClient()
    send(upstream(client, A), "POST", retryable=retryable)
    assert client.retryable == [retryable]


def test_only_one_retry_and_the_last_failure_decides_the_status() -> None:
    client = ScriptedClient({A: ConnectFailed("refused"), B: ReadTimeout("slow")})
    with pytest.raises(EdgeError) as error:
        send(upstream(client, A, B))
    assert error.value.status == 504
    assert len(client.calls) == 2

    client = ScriptedClient({A: ConnectFailed("refused")})
    with pytest.raises(EdgeError) as error:
        send(upstream(client, A))
    assert (error.value.status, error.value.retry_after) == (503, 1)
    assert error.value.detail == "catalog unavailable"


def test_the_breaker_counts_failed_requests_not_failed_attempts() -> None:
    client = ScriptedClient({A: ConnectFailed("refused")})
    up = upstream(client, A, B, failures=1, eject=0)
    for _ in range(4):  # A keeps failing, but every request succeeds on B
        assert send(up).status == 200
    assert up.breaker.state == "closed"


def test_the_breaker_opens_then_fails_fast_without_calling_the_client() -> None:
    client = ScriptedClient({A: ConnectFailed("refused"), B: ConnectFailed("refused")})
    up = upstream(client, A, B, failures=2, eject=0)
    for _ in range(2):
        with pytest.raises(EdgeError):
            send(up)
    assert len(client.calls) == 4  # two requests, each retried once
    assert up.breaker.state == "open"
    for _ in range(5):
        with pytest.raises(EdgeError) as error:
            send(up)
        assert error.value.status == 503
        assert error.value.retry_after is not None and error.value.retry_after >= 1
    assert len(client.calls) == 4


def test_no_usable_replica_opens_the_breaker_at_once() -> None:
    up = upstream(ScriptedClient(), A, failures=5)
    up.balancer.eject(up.balancer.replicas[0])
    with pytest.raises(EdgeError) as error:
        send(up)
    assert error.value.status == 503
    assert up.breaker.state == "open"


def test_a_half_open_trial_may_probe_an_ejected_replica_and_restores_it() -> None:
    client = ScriptedClient()
    up = upstream(client, A)
    up.balancer.eject(up.balancer.replicas[0])
    up.breaker.trip()
    up.breaker.probe_now()
    assert send(up).status == 200
    assert up.breaker.state == "closed"
    assert [r.url for r in up.balancer.healthy()] == [A]


def test_upstream_statuses_are_answers_not_failures() -> None:
    class Failing(ScriptedClient):
        async def request(self, *args: Any, **kwargs: Any) -> RawResponse:
            return RawResponse(503, [], b'{"detail": "db down"}')

    up = upstream(Failing(), A, failures=1)
    for _ in range(3):
        assert send(up).status == 503
    assert up.breaker.state == "closed"


def call_edge(
    edge: Edge,
    method: str,
    path: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def sendmsg(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-length", str(len(body)).encode())] if body else [],
    }
    scope["headers"] += headers or []
    asyncio.run(edge(scope, receive, sendmsg))
    start, end = messages
    return start["status"], dict(start["headers"]), end["body"]


def edge_with(client: ScriptedClient, unit: str = "gateway") -> Edge:
    if unit == "gateway":
        settings = EdgeSettings(
            UNIT="gateway",
            INSTANCE="t",
            UPSTREAMS={"catalog": f"list:{A}", "orders": f"list:{B}"},
            MAX_BODY_BYTES=10,
        )
    else:
        settings = EdgeSettings(
            UNIT="lb", INSTANCE="t", ROUTES={"/": "monolith"}, UPSTREAMS={"monolith": f"list:{A}"}
        )
    edge = Edge(settings)
    for up in edge.upstreams.values():
        up.balancer.update(up.discovery.replicas())
        up.attach(client)
    edge._started = True  # no lifespan, no background tasks
    return edge


def test_an_unexpected_exception_is_a_502_without_a_traceback() -> None:
    class Exploding(ScriptedClient):
        async def request(self, *args: Any, **kwargs: Any) -> RawResponse:
            raise RuntimeError("secret internals")

    status, headers, body = call_edge(edge_with(Exploding()), "GET", "/products")
    assert status == 502
    assert json.loads(body) == {"detail": "bad gateway"}
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"x-served-by"] == b"gateway/t@v1"
    assert b"x-request-id" in headers


def test_own_errors_are_json() -> None:
    edge = edge_with(ScriptedClient())
    status, _, body = call_edge(edge, "GET", "/productsX")
    assert (status, json.loads(body)) == (404, {"detail": "Not Found"})
    status, _, body = call_edge(edge, "POST", "/orders", b"x" * 11)
    assert status == 413 and "detail" in json.loads(body)
    status, headers, _ = call_edge(edge, "DELETE", "/health")
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"
    status, headers, body = call_edge(edge, "GET", "/orders/1")
    assert status == 200 and headers[b"x-served-by"] == B.encode()


@pytest.mark.parametrize("unit", ["gateway", "lb"])
@pytest.mark.parametrize(
    "path",
    [
        "/redoc",
        "/docs/oauth2-redirect",
        "/docs/",
        "/openapi.json/",
        "/health/",
        "/ready/",
        "/metrics/",
        "/_chaos",
        "/productsX",
    ],
)
def test_nothing_of_a_unit_but_the_public_api_is_forwarded(unit: str, path: str) -> None:
    client = ScriptedClient()
    status, headers, body = call_edge(edge_with(client, unit), "GET", path)
    if unit == "lb" and path == "/productsX":
        assert client.calls  # the lb's catch-all route: the monolith answers its 404
        return
    assert (status, json.loads(body)) == (404, {"detail": "Not Found"})
    assert headers[b"x-served-by"] == f"{unit}/t@v1".encode()
    assert client.calls == []


@pytest.mark.parametrize(
    ("method", "headers", "retryable"),
    [
        ("GET", [], True),
        ("PUT", [], True),
        ("POST", [], False),
        ("PATCH", [(b"idempotency-key", b"k")], False),
        ("POST", [(b"idempotency-key", b"k")], True),
        # The key is hop-by-hop here: stripped, so the unit cannot dedupe a repeat.
        ("POST", [(b"idempotency-key", b"k"), (b"connection", b"Idempotency-Key")], False),
        ("POST", [(b"idempotency-key", b"k"), (b"connection", b"keep-alive")], True),
    ],
)
def test_the_retry_rule_is_decided_on_what_goes_upstream(
    method: str, headers: list[tuple[bytes, bytes]], retryable: bool
) -> None:
    client = ScriptedClient()
    call_edge(edge_with(client), method, "/orders", b"{}", headers)
    assert client.retryable == [retryable]


def test_a_location_from_a_unit_loses_its_internal_address() -> None:
    class Redirecting(ScriptedClient):
        async def request(self, *args: Any, **kwargs: Any) -> RawResponse:
            location = (b"location", b"http://127.0.0.1:41234/products?limit=3")
            return RawResponse(307, [location], b"")

    status, headers, _ = call_edge(edge_with(Redirecting()), "GET", "/products/")
    assert (status, headers[b"location"]) == (307, b"/products?limit=3")


def test_an_ejected_replica_whose_health_answers_is_back_at_once() -> None:
    """A unit killed and restarted within a second does not sit out its ejection."""
    client = ScriptedClient(failures={B: ConnectFailed("refused")})
    up = upstream(client, A, B, failures=1)
    for replica in up.balancer.replicas:
        up.balancer.eject(replica)
    up.breaker.failure()
    assert up.breaker.state == "open"
    assert asyncio.run(up.probe_ejected()) == 1
    assert [r.url for r in up.balancer.healthy()] == [A]
    assert up.breaker.state == "half_open"
    assert (A, "GET", "/health") in client.calls


def test_connect_failures_are_retried_on_every_other_replica_in_turn() -> None:
    """Right after a scale-up two new replicas may not listen yet: the third answers."""
    c = "http://c:1"
    client = ScriptedClient({A: ConnectFailed("refused"), B: ConnectFailed("refused")})
    up = upstream(client, A, B, c)
    reply = send(up, "POST", retryable=False)
    assert reply.status == 200
    assert sorted(call[0] for call in client.calls) == [A, B, c]
    assert [r.url for r in up.balancer.healthy()] == [c]


def test_a_broken_connection_is_still_retried_once_only() -> None:
    c = "http://c:1"
    failures: dict[str, Exception] = {u: ConnectionBroken("reset") for u in (A, B, c)}
    client = ScriptedClient(failures)
    with pytest.raises(EdgeError):
        send(upstream(client, A, B, c), "GET", retryable=True)
    assert len(client.calls) == 2
