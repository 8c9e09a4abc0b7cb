"""What an experiment produces: rows of the comparison table, raw data, charts, invariants."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One row of the comparison table, with the figures this run measured."""

    aspect: str
    did: str
    micro: str
    mono: str
    verdict: str


@dataclass
class ExperimentResult:
    name: str
    rows: list[Row]
    data: dict[str, Any] = field(default_factory=dict)
    charts: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    """What to look at in each chart, in the order of ``charts``."""
    invariants: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    machine: dict[str, Any] = field(default_factory=lambda: machine())

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, default=str))
        return path


def machine() -> dict[str, Any]:
    """Enough about this machine to read the figures right."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = 0.0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gb = round(pages / 2**30, 1)
    except (OSError, ValueError):
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "memory_gb": memory_gb,
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
