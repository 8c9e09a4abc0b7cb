"""Background rounds of the orders' housekeeping, on one thread.

The microservices run the reconciler (it finishes checkouts and cancels the orders
service could not finish itself: a crash, a timeout) and prune old Idempotency-Keys; the
monolith only prunes keys, since a crash there leaves nothing half done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from shop.orders import services
from shop.orders.ports import Inventory, OrdersUnitOfWork

log = logging.getLogger("twinshop.reconciler")


class Housekeeper:
    """Prunes expired Idempotency-Keys every ``interval`` seconds."""

    def __init__(self, unit_of_work: Callable[[], OrdersUnitOfWork], *, interval: float) -> None:
        self.unit_of_work = unit_of_work
        self.interval = interval
        self._next_prune = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_once(self) -> int:
        now = time.time()
        if now < self._next_prune:
            return 0
        self._next_prune = now + self.interval
        return services.prune_keys(self.unit_of_work(), now=now)

    def _wait(self) -> float:
        return self.interval

    def _run(self) -> None:
        while not self._stop.wait(self._wait()):
            try:
                self.run_once()
            except Exception:
                log.exception("%s round failed; trying again", type(self).__name__)


class Reconciler(Housekeeper):
    def __init__(
        self,
        unit_of_work: Callable[[], OrdersUnitOfWork],
        inventory: Inventory,
        *,
        older_than: float,
        interval: float,
        prune_interval: float = 60.0,
    ) -> None:
        super().__init__(unit_of_work, interval=prune_interval)
        self.inventory = inventory
        self.older_than = timedelta(seconds=older_than)
        self.reconcile_interval = interval

    def _wait(self) -> float:
        return self.reconcile_interval

    def run_once(self) -> int:
        settled = services.reconcile(
            self.unit_of_work(), self.inventory, older_than=self.older_than
        )
        if settled:
            log.warning("reconciler finished %d unfinished checkouts or cancels", settled)
        super().run_once()
        return settled
