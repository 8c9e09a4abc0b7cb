"""Replica choice: round robin, least outstanding, ejection, retries elsewhere."""

from __future__ import annotations

from collections import Counter

from services.gateway.balancer import Balancer, Strategy

URLS = ["http://a", "http://b", "http://c"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def make(strategy: Strategy, urls: list[str] = URLS) -> tuple[Balancer, FakeClock]:
    clock = FakeClock()
    balancer = Balancer(strategy, eject_seconds=5.0, clock=clock)
    balancer.update(urls)
    return balancer, clock


def picks(balancer: Balancer, n: int) -> Counter[str]:
    chosen: Counter[str] = Counter()
    for _ in range(n):
        replica = balancer.pick()
        assert replica is not None
        chosen[replica.url] += 1
    return chosen


def test_round_robin_spreads_evenly() -> None:
    balancer, _ = make("round_robin")
    assert picks(balancer, 30) == {"http://a": 10, "http://b": 10, "http://c": 10}


def test_least_outstanding_spreads_idle_traffic() -> None:
    balancer, _ = make("least_outstanding")
    assert picks(balancer, 30) == {"http://a": 10, "http://b": 10, "http://c": 10}


def test_least_outstanding_prefers_the_idle_replica() -> None:
    balancer, _ = make("least_outstanding")
    a, b, c = balancer.replicas
    a.outstanding, b.outstanding, c.outstanding = 3, 0, 2
    assert all(balancer.pick() is b for _ in range(5))
    b.outstanding = 4
    assert balancer.pick() is c


def test_ejected_replicas_are_skipped_until_the_sentence_ends() -> None:
    for strategy in ("round_robin", "least_outstanding"):
        balancer, clock = make(strategy)  # type: ignore[arg-type]
        a, b, c = balancer.replicas
        balancer.eject(a)
        assert "http://a" not in picks(balancer, 12)
        assert balancer.healthy() == [b, c]
        clock.now += 5.0
        assert picks(balancer, 12)["http://a"] == 4


def test_round_robin_shares_evenly_around_an_ejected_replica() -> None:
    balancer, _ = make("round_robin")
    balancer.eject(balancer.replicas[0])
    assert picks(balancer, 20) == {"http://b": 10, "http://c": 10}


def test_restore_ends_an_ejection_early() -> None:
    balancer, _ = make("round_robin", ["http://a"])
    (a,) = balancer.replicas
    balancer.eject(a)
    assert balancer.pick() is None
    balancer.restore(a)
    assert balancer.pick() is a


def test_pick_excludes_the_replica_a_retry_must_avoid() -> None:
    balancer, _ = make("least_outstanding", ["http://a", "http://b"])
    a, b = balancer.replicas
    assert all(balancer.pick(exclude=a) is b for _ in range(4))
    balancer.eject(b)
    assert balancer.pick(exclude=a) is None


def test_no_replicas_means_none() -> None:
    balancer, _ = make("round_robin", [])
    assert balancer.pick() is None
    assert balancer.pick_for_trial() is None


def test_trial_falls_back_to_the_replica_whose_ejection_ends_first() -> None:
    balancer, clock = make("least_outstanding", ["http://a", "http://b"])
    a, b = balancer.replicas
    balancer.eject(b)
    clock.now += 1.0
    balancer.eject(a)
    assert balancer.pick() is None
    assert balancer.pick_for_trial() is b


def test_update_keeps_state_and_reports_new_urls() -> None:
    balancer, _ = make("least_outstanding", ["http://a", "http://b"])
    a, b = balancer.replicas
    a.outstanding = 2
    balancer.eject(b)
    added = balancer.update(["http://b", "http://a", "http://c", "http://c"])
    assert added == ["http://c"]
    assert [r.url for r in balancer.replicas] == ["http://b", "http://a", "http://c"]
    assert balancer.replicas[0] is b and balancer.replicas[1] is a
    assert a.outstanding == 2 and b.is_ejected(10.0)


def test_a_removed_replica_gets_no_more_traffic() -> None:
    balancer, _ = make("round_robin")
    assert balancer.update(["http://a", "http://c"]) == []
    assert set(picks(balancer, 10)) == {"http://a", "http://c"}
