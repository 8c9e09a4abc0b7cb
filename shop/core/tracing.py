"""Tracing as the shop's code sees it: a named span around a step, and the current trace id.

The domain marks its steps (``with tracing.span("saga.reserve"): ...``) and the log line
asks for ``tracing.trace_id()``; neither knows OpenTelemetry. Until a composition root
installs a real tracer (``shop.core.otel.setup``), both are no-ops: a span costs one
function call and the trace id is "".

Standard library only: the edge's image ships this module too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Tracer(Protocol):
    """What a tracing back-end offers the shop."""

    def span(self, name: str) -> AbstractContextManager[None]:
        """A span named ``name``, child of the current one, around the ``with`` block; an
        exception leaving the block marks it failed."""
        ...

    def trace_id(self) -> str:
        """The current trace's id (32 hex digits), "" when there is none."""
        ...

    def name_request(self, method: str, route: str) -> None:
        """Name the current request's span after its route template (``GET /products/{id}``)."""
        ...


class NoTracer:
    """Tracing off: nothing recorded, no trace id."""

    def span(self, name: str) -> AbstractContextManager[None]:
        return _nothing()

    def trace_id(self) -> str:
        return ""

    def name_request(self, method: str, route: str) -> None:
        return None


@contextmanager
def _nothing() -> Iterator[None]:
    yield


_tracer: Tracer = NoTracer()


def install(tracer: Tracer) -> None:
    """Make ``tracer`` the one ``span`` and ``trace_id`` use (once, at start-up)."""
    global _tracer
    _tracer = tracer


def installed() -> Tracer:
    return _tracer


def span(name: str) -> AbstractContextManager[None]:
    """A span around one step of the shop's work (see ``Tracer.span``)."""
    return _tracer.span(name)


def trace_id() -> str:
    """The current trace's id for a log line, "" with tracing off."""
    return _tracer.trace_id()


def name_request(method: str, route: str) -> None:
    """Name the current request's span after its route, once routing has found it."""
    _tracer.name_request(method, route)
