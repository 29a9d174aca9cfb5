"""The ``csmetrics`` command: parse, call the workspace, render with Rich. Nothing computed here."""

from __future__ import annotations

import csv
import functools
import json
import math
import sys
import shutil
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from enum import Enum
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable
from rich.text import Text

from csmetrics.errors import CsMetricsError, UserInputError
from csmetrics.schema import TABLES, get_table
from csmetrics.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="Customer-success analytics on your own data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
# In a pipe or a log, don't squeeze tables into 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True)


class OutputFormat(str, Enum):
    """How a command prints its rows."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", help="table for people; csv or json for programs.")
]

F = TypeVar("F", bound=Callable[..., Any])

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace", "-w",
        help="Workspace folder (default: the nearest folder with csmetrics.toml, or "
        "$CSMETRICS_WORKSPACE).",
        show_default=False,
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


@app.command()
@handles_errors
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
    name: Annotated[str, typer.Option(help="Company name.")] = "My company",
    currency: Annotated[str, typer.Option(help="Reporting currency (ISO 4217).")] = "USD",
    timezone: Annotated[str, typer.Option(help="IANA time zone of calendar dates.")] = "UTC",
) -> None:
    """Create a workspace: csmetrics.toml and a warehouse with every canonical table."""
    with Workspace.init(directory, name=name, currency=currency, timezone=timezone) as ws:
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
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON-lines files (.gz ok).")],
    mapping: Annotated[Path | None, typer.Option(help="TOML file mapping your column names "
                                                 "and values onto ours.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Swap the table's whole content "
                                          "for these files, atomically.")] = False,
    allow_orphans: Annotated[bool, typer.Option("--allow-orphans", help="Keep rows whose "
                                                "customer is not in customers.")] = False,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of CSV files, e.g. "
                                                 "latin-1 or utf-16 (default utf-8).")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Validate files and load them into a table: all or nothing, and safe to repeat."""
    with Workspace.find(workspace) as ws, _steps(total=len(files) + 2) as step:
        result = ws.ingest(table, files, mapping=mapping, replace=replace,
                           allow_orphans=allow_orphans, encoding=encoding, on_step=step)
    console.print(result.summary(), highlight=False, soft_wrap=True)


@app.command()
@handles_errors
def batches(
    table: Annotated[str | None, typer.Option(help="Only loads into this table.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """List every load: table, files, content hash, rows inserted / updated, user, time."""
    with Workspace.find(workspace) as ws:
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


metrics_app = typer.Typer(help="The metric catalogue: list, compute, explain.",
                          no_args_is_help=True)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("list")
@handles_errors
def metrics_list(fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Print every metric: name, section, unit, which way is good, and what it means."""
    from csmetrics.metrics import all_metrics

    rows = [
        {"name": m.name, "title": m.title, "section": m.section.value, "unit": m.unit.value,
         "good": m.direction.value, "meaning": m.description.split(". ")[0].rstrip(".") + "."}
        for m in all_metrics()
    ]
    emit(rows, fmt, title="Metrics", empty="No metrics.")


@metrics_app.command("show")
@handles_errors
def metrics_show(
    names: Annotated[list[str], typer.Argument(help="Metric names (see 'metrics list').")],
    period: Annotated[str, typer.Option(help="day, week, month, quarter or year.")] = "month",
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD); "
                                              "default: 12 periods before --to.")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD); default: "
                                            "the last day of the data.")] = None,
    by: Annotated[str | None, typer.Option(help="Segment columns, comma-separated: plan, "
                                           "region, owner, or a custom attribute.")] = None,
    customer: Annotated[str | None, typer.Option(help="One customer_id.")] = None,
    where: Annotated[list[str] | None, typer.Option(help="Filter COLUMN=VALUE; repeatable.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Ignore data after this day.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Compute metrics per period (and segment) straight from the warehouse."""
    from csmetrics.metrics import get_metric
    from csmetrics.metrics.formatting import format_value

    with Workspace.find(workspace) as ws:
        frame = ws.query(names, period=period, start=start, end=end, by=by, customer=customer,
                         where=where, as_of=as_of)
        currency = ws.settings.workspace.currency
    rows = _records(frame)
    if fmt is not OutputFormat.TABLE:
        emit(rows, fmt, title="", empty="")
        return
    segments = [c for c in frame.columns if c not in ("metric", "period_start", "value", "n",
                "ci_low", "ci_high", "null_reason", "target", "benchmark")
                and c in (by or "").split(",") + [get_metric(n).dimension for n in names]]
    table = [
        {"metric": r["metric"], "period": str(r["period_start"]),
         **{s: r.get(s) for s in segments},
         "value": format_value(r["value"], get_metric(r["metric"]).unit, currency),
         "n": r["n"],
         "95% CI": "" if r.get("ci_low") is None else
         f"{format_value(r['ci_low'], get_metric(r['metric']).unit, currency)} – "
         f"{format_value(r['ci_high'], get_metric(r['metric']).unit, currency)}",
         "target": "" if r.get("target") is None else
         format_value(r["target"], get_metric(r["metric"]).unit, currency),
         "note": r.get("null_reason") or ""}
        for r in rows
    ]
    emit(table, fmt, title=f"{', '.join(names)} by {period}", empty="No rows.")


@metrics_app.command("explain")
@handles_errors
def metrics_explain(
    name: Annotated[str, typer.Argument(help="Metric name.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Print a metric's definition, formula, edge cases and the policies in force."""
    from csmetrics.metrics import get_metric
    from csmetrics.metrics.policy import Policy

    m = get_metric(name)
    console.print(f"[bold]{m.title}[/] ({m.name}) — {m.section.value}")
    console.print(Text(m.description))
    console.print(Text(f"Formula: {m.formula}"))
    console.print(f"Unit: {m.unit.value}; good when it goes {m.direction.value}.")
    if m.edge_cases:
        console.print(Text(f"Edge cases: {m.edge_cases}"))
    if m.benchmark:
        console.print(Text(f"Benchmark: {m.benchmark}"))
    console.print(f"Reads: {', '.join(m.tables)}")
    try:
        ws = Workspace.find(workspace)
        settings = ws.settings
        source = str(ws.root / "csmetrics.toml")
    except UserInputError:
        from csmetrics.config import Settings

        settings, source = Settings(), "defaults (no workspace here)"
    policy = Policy.from_settings(settings.policy)
    console.print(f"Policies in force ({source}):")
    for key, value in policy.describe():
        console.print(f"  {key} = {value}", highlight=False)


@metrics_app.command("cohorts")
@handles_errors
def metrics_cohorts(
    kind: Annotated[str, typer.Option(help="logo (share of customers still paying) or "
                                      "revenue (MRR kept, expansion included).")] = "logo",
    start: Annotated[str | None, typer.Option("--from", help="First start month (YYYY-MM-DD)."
                                              )] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day to follow (YYYY-MM-DD).")
                   ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Retention by start month x months since start."""
    if kind not in ("logo", "revenue"):
        raise UserInputError(f"--kind {kind!r} must be logo or revenue.")
    with Workspace.find(workspace) as ws:
        table = ws.cohorts(kind, start, end)
    rows = _records(table.reset_index())
    if fmt is OutputFormat.TABLE:
        rows = [{str(k): (f"{v * 100:.0f} %" if isinstance(v, float) else
                          "" if v is None else v) if k not in ("cohort", "customers") else v
                 for k, v in r.items()} for r in rows]
    emit(rows, fmt, title=f"{kind.capitalize()} retention by start month", empty="No cohorts.")


@app.command()
@handles_errors
def refresh(
    period: Annotated[list[str] | None, typer.Option(help="Grains to materialise (repeatable); "
                                                     "default month and quarter.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Compute every metric for all periods and default segments, and store the results."""
    with Workspace.find(workspace) as ws, _steps(total=None) as step:
        run = ws.refresh(grains=period, on_step=step)
    console.print(
        f"Refreshed {run['rows']:,} metric values for {', '.join(run['grains'])} "
        f"from {run['first']} to {run['last']} (total + {len(run['segments'])} segments) "
        f"in {run['seconds']:.1f} s.", highlight=False)


def _records(frame: "pd.DataFrame") -> list[dict[str, Any]]:
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


@app.command()
@handles_errors
def status(workspace: WorkspaceOption = None) -> None:
    """Show the workspace, its settings and how many rows each table holds."""
    with Workspace.find(workspace) as ws:
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
    out: Annotated[Path | None, typer.Option(help="Also write the company as CSV files in "
                                             "the canonical format here.")] = None,
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Folder of the demo "
                                            "workspace.")] = Path("csmetrics-demo"),
    force: Annotated[bool, typer.Option("--force", help="Rebuild the demo workspace if it "
                                        "exists.")] = False,
) -> None:
    """Build a realistic synthetic SaaS company, load it into a workspace, show its KPIs."""
    from csmetrics.demo import write_company

    if (workspace / "csmetrics.toml").exists():
        if not force:
            raise UserInputError(
                f"{workspace} already exists; pass --force to rebuild it, or choose another "
                "--workspace."
            )
        shutil.rmtree(workspace)
    with Workspace.init(workspace, name="Demo Co (synthetic)") as ws, _progress() as progress:
        with tempfile.TemporaryDirectory(prefix="csmetrics-demo-") as scratch:
            folder = out or Path(scratch)
            task = progress.add_task("generating", total=None)
            files = write_company(
                folder, customers=customers, months=months, seed=seed,
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
        _print_headline(ws)


@app.command()
@handles_errors
def kpis(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The headline KPIs of the last complete month, with the change against the month before."""
    with Workspace.find(workspace) as ws:
        _print_headline(ws, fmt)


def _print_headline(ws: Workspace, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    from csmetrics.metrics.formatting import format_value

    currency = ws.settings.workspace.currency
    figures = ws.headline()
    if fmt is not OutputFormat.TABLE:
        emit([{"metric": k.definition.name, "period_start": k.period_start.isoformat(),
               "value": k.value, "previous": k.previous, "change": k.change, "n": k.n,
               "target": k.target, "null_reason": k.null_reason} for k in figures],
             fmt, title="", empty="")
        return
    rows = []
    for k in figures:
        unit = k.definition.unit
        change = "" if k.change is None else (
            f"{k.change * 100:+.1f} pts" if unit.value == "rate"
            else f"{k.change:+,.1f}" if unit.value in ("score", "ratio")
            else f"{k.change:+,.2f}")
        rows.append({
            "KPI": k.definition.title,
            "value": format_value(k.value, unit, currency),
            "vs previous month": change,
            "n": k.n,
            "target": "" if k.target is None else format_value(k.target, unit, currency),
            "note": k.null_reason or (k.definition.benchmark or ""),
        })
    month = figures[0].period_start.strftime("%B %Y") if figures else ""
    emit(rows, fmt, title=f"{ws.settings.workspace.name} — headline KPIs, {month}", empty="")


@contextmanager
def _steps(total: int | None) -> Iterator[Callable[[str], None]]:
    """Report the steps of a long job: a progress bar on a terminal, plain lines in a log."""
    if not errors.is_terminal:
        yield lambda message: errors.print(f"... {message}", highlight=False, soft_wrap=True)
        return
    with _progress() as progress:
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


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=errors, transient=True,
    )


def main() -> None:
    """Entry point of the ``csmetrics`` script."""
    app()
