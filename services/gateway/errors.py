"""The edge's own answers, raised wherever they are decided (reading the body, routing,
forwarding) and written by the app as ``{"detail": ...}``."""

from __future__ import annotations


class EdgeError(Exception):
    """An answer the edge makes itself: ``{"detail": ...}`` with this status."""

    def __init__(self, status: int, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
