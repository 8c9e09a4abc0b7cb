"""Hostile clients against both edges (process runtime): each gets a short, clear answer,
and a normal client on another connection keeps getting its answers meanwhile."""

from __future__ import annotations

import socket
import time

from tests.security.conftest import EDGE_ENV, Edge
from tests.security.raw import (
    connect,
    header_of,
    normal_client,
    read_until_closed,
    rss_bytes,
    status_of,
    stream_header,
)
from tests.support import eventually

SLOWEST = 5.0
"""Seconds: the slowest answer the normal client may see, generous for a loaded CI machine;
before the limits one 80 MB header took 14 to 17 s to parse, holding everyone else."""
MAX_CONNECTIONS = int(EDGE_ENV["TWINSHOP_MAX_CONNECTIONS"])


def test_an_80_mb_header_is_refused_while_it_arrives(edge: Edge) -> None:
    rss_before = rss_bytes(edge.pid)
    with normal_client(edge.url) as meanwhile:
        streamed = stream_header(edge.host, edge.port, total=80 << 20)
    assert status_of(streamed.answer) == 431, streamed.answer[:200]
    assert b"request header fields too large" in streamed.answer
    assert header_of(streamed.answer, b"connection") == b"close"
    assert streamed.bytes_sent < 40 << 20  # the answer came long before the header's end
    assert streamed.seconds < SLOWEST
    meanwhile.assert_served(slowest=SLOWEST)
    assert rss_bytes(edge.pid) - rss_before < 30 << 20  # nothing of the header was kept


def test_a_thousand_headers_are_refused(edge: Edge) -> None:
    sock = connect(edge.host, edge.port)
    with sock:
        fields = b"".join(b"X-Field-%d: v\r\n" % i for i in range(1000))
        sock.sendall(b"GET /products/1 HTTP/1.1\r\nHost: edge\r\n" + fields + b"\r\n")
        answer = read_until_closed(sock, within=10)
    assert status_of(answer) == 431
    assert b"too many request header fields" in answer


def test_headers_that_never_end_get_408_and_the_connection_closes(edge: Edge) -> None:
    with normal_client(edge.url) as meanwhile:
        sock = connect(edge.host, edge.port)
        with sock:
            sock.sendall(b"GET /products/1 HTTP/1.1\r\nHost: edge\r\nX-Slow: ")
            answer = read_until_closed(sock, within=10)
    assert status_of(answer) == 408
    assert b"request headers not received in time" in answer
    meanwhile.assert_served(slowest=SLOWEST)


def test_a_chunked_body_that_never_ends_gets_408(edge: Edge) -> None:
    with normal_client(edge.url) as meanwhile:
        sock = connect(edge.host, edge.port)
        with sock:
            sock.sendall(
                b"POST /orders HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"
            )
            answer = read_until_closed(sock, within=10)
    assert status_of(answer) == 408
    assert b"request body not received in time" in answer
    meanwhile.assert_served(slowest=SLOWEST)


def test_a_body_over_the_units_limit_is_refused_at_the_edge(edge: Edge) -> None:
    sock = connect(edge.host, edge.port)
    with sock:
        sock.sendall(
            b"POST /orders HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (64 * 1024 + 1)
        )
        answer = read_until_closed(sock, within=10)
    assert status_of(answer) == 413
    # It closes the connection, and says so: a pooled client must not reuse it.
    assert header_of(answer, b"connection") == b"close"
    served_by = header_of(answer, b"x-served-by")
    assert served_by is not None and served_by.startswith(edge.unit.encode())


def test_an_idle_flood_is_capped_and_closed(edge: Edge) -> None:
    flood: list[socket.socket] = []
    with normal_client(edge.url) as meanwhile:
        try:
            for _ in range(MAX_CONNECTIONS + 36):
                flood.append(connect(edge.host, edge.port))
            answers = [read_until_closed(sock, within=10) for sock in flood]
        finally:
            for sock in flood:
                sock.close()
        time.sleep(0.1)
    refused = [a for a in answers if status_of(a) == 503]
    assert refused, "no connection over the cap was refused"
    assert all(b"too many connections" in a for a in refused)
    assert len(refused) < len(flood)  # the rest were accepted, then closed once idle
    assert all(a in refused or a == b"" for a in answers)
    meanwhile.assert_served(slowest=SLOWEST)
    # After the flood, a new client gets in again.
    eventually(lambda: _new_client_answered(edge), within=10, what="a new client is served")


def _new_client_answered(edge: Edge) -> bool:
    sock = connect(edge.host, edge.port)
    with sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        return status_of(read_until_closed(sock, within=10)) == 200
