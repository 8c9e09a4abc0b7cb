"""``python -m lab.dashboard``: the same as ``twinshop dashboard``."""

import typer

from lab.dashboard.cli import dashboard_command

typer.run(dashboard_command)
