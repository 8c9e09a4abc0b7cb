"""The locustfile as the engine sees it: locust imported without monkey-patching, the file
loaded as a module, and the explicit interface between the two.

The interface (what ``loadtests/locustfile.py`` provides, and any ``$TWINSHOP_LOCUSTFILE``
must provide):

- one or more concrete locust ``User`` classes, defined in the file itself; the engine runs
  them against each target, with the file's tags as scenarios (``browse``, ``checkout``);
- optionally ``acknowledged_orders(environment) -> list[str]``: the ids of the orders the shop
  acknowledged (201) during the run on that ``Environment``. Without it, results carry no
  order ids (and the lab cannot check that no acknowledged order was lost).

The locustfile never imports the lab: it also runs on its own (``locust -f``) and in its own
image, where only locust is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from lab.errors import LabError

DEFAULT_LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"
ORDERS_HOOK = "acknowledged_orders"
"""The name of the locustfile's function that returns an environment's acknowledged orders."""


def import_locust() -> ModuleType:
    """Import locust without ``gevent.monkey.patch_all()`` (see :mod:`lab.load.engine`)."""
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
    """The locustfile as a module (loaded once per path): ``path``, ``$TWINSHOP_LOCUSTFILE``
    or ``loadtests/locustfile.py``."""
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


def _no_orders(environment: Any) -> list[str]:
    return []


@dataclass(frozen=True)
class Shoppers:
    """A loaded locustfile, reduced to what the engine uses from it."""

    module: ModuleType
    users: list[type]
    acknowledged_orders: Callable[[Any], list[str]]
    """``ORDERS_HOOK`` of the file, or a function that returns no order."""


def load_shoppers(path: str | Path | None = None) -> Shoppers:
    """Load a locustfile and check it against the interface above."""
    module = load_locustfile(path)
    users = user_classes(module)
    if not users:
        raise LabError(f"{module.__file__} defines no locust User class")
    hook = getattr(module, ORDERS_HOOK, None)
    if hook is not None and not callable(hook):
        raise LabError(f"{module.__file__}: {ORDERS_HOOK} must be a function of the environment")
    return Shoppers(module, users, hook or _no_orders)


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
