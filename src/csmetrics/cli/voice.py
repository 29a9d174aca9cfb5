"""Voice of the customer: sentiment of comments and notes, themes, feature requests."""

from __future__ import annotations

from typing import Annotated

import typer

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    emit,
    errors,
    handles_errors,
    open_workspace,
    records,
)

app = typer.Typer()
voice_app = typer.Typer(help="Voice of the customer: sentiment, themes, feature requests.",
                        no_args_is_help=True)
app.add_typer(voice_app, name="voice")

PeriodOption = Annotated[str, typer.Option(help="day, week, month, quarter or year.")]
ByOption = Annotated[str | None, typer.Option(help="Segment by a customer column or "
                                              "attribute: plan, region, owner...")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Ignore texts and data after "
                                                "this day (YYYY-MM-DD).")]


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f} %"


@voice_app.command("sentiment")
@handles_errors
def voice_sentiment(
    period: PeriodOption = "month",
    by: ByOption = None,
    start: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD).")] = None,
    customer: Annotated[str | None, typer.Option(help="List this customer's texts with "
                                                 "their sentiment instead.")] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Score new texts, then show the share of negative comments per period (and segment),
    or one customer's texts with their sentiment."""
    with open_workspace(workspace) as ws:
        run = ws.voice_score()
        errors.print(f"... {run.scored:,} texts scored, {run.unchanged:,} unchanged, "
                     f"{run.removed:,} removed ({run.seconds:.1f} s)", highlight=False)
        if customer is not None:
            frame = ws.voice_texts(customer, as_of=as_of)
            rows = records(frame)
            if fmt is OutputFormat.TABLE:
                rows = [{"when": str(r["written_at"])[:16], "source": r["source"],
                         "kind": r["kind"], "sentiment": r["label"],
                         "score": f"{r['compound']:+.2f}", "text": r["text"]} for r in rows]
            emit(rows, fmt, title=f"Texts of {customer}", empty=f"No texts from {customer}.")
            return
        frame = ws.query("negative_comment_share", period=period, by=by, start=start,
                         end=end, as_of=as_of)
    rows = records(frame.drop(columns=["metric", "target", "benchmark"]))
    if fmt is OutputFormat.TABLE:
        segments = [c for c in frame.columns if c in (by or "").split(",")]
        rows = [{"period": r["period_start"], **{s: r[s] for s in segments},
                 "negative": _pct(r["value"]), "n": r["n"],
                 "95% CI": "" if r["ci_low"] is None else
                 f"{_pct(r['ci_low'])} – {_pct(r['ci_high'])}",
                 "note": r["null_reason"] or ""} for r in rows]
    emit(rows, fmt, title=f"Share of negative comments by {period}", empty="No rows.")


@voice_app.command("themes")
@handles_errors
def voice_themes(
    period: PeriodOption = "month",
    by: ByOption = None,
    as_of: AsOfOption = None,
    seed: Annotated[int | None, typer.Option(help="Random seed: same texts and seed, same "
                                             "themes (default: voice.seed).")] = None,
    source: Annotated[list[str] | None, typer.Option(
        help="Texts to use: survey_responses, feedback, activities (CSM notes); repeatable. "
        "Default: voice.theme_sources (survey_responses and feedback).")] = None,
    trend: Annotated[bool, typer.Option("--trend", help="Show texts per theme and period "
                                        "instead of the summary.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Group comments and feedback into named themes: size, sentiment, NPS detractors vs
    promoters, MRR of the customers raising them, example quotes, trend."""
    with open_workspace(workspace) as ws:
        report = ws.voice_themes(period=period, by=by, as_of=as_of, seed=seed,
                                 sources=tuple(source) if source else None)
        currency = ws.settings.workspace.currency
    if trend:
        rows = records(report.trend)
        if fmt is OutputFormat.TABLE:
            rows = [{**r, "share": _pct(r["share"])} for r in rows]
        emit(rows, fmt, title=f"Themes by {period}", empty="No texts.")
        return
    rows = records(report.summary)
    if fmt is OutputFormat.TABLE:
        rows = [{"theme": r["theme"], **({by: r[by]} if by else {}),
                 "texts": r["texts"], "customers": r["customers"], "share": _pct(r["share"]),
                 "negative": _pct(r["negative_share"]),
                 "detractors": _pct(r["detractor_share"]),
                 "promoters": _pct(r["promoter_share"]),
                 f"MRR ({currency})": _money(r["mrr"]),
                 "top terms": ", ".join(r["top_terms"][:5]),
                 "example": r["examples"][0] if r["examples"] else ""} for r in rows]
    emit(rows, fmt, title=f"Themes as of {report.as_of} ({report.seconds:.1f} s)",
         empty="No texts.")


@voice_app.command("requests")
@handles_errors
def voice_requests(
    by: ByOption = None,
    as_of: AsOfOption = None,
    rank: Annotated[str, typer.Option(help="Rank by 'customers' asking or by their "
                                      "'mrr'.")] = "customers",
    limit: Annotated[int, typer.Option(min=1, help="Show this many requests.")] = 20,
    period: Annotated[str | None, typer.Option(help="Also show how many customers raised "
                                               "each request per day, week, month, quarter "
                                               "or year.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Feature requests and ideas, similar ones merged, ranked by the customers (or MRR)
    asking, with their status."""
    with open_workspace(workspace) as ws:
        if period is not None:
            report, trend = ws.voice_requests(by=by, as_of=as_of, rank=rank, period=period)
            top = set(report.requests.head(limit)["request_id"])
            emit(records(trend[trend["request_id"].isin(top)]), fmt,
                 title=f"Customers raising each request, by {period}", empty="No requests.")
            return
        report = ws.voice_requests(by=by, as_of=as_of, rank=rank)
        currency = ws.settings.workspace.currency
    rows = records(report.requests.head(limit) if not by else report.requests)
    if fmt is OutputFormat.TABLE:
        rows = [{"request": r["label"], **({by: r[by]} if by else {}),
                 "customers": r["customers"], f"MRR ({currency})": _money(r["mrr"]),
                 "texts": r["texts"], "status": r["status"],
                 "last asked": r["last_asked"],
                 "also worded": "; ".join(e for e in r["examples"] if e != r["label"])}
                for r in rows]
    emit(rows, fmt, title=f"Feature requests as of {report.as_of}, by {rank}",
         empty="No feature requests or ideas in the feedback.")
