from __future__ import annotations

import pytest

from tests.e2e.workshop_run import WorkshopRun, run_workshop


@pytest.fixture(scope="session")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> WorkshopRun:
    """WORKSHOP.md run once, as written (see tests/e2e/workshop_run.py)."""
    return run_workshop(tmp_path_factory.mktemp("workshop"))
