"""Pick a replica of one upstream: round robin or least outstanding, skipping ejected ones."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["round_robin", "least_outstanding"]


@dataclass(eq=False)
class Replica:
    """One base URL and what the edge knows about it."""

    url: str
    outstanding: int = 0  # requests sent and not yet answered
    requests: int = 0  # requests sent, ever (retries included): the dashboard's rate
    ejected_until: float = 0.0  # monotonic time; 0 means never ejected

    def is_ejected(self, now: float) -> bool:
        """Is the replica serving a passive-ejection sentence at ``now``?"""
        return now < self.ejected_until


class Balancer:
    """The current replicas of an upstream and the choice among them.

    ``update`` keeps the state (in-flight counts, ejections) of replicas that stay in
    discovery, so that re-discovering every second does not reset it.
    """

    def __init__(
        self,
        strategy: Strategy = "least_outstanding",
        eject_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.strategy = strategy
        self.eject_seconds = eject_seconds
        self._clock = clock
        self._replicas: list[Replica] = []
        self._next = 0

    @property
    def replicas(self) -> list[Replica]:
        """The discovered replicas, in discovery order."""
        return self._replicas

    def update(self, urls: Iterable[str]) -> list[str]:
        """Replace the replica set; answer the URLs that were not known before."""
        known = {r.url: r for r in self._replicas}
        fresh: list[Replica] = []
        added: list[str] = []
        for url in dict.fromkeys(urls):
            replica = known.get(url)
            if replica is None:
                replica = Replica(url)
                added.append(url)
            fresh.append(replica)
        self._replicas = fresh
        return added

    def healthy(self) -> list[Replica]:
        """Discovered and not ejected."""
        now = self._clock()
        return [r for r in self._replicas if not r.is_ejected(now)]

    def pick(self, exclude: Replica | None = None) -> Replica | None:
        """The replica for the next request, or None when none is usable.

        ``exclude`` is the replica a retry must avoid.  Ties on the outstanding count go
        to whichever replica comes first after the rotating start, so idle replicas share.
        """
        replicas = self._replicas
        n = len(replicas)
        if n == 0:
            return None
        now = self._clock()
        start = self._next % n
        best: Replica | None = None
        best_at = start
        for i in range(n):
            at = (start + i) % n
            replica = replicas[at]
            if replica is exclude or now < replica.ejected_until:
                continue
            if best is None or replica.outstanding < best.outstanding:
                best, best_at = replica, at
                if self.strategy == "round_robin" or best.outstanding == 0:
                    break
        if best is not None:
            self._next = best_at + 1
        return best

    def pick_for_trial(self) -> Replica | None:
        """For a breaker trial: a usable replica, else the one whose ejection ends first."""
        replica = self.pick()
        if replica is None and self._replicas:
            replica = min(self._replicas, key=lambda r: r.ejected_until)
        return replica

    def eject(self, replica: Replica) -> None:
        """Passive ejection after a transport failure: no traffic for ``eject_seconds``."""
        replica.ejected_until = self._clock() + self.eject_seconds

    def restore(self, replica: Replica) -> None:
        """The replica answered: end any ejection early."""
        replica.ejected_until = 0.0
