"""A background thread that finishes checkouts the orders service could not finish itself
(it crashed between reserve and confirm, or catalog timed out): it releases their stock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from shop.orders import services
from shop.orders.ports import Inventory, OrdersUnitOfWork

log = logging.getLogger("twinshop.reconciler")


class Reconciler:
    def __init__(
        self,
        unit_of_work: Callable[[], OrdersUnitOfWork],
        inventory: Inventory,
        *,
        older_than: float,
        interval: float,
    ) -> None:
        self.unit_of_work = unit_of_work
        self.inventory = inventory
        self.older_than = timedelta(seconds=older_than)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reconciler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def run_once(self) -> int:
        settled = services.reconcile(
            self.unit_of_work(), self.inventory, older_than=self.older_than
        )
        if settled:
            log.warning("reconciler released the stock of %d unfinished checkouts", settled)
        return settled

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:
                log.exception("reconciler round failed; trying again")
