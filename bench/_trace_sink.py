"""The dashboard app (with its trace receiver) on an empty runtime: where ``tracing.py``'s
units export their spans, as they do to ``twinshop dashboard``."""

from __future__ import annotations

from typing import Any

from lab.dashboard.app import create_app


class NoRuntime:
    name = "bench"

    def status(self) -> dict[str, Any]:
        return {"runtime": "bench", "architectures": {}}


app = create_app(NoRuntime(), forward_to="")
