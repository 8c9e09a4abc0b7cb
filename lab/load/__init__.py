"""The measuring engine: the same locust load on several targets at once, bucketed per second.

Four modules, one concept each:

- :mod:`lab.load.recording`: the maths (route groups, a 3-digit histogram, per-second buckets);
- :mod:`lab.load.result`: what a load leaves behind (``LoadResult`` and its parts, JSON);
- :mod:`lab.load.shoppers`: the locustfile, loaded without monkey-patching, and its interface
  (User classes and ``acknowledged_orders(environment)``);
- :mod:`lab.load.engine`: ``run_load``, which runs the shoppers and fills a result per target.

Importing this package imports neither locust nor gevent: ``run_load`` does, when called.
"""

from lab.load.engine import SCENARIOS, Action, Scenario, run_load, run_one
from lab.load.recording import GROUPS, Histogram, Recorder, route_group
from lab.load.result import ActionRecord, Bucket, GroupTotals, LoadResult
from lab.load.shoppers import (
    DEFAULT_LOCUSTFILE,
    ORDERS_HOOK,
    Shoppers,
    describe_failure,
    import_locust,
    load_locustfile,
    load_shoppers,
    user_classes,
)

__all__ = [
    "DEFAULT_LOCUSTFILE",
    "GROUPS",
    "ORDERS_HOOK",
    "SCENARIOS",
    "Action",
    "ActionRecord",
    "Bucket",
    "GroupTotals",
    "Histogram",
    "LoadResult",
    "Recorder",
    "Scenario",
    "Shoppers",
    "describe_failure",
    "import_locust",
    "load_locustfile",
    "load_shoppers",
    "route_group",
    "run_load",
    "run_one",
    "user_classes",
]
