"""The ``--out FILE`` option of commands that print rows: write them to CSV, Parquet or Excel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from csmetrics.cli._shared import caller_path, console

if TYPE_CHECKING:
    import pandas as pd

def _check_out(value: Path | None) -> Path | None:
    """Refuse an unknown extension before any work is done; relative to the caller's folder."""
    if value is not None:
        from csmetrics.errors import UserInputError
        from csmetrics.reports.export import format_of

        try:
            format_of(value)
        except UserInputError as exc:
            raise typer.BadParameter(str(exc)) from None
    return caller_path(value)


OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", "-o",
        help="Write the rows to this file instead of printing them; the extension picks the "
        "format: .csv, .parquet or .xlsx (Excel).",
        show_default=False, dir_okay=False, callback=_check_out,
    ),
]


def write_out(frame: pd.DataFrame, out: Path, *, sheet: str, timezone: str) -> None:
    """Export ``frame`` to ``out`` (atomically) and say how many rows went where."""
    from csmetrics.reports.export import export_frame

    export_frame(frame, out, sheet=sheet, timezone=timezone)
    rows = len(frame)
    console.print(f"Wrote {rows:,} row{'s' if rows != 1 else ''} to {out}", highlight=False,
                  soft_wrap=True)
