"""Commands over the metric registry: list, show, explain, cohorts, refresh, KPIs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from csmetrics.cli._export import OutOption, write_out
from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    console,
    emit,
    handles_errors,
    open_workspace,
    records,
    steps,
)
from csmetrics.errors import UserInputError

if TYPE_CHECKING:
    from csmetrics.workspace import Workspace

app = typer.Typer()
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
    where: Annotated[list[str] | None, typer.Option(help="Filter COLUMN=VALUE; repeatable."
                                                    )] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Ignore data after this day."
                                              )] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Compute metrics per period (and segment) straight from the warehouse."""
    from csmetrics.metrics import get_metric
    from csmetrics.metrics.formatting import format_value

    with open_workspace(workspace) as ws:
        frame = ws.query(names, period=period, start=start, end=end, by=by, customer=customer,
                         where=where, as_of=as_of, stored=True)
        currency = ws.settings.workspace.currency
        zone = ws.settings.workspace.timezone
        fresh = ws.freshness()
    if out is not None:
        write_out(frame, out, sheet=f"{'_'.join(names)} by {period}", timezone=zone)
        return
    rows = records(frame)
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
         "note": r.get("null_reason") or (
             f"partial {period}: data through {fresh.data_end}" if r.get("partial") else "")}
        for r in rows
    ]
    emit(table, fmt, title=f"{', '.join(names)} by {period}", empty="No rows.")
    console.print(str(fresh), highlight=False)


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
        ws = open_workspace(workspace)
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
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Retention by start month x months since start."""
    if kind not in ("logo", "revenue"):
        raise UserInputError(f"--kind {kind!r} must be logo or revenue.")
    with open_workspace(workspace) as ws:
        table = ws.cohorts(kind, start, end)
        zone = ws.settings.workspace.timezone
    if out is not None:
        write_out(table, out, sheet=f"{kind} retention", timezone=zone)
        return
    rows = records(table.reset_index())
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
    full: Annotated[bool, typer.Option("--full", help="Recompute every period, not only the "
                                       "ones new data can change.")] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Compute every metric for all periods and default segments, and store the results.

    Incremental by default: after new data only the periods it can change are recomputed
    (the result equals a full refresh); --full recomputes everything."""
    with open_workspace(workspace) as ws, steps(total=None) as step:
        run = ws.refresh(grains=period, on_step=step, full=full)
    print_refresh(run)


def print_refresh(run: dict[str, Any]) -> None:
    """Say what a refresh (``Workspace.refresh``) did: values stored, periods, time, tasks."""
    console.print(
        f"Refreshed {run['rows']:,} metric values for {', '.join(run['grains'])} "
        f"from {run['first']} to {run['last']} (total + {len(run['segments'])} segments) "
        f"in {run['seconds']:.1f} s; {run['mode']}: {run['reason']}.", highlight=False)
    if "tasks_opened" in run:
        console.print(f"Alert rules: {run['rule_firings']} firing(s), {run['tasks_opened']} new "
                      "task(s) (csmetrics tasks list).", highlight=False)


@app.command()
@handles_errors
def kpis(workspace: WorkspaceOption = None, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """The headline KPIs of the last complete month, with the change against the month before."""
    with open_workspace(workspace) as ws:
        print_headline(ws, fmt)


def print_headline(ws: Workspace, fmt: OutputFormat = OutputFormat.TABLE) -> None:
    from csmetrics.metrics.formatting import format_value

    currency = ws.settings.workspace.currency
    figures = ws.headline()
    fresh = ws.freshness()
    if fmt is not OutputFormat.TABLE:
        emit([{"metric": k.definition.name, "period_start": k.period_start.isoformat(),
               "value": k.value, "previous": k.previous, "change": k.change, "n": k.n,
               "target": k.target, "null_reason": k.null_reason,
               "data_through": fresh.data_end.isoformat(),
               "refreshed_at": None if fresh.refreshed_at is None
               else fresh.refreshed_at.isoformat()} for k in figures],
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
    console.print(str(fresh), highlight=False)

