"""The ``csmetrics`` command: parse, call the workspace, render. Nothing is computed here.

Each area's commands live in a module of this package and are mounted below.
"""

from __future__ import annotations

import typer

from csmetrics.cli import data, health, metrics, predict, server, voice

app = typer.Typer(
    help="Customer-success analytics on your own data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
for area in (data, metrics, health, voice, predict, server):
    app.registered_commands += area.app.registered_commands
    app.registered_groups += area.app.registered_groups


def main() -> None:
    """Entry point of the ``csmetrics`` script."""
    app()
