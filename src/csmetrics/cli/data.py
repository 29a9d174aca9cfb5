"""Commands that set up a workspace and get data into it."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table as RichTable

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    caller_path,
    console,
    emit,
    handles_errors,
    open_workspace,
    progress_bar,
    steps,
)
from csmetrics.errors import UserInputError
from csmetrics.schema import TABLES, get_table

if TYPE_CHECKING:
    from csmetrics.ingest.load import Preview

app = typer.Typer()


@app.command()
@handles_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    name: Annotated[str, typer.Option(help="Company name.")] = "My company",
    currency: Annotated[str, typer.Option(help="Reporting currency (ISO 4217).")] = "USD",
    timezone: Annotated[str, typer.Option(help="IANA time zone of calendar dates.")] = "UTC",
    engine: Annotated[str, typer.Option(
        help="The warehouse: 'duckdb:///csmetrics.duckdb' (embedded) or Spark, e.g. "
             "'pyspark://local[2]'.")] = "duckdb:///csmetrics.duckdb",
    lake: Annotated[str, typer.Option(
        help="With Spark: the folder where csmetrics keeps the tables as Parquet (ingest, "
             "refresh and the dashboard then work on Spark).")] = "",
) -> None:
    """Create a workspace: csmetrics.toml and a warehouse with every canonical table."""
    from csmetrics.workspace import Workspace

    with Workspace.init(directory, name=name, currency=currency, timezone=timezone,
                        engine_url=engine, lake=lake) as ws:
        console.print(f"Created workspace [bold]{ws.root}[/]")
        console.print(f"  config:    {ws.root / 'csmetrics.toml'}")
        console.print(f"  warehouse: {ws.database_path} ({len(TABLES)} tables)")
        console.print("Next: csmetrics schema customers, then csmetrics ingest customers FILE")


@app.command()
@handles_errors
def schema(
    table: Annotated[str | None, typer.Argument(help="One table; all tables when omitted.")] = None,
) -> None:
    """Print the canonical tables: columns, types, required or not, allowed values, meaning."""
    names = [get_table(table).name] if table else list(TABLES)
    for name in names:
        spec = TABLES[name]
        grid = RichTable(title=f"{name} — {spec.description}", title_justify="left",
                         caption=f"key: {', '.join(spec.key)}", caption_justify="left")
        grid.add_column("column", style="bold")
        grid.add_column("type")
        grid.add_column("required")
        grid.add_column("meaning")
        for column in spec.columns:
            meaning = column.description
            if column.allowed:
                meaning += f" One of: {', '.join(column.allowed)}."
            grid.add_row(column.name, column.dtype.label, "yes" if column.required else "",
                         meaning)
        grid.add_row("(other)", "any", "", "Extra columns are kept in the attributes map "
                     "and can be used as segments.")
        console.print(grid)


@app.command()
@handles_errors
def ingest(
    table: Annotated[str, typer.Argument(help="Canonical table to load into.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON-lines files (.gz ok).",
                                                callback=caller_path)],
    mapping: Annotated[Path | None, typer.Option(help="TOML file mapping your column names "
                                                 "and values onto ours.",
                                                 callback=caller_path)] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Swap the table's whole content "
                                          "for these files, atomically.")] = False,
    replace_columns: Annotated[bool, typer.Option(
        "--replace-columns", help="Replace whole rows of existing keys: columns the files "
        "lack become empty (by default they keep their stored values).")] = False,
    allow_orphans: Annotated[bool, typer.Option("--allow-orphans", help="Keep rows whose "
                                                "customer is not in customers.")] = False,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of CSV files, e.g. "
                                                 "latin-1 or utf-16 (default utf-8).")] = None,
    preview: Annotated[bool, typer.Option("--preview", help="Read, map and check the files "
                                          "without loading: show the first rows as they map "
                                          "and every problem; exit 0 if they would load.")
                       ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Validate files and load them into a table: all or nothing, and safe to repeat."""
    if preview:
        with open_workspace(workspace) as ws:
            shown = ws.preview_ingest(table, files, mapping=mapping, encoding=encoding,
                                      allow_orphans=allow_orphans)
        print_preview(shown)
        if not shown.would_load:
            raise typer.Exit(1)
        return
    # clean files take two steps, files with problems a step per file more: no fixed total
    with open_workspace(workspace) as ws, steps(total=None) as step:
        result = ws.ingest(table, files, mapping=mapping, replace=replace,
                           allow_orphans=allow_orphans, encoding=encoding, on_step=step,
                           replace_columns=replace_columns)
    console.print(result.summary(), highlight=False, soft_wrap=True)


def print_preview(preview: Preview) -> None:
    """The first rows as they map (file column -> canonical column), then the problems."""
    grid = RichTable(title=f"{preview.table}: first {len(preview.rows)} of "
                     f"{preview.rows_read:,} rows as they would load", title_justify="left",
                     caption="extra columns kept in attributes: "
                     f"{', '.join(preview.extra_columns) or 'none'}", caption_justify="left")
    grid.add_column("line", justify="right")
    for source, canonical in preview.columns:
        grid.add_column(f"{source}\n→ [bold]{canonical}[/]")
    for row in preview.rows:
        grid.add_row(str(row["__row"]), *("" if row[c] is None else str(row[c])
                                           for _, c in preview.columns))
    console.print(grid)
    if preview.would_load:
        console.print(f"[green]No problems:[/] {preview.rows_read:,} rows would load into "
                      f"{preview.table}. Nothing was written; run again without --preview "
                      "to load.", highlight=False, soft_wrap=True)
        return
    console.print(f"[red]{preview.problems:,} problem{'s' if preview.problems != 1 else ''}"
                  f"[/]: these files would not load (nothing was written).", highlight=False)
    for issue in preview.issues:
        console.print(f"  - {issue}", highlight=False, soft_wrap=True, markup=False)
    listed = sum(issue.count for issue in preview.issues)
    if preview.problems > listed:
        console.print(f"  ... and {preview.problems - listed:,} more", highlight=False)


@app.command()
@handles_errors
def batches(
    table: Annotated[str | None, typer.Option(help="Only loads into this table.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """List every load: table, files, content hash, rows inserted / updated, user, time."""
    with open_workspace(workspace) as ws:
        rows = [
            {
                "batch": b.batch_id, "table": b.table, "mode": b.mode,
                "files": " ".join(Path(f).name for f in b.files), "hash": b.content_hash[:12],
                "read": b.rows_read, "inserted": b.inserted, "updated": b.updated,
                "unchanged": b.unchanged, "deleted": b.deleted, "orphans": b.orphans,
                "by": b.loaded_by, "at": b.loaded_at.isoformat(timespec="seconds"),
            }
            for b in ws.batches(get_table(table).name if table else None)
        ]
    emit(rows, fmt, title="Loads, newest first", empty="No loads yet.")



@app.command()
@handles_errors
def status(workspace: WorkspaceOption = None) -> None:
    """Show the workspace, its settings and how many rows each table holds."""
    with open_workspace(workspace) as ws:
        s = ws.settings.workspace
        console.print(f"[bold]{s.name}[/] — {ws.root}  ({s.currency}, {s.timezone})")
        grid = RichTable()
        grid.add_column("table")
        grid.add_column("rows", justify="right")
        for name, count in ws.table_counts().items():
            grid.add_row(name, f"{count:,}")
        console.print(grid)


@app.command()
@handles_errors
def demo(
    customers: Annotated[int, typer.Option(min=10, help="Number of customers.")] = 500,
    months: Annotated[int, typer.Option(min=3, max=120, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same company.")] = 7,
    end: Annotated[str | None, typer.Option(
        "--end", help="Last day of the data, YYYY-MM-DD (default: the last day of the "
        "previous month). Same seed and end: the same company.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the company as CSV files in "
                                             "the canonical format here.")] = None,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Folder of the demo "
                                            "workspace.")] = Path("csmetrics-demo"),
    force: Annotated[bool, typer.Option("--force", help="Rebuild the demo workspace if it "
                                        "exists.")] = False,
) -> None:
    """Build a realistic synthetic SaaS company, load it into a workspace, refresh its stored
    results (as 'csmetrics refresh'), show its KPIs."""
    from csmetrics.clock import parse_day
    from csmetrics.demo import write_company
    from csmetrics.demo.generator import default_end
    from csmetrics.store.accounts import Accounts
    from csmetrics.workspace import Workspace

    last_day = parse_day(end, "--end") or default_end()
    if (workspace / "csmetrics.toml").exists():
        if not force:
            raise UserInputError(
                f"{workspace} already exists; pass --force to rebuild it, or choose another "
                "--workspace."
            )
        shutil.rmtree(workspace)
    with Workspace.init(workspace, name="Demo Co (synthetic)") as ws, progress_bar() as progress:
        with tempfile.TemporaryDirectory(prefix="csmetrics-demo-") as scratch:
            folder = out or Path(scratch)
            task = progress.add_task("generating", total=None)
            files = write_company(
                folder, customers=customers, months=months, seed=seed, end=last_day,
                fmt="csv" if out else "parquet",
                progress=lambda message: progress.update(task, description=message),
            )
            progress.update(task, total=len(files), completed=0)
            for table, paths in files.items():
                progress.update(task, description=f"loading {table}")
                ws.ingest(table, paths)
                progress.advance(task)
        counts = ws.table_counts()
        console.print(f"Demo company loaded into [bold]{ws.root}[/] "
                      f"({', '.join(f'{n:,} {t}' for t, n in counts.items() if n)}).")
        if out:
            console.print(f"CSV files in the canonical format: {out}")
        from csmetrics.cli.metrics import print_headline, print_refresh

        # as 'csmetrics refresh': the dashboard's first pages then read stored results
        progress.update(task, description="refreshing", total=None)
        run = ws.refresh(on_step=lambda message: progress.update(task, description=message))
        print_refresh(run)
        print_headline(ws)
        opened = run.get("tasks_opened")
        if opened is None:  # the workspace does not evaluate the rules on refresh
            opened = len(ws.evaluate_rules().created)
        console.print(f"The alert rules opened {opened} tasks for the account "
                      f"owners (csmetrics tasks list -w {workspace}).", highlight=False,
                      soft_wrap=True)
        password = secrets.token_urlsafe(9)
        Accounts(ws.app).add_user("demo", password, "admin")
    console.print(f"Dashboard login: demo / {password}  (start it with: csmetrics serve "
                  f"-w {workspace})", highlight=False, soft_wrap=True)
    console.print(
        f"Also: csmetrics metrics show mrr nrr --by plan -w {workspace}   ·   "
        f"csmetrics health list --band red -w {workspace}", highlight=False, soft_wrap=True)


