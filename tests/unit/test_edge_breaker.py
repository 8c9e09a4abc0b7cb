"""The edge's circuit breaker, driven by a fake clock."""

from __future__ import annotations

from services.gateway.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(failures: int = 3, open_seconds: float = 2.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(failures, open_seconds, clock=clock), clock


def test_stays_closed_below_the_threshold() -> None:
    breaker, _ = make(failures=3)
    for _ in range(2):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_success_resets_the_count() -> None:
    breaker, _ = make(failures=3)
    breaker.failure()
    breaker.failure()
    breaker.success()
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed"
    assert breaker.consecutive_failures == 2


def test_opens_after_n_consecutive_failures_and_fails_fast() -> None:
    breaker, clock = make(failures=3, open_seconds=2.0)
    for _ in range(3):
        breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_after() == 2
    clock.now += 1.5
    assert not breaker.allow()
    assert breaker.retry_after() == 1  # whole seconds, never 0


def test_half_open_after_the_delay_lets_exactly_one_trial_through() -> None:
    breaker, clock = make(failures=1, open_seconds=2.0)
    breaker.failure()
    clock.now += 2.0
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # the trial is in flight
    assert not breaker.allow()


def test_trial_success_closes() -> None:
    breaker, clock = make(failures=2)
    breaker.failure()
    breaker.failure()
    clock.now += 2.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed"
    assert breaker.allow()
    assert breaker.allow()
    assert breaker.consecutive_failures == 0


def test_trial_failure_reopens_for_a_full_delay() -> None:
    breaker, clock = make(failures=5, open_seconds=2.0)
    breaker.trip()
    clock.now += 2.0
    assert breaker.allow()
    breaker.failure()  # one failure is enough in half_open
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 1.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_a_released_trial_frees_the_slot() -> None:
    breaker, clock = make(failures=1)
    breaker.failure()
    clock.now += 2.0
    assert breaker.allow()
    breaker.release()  # e.g. the client went away
    assert breaker.allow()


def test_trip_opens_at_once_and_probe_now_skips_the_wait() -> None:
    breaker, _ = make(failures=5)
    breaker.trip()
    assert breaker.state == "open"
    assert not breaker.allow()
    breaker.probe_now()
    assert breaker.state == "half_open"
    assert breaker.allow()


def test_probe_now_does_nothing_when_closed() -> None:
    breaker, _ = make()
    breaker.probe_now()
    assert breaker.state == "closed"
    assert breaker.retry_after() == 1
