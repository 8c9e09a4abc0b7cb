"""What the benchmarks share: processes that always get stopped, a load generator (wrk, or
a small asyncio client), latency statistics, the machine's description, tables and JSON.

Benchmarks report; they never fail: every script exits 0 once it has printed its figures,
even when a target is missed.  Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parent.parent


# -- signals: Ctrl-C and SIGTERM both unwind through every ``finally`` -----------------------


def install_signal_handlers() -> None:
    """Turn SIGTERM and SIGHUP into ``SystemExit`` so that clean-up code runs."""

    def _exit(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit)


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Processes:
    """Processes started by a benchmark; ``stop_all`` (also on exit) ends each group."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        cmd: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> int:
        log = self.workdir / f"{name}.log"
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with log.open("ab") as out:
            proc = subprocess.Popen(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,  # our Ctrl-C does not reach it; we stop it ourselves
            )
        self.procs[name] = proc
        return proc.pid

    def pid(self, name: str) -> int:
        return self.procs[name].pid

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def stop(self, name: str, grace: float = 5.0) -> None:
        proc = self.procs.pop(name, None)
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@contextlib.contextmanager
def workspace(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary directory, removed at the end unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"(kept {path})")
        else:
            shutil.rmtree(path, ignore_errors=True)


def uvicorn_cmd(app: str, port: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", HOST, "--port", str(port),
        "--no-access-log", "--no-proxy-headers", "--log-level", "warning", *extra,
    ]  # fmt: skip


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, Any]:
    """One small request with the standard library; returns (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def wait_http(url: str, timeout: float = 30.0, alive: Any = None) -> float:
    """Poll ``url`` until it answers 200; returns the seconds waited."""
    start = time.monotonic()
    while True:
        try:
            if http("GET", url, timeout=1.0)[0] == 200:
                return time.monotonic() - start
        except OSError:
            pass
        if alive is not None and not alive():
            raise RuntimeError(f"the process behind {url} exited")
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{url} not healthy after {timeout:.0f} s")
        time.sleep(0.05)


# -- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
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


def run_load(
    generator: str,
    url: str,
    *,
    connections: int,
    duration: float,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    workdir: Path,
) -> LoadResult:
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
) -> LoadResult:
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
    return LoadResult(
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
) -> LoadResult:
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
    return LoadResult(
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


# -- the machine, tables, JSON --------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "CPU MHz"):
                info[key.strip()] = value.strip()
    with contextlib.suppress(OSError):
        info["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[:3]
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_mb"] = int(line.split()[1]) // 1024
    return info


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A rich table when rich is installed, else aligned plain text."""
    cells = [[fmt(c) for c in row] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
        print(f"\n{title}")
        print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
        print("  ".join("-" * w for w in widths))
        for row in cells:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        return
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in cells:
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if not path:
        return
    Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"results written to {path}")


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in kB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def uss_kb(pid: int) -> int | None:
    """Unique set size in kB (private pages: what this process alone holds, i.e. what one
    more replica of it costs; shared libraries count once per machine). None when gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    try:
        return sum(int(fields[k].split()[0]) for k in ("Private_Clean", "Private_Dirty"))
    except (KeyError, ValueError):
        return None


def group_cpu_seconds(pgid: int) -> float:
    """user+system CPU seconds of every live process in process group ``pgid``."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        # after the command: state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime ...
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def warn_if_busy() -> float:
    """Print a warning when other work already loads the CPUs; returns the 1-min load."""
    try:
        load = float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return 0.0
    cpus = os.cpu_count() or 1
    if load > 0.5 * cpus:
        print(
            f"warning: load average {load:.2f} on {cpus} CPUs before starting: other work is "
            "running, so absolute figures are noisy (ratios from the same run hold up better)"
        )
    return load
