"""``twinshop experiment teams --quick`` as a person runs it: no shop running, seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_teams_experiment_replays_history_and_writes_both_rows(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", "experiment", "teams", "--quick",
         "--results", str(tmp_path)],
        env={**os.environ, "COLUMNS": "200"}, capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Team structure" in done.stdout and "Development and maintenance" in done.stdout
    (saved,) = tmp_path.glob("*/teams.json")
    result = json.loads(saved.read_text())
    assert [row["aspect"] for row in result["rows"]] == [
        "Team structure", "Development and maintenance",
    ]  # fmt: skip
    data = result["data"]
    assert 0 < len(data["commits"]) <= 50
    assert data["builds"] == "not measured"
    assert all(suite["seconds"] is None for suite in data["suites"].values())  # quick: not timed
    assert data["release_teams"]["monolith"] == [
        "@twinshop/catalog-team", "@twinshop/orders-team", "@twinshop/platform",
    ]  # fmt: skip
    assert {"shop/kernel", "shop/catalog", "shop/orders", "monolith"} <= set(data["areas"])
