"""What every command shares: consoles, output formats, options, error handling, progress."""

from __future__ import annotations

import csv
import functools
import json
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from rich.text import Text

from csmetrics.errors import CsMetricsError, UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from csmetrics.workspace import Workspace

# In a pipe or a log, don't squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    """How a command prints its rows."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table for people; csv or json for programs.")
]

F = TypeVar("F", bound=Callable[..., Any])

#: Set while a server runs a command for a caller (``csmetrics.cli.bridge``): how to open
#: the served workspace, and the folder the command was typed in.
_SERVED: ContextVar[tuple[Callable[[], Workspace], Path] | None] = ContextVar(
    "csmetrics_served", default=None)


@contextmanager
def serving_for(open_served: Callable[[], Workspace], folder: Path) -> Iterator[None]:
    """While the block runs, commands open ``open_served()`` instead of finding their
    workspace, and read relative paths from ``folder``."""
    token = _SERVED.set((open_served, folder))
    try:
        yield
    finally:
        _SERVED.reset(token)


def open_workspace(explicit: Path | None) -> Workspace:
    """The command's workspace: ``--workspace``, ``$CSMETRICS_WORKSPACE`` or the nearest one
    (``Workspace.find``); the server's own when a server runs the command."""
    from csmetrics.workspace import Workspace

    served = _SERVED.get()
    if served is not None:
        return served[0]()
    return Workspace.find(explicit)


def caller_path(value: Any) -> Any:
    """A path (or list of paths) as typed: relative ones are taken from the folder the
    command was typed in, which is not the server's when a server runs it."""
    served = _SERVED.get()
    if served is None or value is None:
        return value
    if isinstance(value, list | tuple):
        return type(value)(served[1] / item for item in value)
    return served[1] / value


WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w",
        help="Workspace folder (default: the nearest folder with csmetrics.toml, or "
        "$CSMETRICS_WORKSPACE).",
        show_default=False, callback=caller_path,
    ),
]


def handles_errors(command: F) -> F:
    """Show user errors as a message and exit code 2 (our bugs: 3), never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserInputError as exc:
            errors.print("[bold red]Error:[/]", Text(str(exc)), soft_wrap=True)
            raise typer.Exit(2) from None
        except CsMetricsError as exc:
            errors.print("[bold red]Internal error (please report):[/]", Text(str(exc)),
                         soft_wrap=True)
            raise typer.Exit(3) from None

    return wrapper  # type: ignore[return-value]



@contextmanager
def steps(total: int | None) -> Iterator[Callable[[str], None]]:
    """Report the steps of a long job: a progress bar on a terminal, plain lines in a log."""
    if not errors.is_terminal:
        yield lambda message: errors.print(f"... {message}", highlight=False, soft_wrap=True)
        return
    with progress_bar() as progress:
        task = progress.add_task("starting", total=total)
        yield lambda message: progress.update(task, description=message, advance=1)


def emit(rows: list[dict[str, Any]], fmt: OutputFormat, *, title: str, empty: str) -> None:
    """Print rows as a table, CSV or JSON (a list of objects)."""
    if fmt is OutputFormat.JSON:
        sys.stdout.write(json.dumps(rows, default=str, indent=2) + "\n")
        return
    if fmt is OutputFormat.CSV:
        if rows:
            writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return
    if not rows:
        console.print(empty)
        return
    grid = RichTable(title=title)
    for heading, value in rows[0].items():
        grid.add_column(str(heading), justify="right" if isinstance(value, int | float) else "left")
    for row in rows:
        grid.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row.values()))
    console.print(grid)


def progress_bar() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=errors, transient=True,
    )


def print_json(value: Any) -> None:
    """Print strict JSON: NaN and infinities become null."""
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return None
        return v
    sys.stdout.write(json.dumps(clean(value), default=str, indent=2, allow_nan=False) + "\n")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as plain dicts: NaN becomes None, dates become ISO strings."""
    import pandas as pd

    rows = []
    for record in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in record.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                clean[key] = None
            elif isinstance(value, pd.Timestamp | date):
                clean[key] = value.isoformat()[:10]
            elif hasattr(value, "item"):
                clean[key] = value.item()
            else:
                clean[key] = value
        rows.append(clean)
    return rows


