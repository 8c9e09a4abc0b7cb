"""``lab.health.wait_edge_routes``: what the docker and swarm runtimes wait for after they
scale, start or redeploy a unit, against a small edge that reports its upstreams."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lab.health import wait_edge_routes


class FakeEdge:
    """Answers ``/health`` with the next of ``answers`` (the last one repeats)."""

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = answers
        self.asked = 0
        edge = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = edge.answers[min(edge.asked, len(edge.answers) - 1)]
                edge.asked += 1
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def edge() -> Iterator[FakeEdge]:
    fake = FakeEdge([{}])
    yield fake
    fake.close()


def catalog(replicas: int, healthy: int, breaker: str = "closed") -> dict[str, Any]:
    return {
        "upstreams": {"catalog": {"replicas": replicas, "healthy": healthy, "breaker": breaker}}
    }


def test_waits_through_an_open_breaker_until_enough_replicas_are_healthy(edge: FakeEdge) -> None:
    edge.answers = [catalog(2, 0, "open"), catalog(2, 1), catalog(2, 2)]
    assert wait_edge_routes(edge.url, "catalog", replicas=2, timeout=10)
    assert edge.asked == 3


def test_an_exact_count_waits_for_the_replicas_to_go(edge: FakeEdge) -> None:
    edge.answers = [catalog(3, 3), catalog(1, 1)]
    assert wait_edge_routes(edge.url, "catalog", replicas=1, exact=True, timeout=10)
    assert edge.asked == 2


def test_false_when_the_edge_never_routes_there(edge: FakeEdge) -> None:
    edge.answers = [catalog(1, 0)]
    assert not wait_edge_routes(edge.url, "catalog", timeout=0.5)


def test_an_edge_that_does_not_answer_is_not_waited_for(edge: FakeEdge) -> None:
    url = edge.url
    edge.close()
    assert wait_edge_routes(url, "catalog", timeout=30)
