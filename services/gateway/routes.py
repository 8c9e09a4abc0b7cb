"""Which upstream serves a path: longest matching prefix, whole path segments only."""

from __future__ import annotations

from collections.abc import Mapping


class RouteTable:
    """Path prefix -> upstream name.

    A prefix matches ``path == prefix`` or ``path.startswith(prefix + "/")``, so
    ``/products`` serves ``/products/7`` but not ``/productsX``; ``/`` matches every path.
    """

    def __init__(self, routes: Mapping[str, str]) -> None:
        self.routes = {(prefix.rstrip("/") or "/"): name for prefix, name in routes.items()}
        # Longest first, so the first hit is the most specific one.
        self._ordered: list[tuple[str, str, str]] = [
            (prefix, prefix + "/", name)
            for prefix, name in sorted(self.routes.items(), key=lambda kv: -len(kv[0]))
            if prefix != "/"
        ]
        self._catch_all = self.routes.get("/")

    def match(self, path: str) -> str | None:
        """The upstream for ``path``, or None when no prefix matches."""
        for prefix, prefix_slash, name in self._ordered:
            if path == prefix or path.startswith(prefix_slash):
                return name
        return self._catch_all

    def upstreams(self) -> list[str]:
        """Every upstream some route points at, sorted."""
        return sorted(set(self.routes.values()))
