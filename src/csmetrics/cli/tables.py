"""``csmetrics tables``: the canonical tables a workspace maps onto the company's own."""

from __future__ import annotations

import typer
from rich.text import Text

from csmetrics.cli._shared import WorkspaceOption, console, handles_errors, open_workspace
from csmetrics.errors import UserInputError

app = typer.Typer()
tables_app = typer.Typer(help="Canonical tables that are views over your own tables "
                         "([engine] tables in csmetrics.toml).", no_args_is_help=True)
app.add_typer(tables_app, name="tables")


@tables_app.command("check")
@handles_errors
def check(workspace: WorkspaceOption = None) -> None:
    """Check every mapped table with ingest's rules (types, required columns, keys, allowed
    values, dates, known customers); list the rows breaking them by key. Exit 1 if any."""
    from csmetrics.store.sources import attach, check, problems_error

    with open_workspace(workspace) as ws:
        con = ws.warehouse.ibis
        sources = attach(con, ws.settings.engine, ws.root)
        if sources is None:
            raise UserInputError(
                "csmetrics.toml maps no tables: add [engine] tables = \"tables.toml\" and "
                "write that file (see README, 'Running on your warehouse').")
        window = (ws.settings.ingest.earliest_date, ws.settings.ingest.latest_date)
        problems = check(con, sources, window)
    for name in sources.sources:
        if any(p.table == name for p in problems):
            console.print(Text(str(problems_error(name, problems, sources))), soft_wrap=True)
        else:
            console.print(Text(f"{sources.where(name)}: no problems"), soft_wrap=True)
    if problems:
        raise typer.Exit(1)
