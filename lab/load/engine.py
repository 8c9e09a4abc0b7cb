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

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.errors import LabError
from lab.load.recording import Recorder, route_group
from lab.load.result import ActionRecord, LoadResult
from lab.load.shoppers import Shoppers, describe_failure, import_locust, load_shoppers

Scenario = Literal["browse", "checkout", "mixed"]
SCENARIOS: dict[str, list[str] | None] = {
    "browse": ["browse"],  # only the tasks tagged browse
    "checkout": ["checkout"],  # only the tasks tagged checkout
    "mixed": None,  # every task, with the locustfile's weights
}
Action = tuple[float, Callable[[], object]]


class _Clock:
    """Seconds since the users started (restarted when they do)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def restart(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


@dataclass
class _Target:
    """One target under load: its locust environment and runner, and what it recorded."""

    name: str
    host: str
    env: Any
    runner: Any
    recorder: Recorder = field(default_factory=Recorder)


def _check(
    targets: Mapping[str, str],
    scenario: str,
    users: int,
    duration: float,
    warmup_seconds: float,
    actions: Sequence[Action],
) -> None:
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


def _prepare(
    name: str,
    host: str,
    shoppers: Shoppers,
    scenario: str,
    think_time: tuple[float, float] | None,
    stop_timeout: float,
    clock: _Clock,
) -> _Target:
    """A locust environment whose users shop at ``host``, recording into a fresh Recorder."""
    from locust import between, constant
    from locust.env import Environment

    attrs: dict[str, Any] = {"host": host.rstrip("/"), "__module__": shoppers.module.__name__}
    if think_time is not None:
        low, high = think_time
        attrs["wait_time"] = constant(low) if high <= low else between(low, high)
    classes = [type(base.__name__, (base,), dict(attrs)) for base in shoppers.users]
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
        **_: Any,
    ) -> None:
        recorder.record(
            route_group(request_type, name),
            clock.now(),
            float(response_time or 0.0),
            exception is not None,
            describe_failure(exception, response) if exception is not None else "",
        )

    env.events.request.add_listener(on_request)
    return _Target(name, host, env, env.create_local_runner(), recorder)


class _Actions:
    """The scheduled actions: each starts at its second in a thread of its own."""

    def __init__(self, actions: Sequence[Action], clock: _Clock) -> None:
        self.pending = [
            (ActionRecord(getattr(fn, "__name__", repr(fn)), at), fn) for at, fn in actions
        ]
        self.records = [record for record, _ in self.pending]
        """In the order given; they run in the order of their seconds."""
        self.clock = clock
        self.threads: list[threading.Thread] = []

    def _run(self, record: ActionRecord, fn: Callable[[], object]) -> None:
        record.started = round(self.clock.now(), 3)
        try:
            fn()
        except BaseException as exc:
            record.error = f"{exc.__class__.__name__}: {exc}"
        finally:
            record.finished = round(self.clock.now(), 3)

    def schedule(self) -> None:
        """Runs in a greenlet: sleeps (cooperatively) until each action's second."""
        import gevent

        for record, fn in sorted(self.pending, key=lambda pair: pair[0].at):
            gevent.sleep(max(0.0, record.at - self.clock.now()))
            thread = threading.Thread(
                target=self._run, args=(record, fn), name=f"load-action-{record.name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _stop(targets: Sequence[_Target]) -> None:
    """Stop every runner (users finish their request) and close the users' connections."""
    import gevent

    users = [g.args[0] for t in targets for g in list(t.runner.user_greenlets) if g.args]
    gevent.joinall([gevent.spawn(t.runner.quit) for t in targets])
    for user in users:
        client = getattr(getattr(user, "client", None), "client", None)
        if client is not None and hasattr(client, "close"):
            client.close()  # otherwise their sockets are left to the garbage collector


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
    _check(targets, scenario, users, duration, warmup_seconds, actions)
    rate = float(spawn_rate or users)
    import_locust()  # first: every other locust import below must find it loaded, unpatched
    import gevent

    shoppers = load_shoppers(locustfile)
    clock = _Clock()
    running = [
        _prepare(name, host, shoppers, scenario, think_time, stop_timeout, clock)
        for name, host in targets.items()
    ]
    scheduled = _Actions(actions, clock)
    started_at = time.time()
    clock.restart()
    for target in running:
        target.runner.start(users, spawn_rate=rate, wait=False)
    scheduler = gevent.spawn(scheduled.schedule)
    try:
        while (elapsed := clock.now()) < duration:
            gevent.sleep(min(0.25, duration - elapsed))
            if on_tick is not None:
                on_tick(min(clock.now(), duration))
    finally:
        scheduler.kill()
        _stop(running)
        scheduled.join(action_timeout)
    ended_at, elapsed = time.time(), clock.now()
    return {
        t.name: LoadResult(
            target=t.name,
            host=t.host,
            scenario=scenario,
            users=users,
            spawn_rate=rate,
            duration_s=duration,
            warmup_s=warmup_seconds,
            started_at=started_at,
            ended_at=ended_at,
            series=t.recorder.series(elapsed),
            totals=t.recorder.totals(warmup_seconds, duration),
            order_ids=list(shoppers.acknowledged_orders(t.env)),
            actions=scheduled.records,
            generator_cpu_warning=bool(t.runner.cpu_warning_emitted),
            _recorder=t.recorder,
        )
        for t in running
    }


def run_one(host: str, **kwargs: Any) -> LoadResult:
    """``run_load`` against a single host."""
    return run_load({"target": host}, **kwargs)["target"]
