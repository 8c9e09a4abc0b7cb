"""WORKSHOP.md's `twinshop` commands run as written, in order, on the process runtime
(tests/e2e/workshop_run.py runs them once per session)."""

from __future__ import annotations

import pytest

from tests.e2e.workshop_run import WORKSHOP_TIMEOUT, WorkshopRun, workshop_commands


def test_the_workshop_lists_the_commands_of_every_section() -> None:
    commands = {" ".join(c[:2]) for c in workshop_commands()}
    for expected in ("twinshop up", "twinshop dashboard", "twinshop kill", "twinshop scale",
                     "twinshop redeploy", "twinshop chaos", "twinshop load", "twinshop report",
                     "twinshop down"):  # fmt: skip
        assert expected in commands


@pytest.mark.slow
@pytest.mark.timeout(WORKSHOP_TIMEOUT)
def test_every_workshop_command_runs_as_written(workshop: WorkshopRun) -> None:
    assert workshop.outcomes, "no command ran"
    for command, code, output in workshop.outcomes:
        assert code == 0, f"{command}:\n{output[-3000:]}"
        assert "Traceback" not in output, f"{command}:\n{output[-3000:]}"
    assert len(workshop.outcomes) == len(workshop_commands()) - 1  # the dashboard runs aside
    assert workshop.reports, "twinshop report --quick wrote no report"
    print(f"workshop commands ran with {workshop.environment}")  # shown with -rP / on failure


def test_the_workshop_runs_its_tests_and_ends_with_a_reset() -> None:
    lines = [" ".join(c) for c in workshop_commands()]
    assert "python3 -m lab.pipelines test orders" in lines  # pytest in the .[lab] environment
    assert lines[-1] == "twinshop reset"
    assert not any(line.startswith("python3 -m pip") for line in lines)
