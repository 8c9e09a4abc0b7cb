"""The benchmarks' load generator: one URL, a fixed number of keep-alive connections, as
fast as it answers (wrk when installed, else a small asyncio client); throughput and latency.

Not the lab's ``lab.load`` (locust shoppers on whole architectures, per-second buckets): this
hammers one route of one process to compare proxies and implementations.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import HOST


@dataclass
class UrlMeasurement:
    """One measurement: throughput and latency (milliseconds) at a fixed connection count."""

    generator: str
    url: str
    method: str
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    bad_status: int = 0  # answers that were not 2xx/3xx
    socket_errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_generator(choice: str) -> str:
    """``auto`` → wrk when installed, else the Python client."""
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed (apt-get install -y wrk); using the Python client instead")
        return "python"
    return choice


def measure_url(
    generator: str,
    url: str,
    *,
    connections: int,
    duration: float,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    workdir: Path,
) -> UrlMeasurement:
    """Drive ``url`` with ``connections`` keep-alive connections for ``duration`` seconds,
    each sending its next request as soon as the answer came (closed loop)."""
    if generator == "wrk":
        return _wrk(url, connections, duration, method, body, headers or {}, workdir)
    return asyncio.run(_python_load(url, connections, duration, method, body, headers or {}))


_WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"p50\":%d,\"p90\":%d,\"p99\":%d," ..
    "\"mean\":%f,\"max\":%d,\"status\":%d,\"connect\":%d,\"read\":%d,\"write\":%d," ..
    "\"timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max, e.status, e.connect, e.read,
    e.write, e.timeout))
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal here


def _wrk(
    url: str,
    connections: int,
    duration: float,
    method: str,
    body: bytes,
    headers: dict[str, str],
    workdir: Path,
) -> UrlMeasurement:
    lines = [f"wrk.method = {_lua_string(method)}"]
    if body:
        lines.append(f"wrk.body = {_lua_string(body.decode())}")
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    script = workdir / f"wrk-{os.getpid()}-{time.monotonic_ns()}.lua"
    script.write_text("\n".join(lines) + "\n" + _WRK_DONE)
    cmd = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s",
        "--timeout", "10s", "-s", str(script), url,
    ]  # fmt: skip
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    finally:
        script.unlink(missing_ok=True)
    marker = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if marker is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout}\n{out.stderr}")
    data = json.loads(marker.removeprefix("BENCHJSON "))
    seconds = data["duration_us"] / 1e6
    return UrlMeasurement(
        generator="wrk",
        url=url,
        method=method,
        connections=connections,
        duration_s=round(seconds, 3),
        requests=data["requests"],
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50"] / 1000,
        p90_ms=data["p90"] / 1000,
        p99_ms=data["p99"] / 1000,
        mean_ms=data["mean"] / 1000,
        max_ms=data["max"] / 1000,
        bad_status=data["status"],
        socket_errors=data["connect"] + data["read"] + data["write"] + data["timeout"],
    )


async def _python_load(
    url: str,
    connections: int,
    duration: float,
    method: str,
    body: bytes,
    headers: dict[str, str],
) -> UrlMeasurement:
    """A keep-alive HTTP/1.1 load generator: ``connections`` loops, one request at a time."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or HOST, parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        head.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + body
    latencies: list[int] = []
    counts = {"bad": 0, "errors": 0}
    deadline = time.perf_counter() + duration

    async def one_connection() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                start = time.perf_counter_ns()
                writer.write(request)
                status_line_and_headers = await reader.readuntil(b"\r\n\r\n")
                status = int(status_line_and_headers.split(b" ", 2)[1])
                length = 0
                close = False
                for line in status_line_and_headers.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and b"close" in value.lower():
                        close = True
                    elif name == b"transfer-encoding":
                        raise RuntimeError("chunked answers are not supported")
                await reader.readexactly(length)
                latencies.append(time.perf_counter_ns() - start)
                if status >= 400:
                    counts["bad"] += 1
                if close:
                    writer.close()
                    writer = None
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    ms = sorted(v / 1e6 for v in latencies)
    return UrlMeasurement(
        generator="python",
        url=url,
        method=method,
        connections=connections,
        duration_s=round(elapsed, 3),
        requests=len(ms),
        rps=len(ms) / elapsed if elapsed else 0.0,
        p50_ms=percentile(ms, 50),
        p90_ms=percentile(ms, 90),
        p99_ms=percentile(ms, 99),
        mean_ms=sum(ms) / len(ms) if ms else 0.0,
        max_ms=ms[-1] if ms else 0.0,
        bad_status=counts["bad"],
        socket_errors=counts["errors"],
    )


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return float(sorted_values[rank - 1])
