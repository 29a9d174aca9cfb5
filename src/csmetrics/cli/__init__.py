"""The ``csmetrics`` command: parse, call the workspace, render. Nothing is computed here.

Each area's commands live in a module of this package and are mounted below.
"""

from __future__ import annotations

import typer

from csmetrics.cli import (
    contractual,
    customers,
    data,
    health,
    metrics,
    notify,
    predict,
    report,
    server,
    tables,
    tasks,
    voice,
)

app = typer.Typer(
    help="Customer-success analytics on your own data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
for area in (data, tables, metrics, customers, health, voice, predict, tasks, notify, report,
             server):
    app.registered_commands += area.app.registered_commands
    app.registered_groups += area.app.registered_groups
# ``csmetrics predict retention``: its own module, mounted in the predict group
predict.predict_app.registered_commands += contractual.app.registered_commands


def main() -> None:
    """Entry point of the ``csmetrics`` script. On a workspace a server is running, the
    command runs inside that server (``csmetrics.cli.bridge``)."""
    import sys

    from csmetrics.cli.bridge import forward_if_served

    code = forward_if_served(sys.argv[1:])
    if code is not None:
        raise SystemExit(code)
    app()
