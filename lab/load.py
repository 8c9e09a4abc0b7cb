"""The measuring engine: locust as a library, in this process, bucketed per second.

``run_load({"micro": url1, "mono": url2}, scenario="mixed", users=8, duration=30)`` applies the
same load to every target at once (one locust ``Environment`` and local runner per target, all
in one gevent hub) and returns one :class:`LoadResult` per target: a per-second series per route
group (``browse`` = GET /products*, ``checkout`` = POST /orders), totals, and the ids of the
orders the shop acknowledged. ``actions=[(5.0, kill_orders)]`` runs callables at given seconds
during the load, each in its own thread, so the load keeps running while they work.

gevent and threads
    Importing locust normally calls ``gevent.monkey.patch_all()``. Patching *this* late (after
    ssl, threading, httpx and subprocess are imported, and with threads of the lab already
    running) is what gevent warns against, and it would turn the lab's threads, sockets and
    subprocesses into gevent ones for the rest of the process. The engine does not need it:
    ``FastHttpUser`` talks through geventhttpclient, which uses gevent sockets directly. So locust
    is imported here, lazily and only here, with ``LOCUST_SKIP_MONKEY_PATCH=1``; the hub runs in
    the calling thread for the duration of the load; actions run in real threads. If something
    else imported locust first (and patched), everything still works, cooperatively.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from lab.errors import LabError

Scenario = Literal["browse", "checkout", "mixed"]
SCENARIOS: dict[str, list[str] | None] = {
    "browse": ["browse"],  # only the tasks tagged browse
    "checkout": ["checkout"],  # only the tasks tagged checkout
    "mixed": None,  # every task, with the locustfile's weights
}
GROUPS: tuple[str, ...] = ("browse", "checkout")
"""The route groups every result reports (``other`` appears only when something else ran)."""

DEFAULT_LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "locustfile.py"


def route_group(method: str, name: str) -> str:
    """browse = GET /products*, checkout = POST /orders*, anything else = other."""
    if method.upper() == "GET" and name.startswith("/products"):
        return "browse"
    if method.upper() == "POST" and name.startswith("/orders"):
        return "checkout"
    return "other"


# -- latencies: a fixed-precision histogram (3 significant digits) -------------------------


def _key(ms: float) -> float:
    """``ms`` rounded to 3 significant digits: at most 0.5 % off, few distinct keys."""
    if ms <= 0 or not math.isfinite(ms):
        return 0.0
    return round(ms, 2 - math.floor(math.log10(ms)))


class Histogram:
    """Latency counts keyed by the value rounded to 3 significant digits; mergeable."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: Counter[float] = Counter()
        self.total = 0

    def add(self, ms: float, count: int = 1) -> None:
        self.counts[_key(ms)] += count
        self.total += count

    def merge(self, other: Histogram) -> None:
        self.counts.update(other.counts)
        self.total += other.total

    def percentile(self, q: float) -> float | None:
        """Nearest rank: the smallest value with at least ``q`` of the samples at or below
        it (``q`` in 0..1); None without samples."""
        if not 0 <= q <= 1:
            raise ValueError(f"q must be within 0..1, not {q}")
        if not self.total:
            return None
        rank = max(1, math.ceil(q * self.total))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= rank:
                return value
        return max(self.counts)  # pragma: no cover - unreachable: seen ends at total


# -- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bucket:
    """One second of one route group; ``t`` counts seconds from the start of the load (a
    request lands in the second it completed in)."""

    t: int
    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class GroupTotals:
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    errors: dict[str, int] = field(default_factory=dict)
    """The most frequent failure messages and how often each happened."""

    @property
    def failure_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass
class ActionRecord:
    """What happened to one scheduled action: seconds are counted from the start of the load."""

    name: str
    at: float
    started: float | None = None
    finished: float | None = None
    error: str | None = None


@dataclass
class _Second:
    requests: int = 0
    failures: int = 0
    latency: Histogram = field(default_factory=Histogram)
    errors: Counter[str] = field(default_factory=Counter)


class Recorder:
    """Buckets requests per route group and second; no I/O, fed by the request event."""

    def __init__(self, groups: Iterable[str] = GROUPS) -> None:
        self.seconds: dict[str, dict[int, _Second]] = {g: {} for g in groups}

    def record(self, group: str, t: float, ms: float, failed: bool, error: str = "") -> None:
        second = self.seconds.setdefault(group, {}).setdefault(max(0, int(t)), _Second())
        second.requests += 1
        second.latency.add(ms)
        if failed:
            second.failures += 1
            second.errors[error[:160] or "failed"] += 1

    def series(self, elapsed: float) -> dict[str, list[Bucket]]:
        """Every second from 0 to the end of the load (empty seconds too), per group."""
        out: dict[str, list[Bucket]] = {}
        for group, seconds in self.seconds.items():
            last = max([math.ceil(elapsed) - 1, *seconds])
            out[group] = [
                Bucket(
                    t, s.requests, s.failures, s.latency.percentile(0.5), s.latency.percentile(0.95)
                )
                for t in range(last + 1)
                for s in [seconds.get(t) or _Second()]
            ]
        return out

    def totals(self, start: float, end: float) -> dict[str, GroupTotals]:
        """Totals over the seconds ``start <= t < end`` (whole seconds: ``start`` rounds up);
        rps divides by the length of that window."""
        first = math.ceil(start)
        width = end - first
        out = {}
        for group, seconds in self.seconds.items():
            chosen = [s for t, s in seconds.items() if first <= t < end]
            latency = Histogram()
            errors: Counter[str] = Counter()
            for s in chosen:
                latency.merge(s.latency)
                errors.update(s.errors)
            requests = sum(s.requests for s in chosen)
            out[group] = GroupTotals(
                requests=requests,
                failures=sum(s.failures for s in chosen),
                rps=round(requests / width, 2) if width > 0 else 0.0,
                p50_ms=latency.percentile(0.5),
                p95_ms=latency.percentile(0.95),
                p99_ms=latency.percentile(0.99),
                errors=dict(errors.most_common(5)),
            )
        return out


@dataclass
class LoadResult:
    """One target's load: per-second series and totals per route group, acknowledged orders."""

    target: str
    host: str
    scenario: str
    users: int
    spawn_rate: float
    duration_s: float
    warmup_s: float
    started_at: float
    """Wall clock (epoch seconds) when the users started."""
    ended_at: float
    series: dict[str, list[Bucket]]
    totals: dict[str, GroupTotals]
    """Over the seconds ``warmup_s <= t < duration_s``: without the warm-up, and without what
    completed while the users were stopping (the series has those)."""
    order_ids: list[str]
    """Every order the shop acknowledged with a 201."""
    actions: list[ActionRecord] = field(default_factory=list)
    generator_cpu_warning: bool = False
    """Locust's own process went above 90 % CPU: the generator, not the shop, may be the limit."""
    _recorder: Recorder | None = field(default=None, repr=False, compare=False)

    @property
    def acknowledged(self) -> list[str]:
        """The same as ``order_ids``: what ``violations(..., acknowledged=...)`` takes."""
        return self.order_ids

    @property
    def elapsed_s(self) -> float:
        return self.ended_at - self.started_at

    def window(self, start_s: float, end_s: float) -> dict[str, GroupTotals]:
        """Totals over part of the load, e.g. the seconds while a unit was down."""
        if self._recorder is None:
            raise ValueError("window() needs the live result of run_load, not one read from JSON")
        return self._recorder.totals(start_s, end_s)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_recorder")
        out["elapsed_s"] = round(self.elapsed_s, 3)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LoadResult:
        body = {k: v for k, v in data.items() if k != "elapsed_s"}
        body["series"] = {g: [Bucket(**b) for b in bs] for g, bs in data["series"].items()}
        body["totals"] = {g: GroupTotals(**t) for g, t in data["totals"].items()}
        body["actions"] = [ActionRecord(**a) for a in data.get("actions", [])]
        return cls(**body)

    @classmethod
    def from_json(cls, text: str) -> LoadResult:
        return cls.from_dict(json.loads(text))


# -- locust, lazily and without monkey-patching --------------------------------------------


def import_locust() -> ModuleType:
    """Import locust without ``gevent.monkey.patch_all()`` (see the module docstring)."""
    if "locust" not in sys.modules:
        previous = os.environ.get("LOCUST_SKIP_MONKEY_PATCH")
        os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
        try:
            importlib.import_module("locust")
        finally:
            if previous is None:
                os.environ.pop("LOCUST_SKIP_MONKEY_PATCH", None)
            else:
                os.environ["LOCUST_SKIP_MONKEY_PATCH"] = previous
    return sys.modules["locust"]


_modules: dict[Path, ModuleType] = {}


def load_locustfile(path: str | Path | None = None) -> ModuleType:
    """The locustfile as a module (loaded once per path): ``$TWINSHOP_LOCUSTFILE`` or
    ``loadtests/locustfile.py``."""
    import_locust()
    chosen = Path(path or os.environ.get("TWINSHOP_LOCUSTFILE") or DEFAULT_LOCUSTFILE).resolve()
    if chosen in _modules:
        return _modules[chosen]
    if not chosen.is_file():
        raise LabError(f"no locustfile at {chosen} (set TWINSHOP_LOCUSTFILE or pass one)")
    name = f"twinshop_locustfile_{abs(hash(chosen)):x}"
    spec = importlib.util.spec_from_file_location(name, chosen)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    _modules[chosen] = module
    return module


def user_classes(module: ModuleType) -> list[type]:
    """The concrete locust User classes a locustfile defines."""
    User = import_locust().User

    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, User)
        and not getattr(obj, "abstract", False)
        and obj.__module__ == module.__name__
    ]


# -- running -------------------------------------------------------------------------------


Action = tuple[float, Callable[[], object]]


def run_load(
    targets: Mapping[str, str],
    *,
    scenario: Scenario | str = "mixed",
    users: int = 8,
    spawn_rate: float | None = None,
    duration: float = 10.0,
    warmup_seconds: float = 0.0,
    actions: Sequence[Action] = (),
    on_tick: Callable[[float], None] | None = None,
    locustfile: str | Path | None = None,
    think_time: tuple[float, float] | None = None,
    stop_timeout: float = 2.0,
    action_timeout: float = 60.0,
) -> dict[str, LoadResult]:
    """Run the same load against every target at once; one result per target name.

    ``users`` users per target, started at ``spawn_rate`` per second (default: all within
    a second), for ``duration`` seconds; then users finish their current request (at most
    ``stop_timeout`` seconds). ``actions`` run at their second in a thread each; the load
    waits at most ``action_timeout`` seconds at its end for those still running.
    ``on_tick(elapsed)`` is called about 4 times a second (progress bars).
    ``think_time=(min, max)`` replaces the locustfile's wait between tasks ((0, 0): none).
    """
    if scenario not in SCENARIOS:
        raise LabError(f"scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    if not targets:
        raise LabError("no target to load")
    if users < 1 or duration <= 0:
        raise LabError("users must be at least 1 and the duration above 0 s")
    if not 0 <= warmup_seconds < duration:
        raise LabError(f"warm-up must be within 0..{duration} s, not {warmup_seconds}")
    for at, _ in actions:
        if not 0 <= at <= duration:
            raise LabError(f"an action at {at} s is outside the load (0..{duration} s)")
    rate = float(spawn_rate or users)

    import_locust()  # first: every other locust import below must find it loaded, unpatched
    import gevent
    from locust import between, constant
    from locust.env import Environment

    module = load_locustfile(locustfile)
    bases = user_classes(module)
    if not bases:
        raise LabError(f"{module.__file__} defines no locust User class")

    t0 = time.monotonic()  # reset when the users start
    runs = {}
    for name, host in targets.items():
        attrs: dict[str, Any] = {"host": host.rstrip("/"), "__module__": module.__name__}
        if think_time is not None:
            low, high = think_time
            attrs["wait_time"] = constant(low) if high <= low else between(low, high)
        classes = [type(base.__name__, (base,), dict(attrs)) for base in bases]
        env = Environment(
            user_classes=classes,
            host=host,
            tags=SCENARIOS[scenario],
            stop_timeout=stop_timeout,
            catch_exceptions=True,
        )
        recorder = Recorder()

        def on_request(
            request_type: str,
            name: str,
            response_time: float | None,
            exception: BaseException | None = None,
            response: Any = None,
            _recorder: Recorder = recorder,
            **_: Any,
        ) -> None:
            _recorder.record(
                route_group(request_type, name),
                time.monotonic() - t0,
                float(response_time or 0.0),
                exception is not None,
                describe_failure(exception, response) if exception is not None else "",
            )

        env.events.request.add_listener(on_request)
        runs[name] = (env, env.create_local_runner(), recorder)

    records = [ActionRecord(getattr(fn, "__name__", repr(fn)), at) for at, fn in actions]
    threads: list[threading.Thread] = []
    user_instances: list[Any] = []
    started_at = time.time()
    t0 = time.monotonic()
    for _, runner, _ in runs.values():
        runner.start(users, spawn_rate=rate, wait=False)

    def run_action(record: ActionRecord, fn: Callable[[], object]) -> None:
        record.started = round(time.monotonic() - t0, 3)
        try:
            fn()
        except BaseException as exc:
            record.error = f"{exc.__class__.__name__}: {exc}"
        finally:
            record.finished = round(time.monotonic() - t0, 3)

    def schedule() -> None:
        for record, (at, fn) in sorted(zip(records, actions, strict=True), key=lambda p: p[1][0]):
            gevent.sleep(max(0.0, t0 + at - time.monotonic()))
            thread = threading.Thread(
                target=run_action, args=(record, fn), name=f"load-action-{record.name}"
            )
            thread.daemon = True
            thread.start()
            threads.append(thread)

    scheduler = gevent.spawn(schedule)
    try:
        while (elapsed := time.monotonic() - t0) < duration:
            gevent.sleep(min(0.25, duration - elapsed))
            if on_tick is not None:
                on_tick(min(time.monotonic() - t0, duration))
    finally:
        scheduler.kill()
        for _, runner, _ in runs.values():
            user_instances += [g.args[0] for g in list(runner.user_greenlets) if g.args]
        gevent.joinall([gevent.spawn(runner.quit) for _, runner, _ in runs.values()])
        for user in user_instances:
            client = getattr(getattr(user, "client", None), "client", None)
            if client is not None and hasattr(client, "close"):
                client.close()  # otherwise their sockets are left to the garbage collector
        deadline = time.monotonic() + action_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    ended_at = time.time()
    elapsed = time.monotonic() - t0

    results = {}
    for name, (env, runner, recorder) in runs.items():
        results[name] = LoadResult(
            target=name,
            host=targets[name],
            scenario=scenario,
            users=users,
            spawn_rate=rate,
            duration_s=duration,
            warmup_s=warmup_seconds,
            started_at=started_at,
            ended_at=ended_at,
            series=recorder.series(elapsed),
            totals=recorder.totals(warmup_seconds, duration),
            order_ids=list(getattr(env, "acknowledged_orders", [])),
            actions=records,
            generator_cpu_warning=bool(runner.cpu_warning_emitted),
            _recorder=recorder,
        )
    return results


def run_one(host: str, **kwargs: Any) -> LoadResult:
    """``run_load`` against a single host."""
    return run_load({"target": host}, **kwargs)["target"]


_URL = re.compile(r"https?://[^\s'\"]+")


def describe_failure(exception: BaseException, response: Any = None) -> str:
    """A short, groupable reason: ``HTTP 503``, the locustfile's own message, or the error
    class with its text (URLs left out, so that failures on different URLs add up)."""
    import_locust()
    from locust.exception import CatchResponseError

    if isinstance(exception, CatchResponseError) and str(exception):
        return str(exception)[:160]
    code = getattr(response, "status_code", None) or getattr(exception, "code", None)
    if isinstance(code, int) and code >= 400:
        return f"HTTP {code}"
    text = _URL.sub("<url>", str(exception))
    return f"{exception.__class__.__name__}: {text}"[:160] if text else exception.__class__.__name__
