"""Executive reports: render one now (``report``), or send the configured ones when due
(``schedule list|run``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    caller_path,
    console,
    emit,
    errors,
    handles_errors,
    open_workspace,
    steps,
)
from csmetrics.cli.notify import print_delivery
from csmetrics.clock import default_clock, parse_day
from csmetrics.errors import UserInputError

app = typer.Typer()
schedule_app = typer.Typer(help="Reports sent on a cadence ([[schedule]] in csmetrics.toml): "
                           "list them, run the due ones.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")


class Cadence(StrEnum):
    """Which review the report serves."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


@app.command()
@handles_errors
def report(
    cadence: Annotated[Cadence, typer.Argument(help="weekly (operational), monthly (tactical) "
                                               "or quarterly (strategic).")],
    segment: Annotated[str | None, typer.Option(help="Only customers with COLUMN=VALUE, e.g. "
                                                "plan=Pro (several: plan=Pro,region=EMEA).")
                       ] = None,
    to: Annotated[list[str] | None, typer.Option("--to", help="E-mail it (HTML body, PDF "
                                                 "attached) to this address; repeatable.")
                  ] = None,
    out: Annotated[Path | None, typer.Option(help="Write FILE.pdf or FILE.html (by extension), "
                                             "or both formats into a folder.",
                                             callback=caller_path)] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Report the last complete "
                                              "period ending on or before this day "
                                              "(YYYY-MM-DD); default: the end of the data.")
                     ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Render the executive report of the last complete week, month or quarter: headline KPIs
    with trends, MRR movements, accounts at risk, voice of the customer. Without --to or
    --out, the PDF and HTML are written to the current folder."""
    from csmetrics.reports.deliver import send_report, write_report
    from csmetrics.reports.executive import build_report

    day = parse_day(as_of, "--as-of")
    if out is not None and out.suffix.lower() not in ("", ".pdf", ".html", ".htm"):
        raise UserInputError(f"--out {out}: write a .pdf or .html file, or name a folder to "
                             "get both.")
    with open_workspace(workspace) as ws, steps(None) as step:
        if to and not ws.settings.notify.email.enabled:
            raise UserInputError("--to needs e-mail: set [notify.email] enabled = true (with "
                                 "host, port, sender) in csmetrics.toml.")
        step(f"{cadence.value} report: computing")
        built = build_report(ws, cadence.value, segment=segment, as_of=day)
        written: list[Path] = []
        if out is not None or not to:
            step("rendering")
            written = write_report(built, out if out is not None else Path.cwd())
        delivery = None
        if to:
            step("sending")
            stamp = default_clock().now().isoformat(timespec="seconds")
            key = f"report:{cadence.value}:{built.period.start}:{segment or 'all'}:{stamp}"
            delivery = send_report(ws, built, tuple(to), key)
    console.print(f"{built.title}, {built.period.label} ({built.segment_label}): MRR "
                  f"{built.kpi('mrr').display}, {built.at_risk_total} accounts at risk.",
                  highlight=False, soft_wrap=True)
    for path in written:
        console.print(f"Wrote {path}", highlight=False, soft_wrap=True)
    if delivery is not None:
        print_delivery(delivery)
        if delivery.failed or delivery.errors:
            raise typer.Exit(1)


@schedule_app.command("list")
@handles_errors
def schedule_list(
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this time "
                                            "(YYYY-MM-DD[THH:MM]).")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Each [[schedule]]: cadence, recipients, the latest due period and whether it was sent."""
    from csmetrics.reports.deliver import schedule_table

    with open_workspace(workspace) as ws:
        rows = schedule_table(ws, _moment(now))
    emit(rows, fmt, title="Scheduled reports",
         empty="No schedules: add [[schedule]] entries to csmetrics.toml (see the commented "
               "examples 'csmetrics init' writes).")


@schedule_app.command("run")
@handles_errors
def schedule_run(
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this time "
                                            "(YYYY-MM-DD[THH:MM]; default: the clock).")
                   ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Send every scheduled report that is due and not sent yet (each period once), then
    deliver pending notifications. Cron-friendly: run it hourly or daily; exit code 1 when a
    schedule or a notification failed."""
    from csmetrics.reports.deliver import run_schedules

    with open_workspace(workspace) as ws, steps(None) as step:
        result = run_schedules(ws, _moment(now), on_step=step)
    for outcome in result.outcomes:
        line = (f"{outcome.name} ({outcome.cadence}, period from {outcome.period.start}): "
                f"{outcome.status}" + (f" — {outcome.detail}" if outcome.detail else ""))
        if outcome.status == "error":
            errors.print("[bold red]Error:[/]", Text(line), soft_wrap=True)
        else:
            console.print(line, highlight=False, soft_wrap=True)
    if not result.outcomes:
        console.print("No [[schedule]] entries in csmetrics.toml.")
    print_delivery(result.delivery)
    failed = any(o.status == "error" for o in result.outcomes)
    if failed or result.delivery.failed or result.delivery.errors:
        raise typer.Exit(1)


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--now {value!r} is not a time; write it as YYYY-MM-DD or "
                             "YYYY-MM-DDTHH:MM (local to the workspace's timezone, or with "
                             "an offset).") from None
