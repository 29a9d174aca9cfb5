"""Contractual retention: ``csmetrics predict retention`` (sBG fits per cohort or segment)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    emit,
    handles_errors,
    open_workspace,
    print_json,
    records,
)

app = typer.Typer()


class Period(StrEnum):
    """Renewal periods the sBG model counts in."""

    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@app.command("retention")
@handles_errors
def retention(
    by: Annotated[str | None, typer.Option(help="'cohort' (one fit per start period) or a "
                                           "customer column or attribute (plan, region, "
                                           "...); default: every customer in one fit.")] = None,
    period: Annotated[Period | None, typer.Option(help="Renewal period; default: the billing "
                                                  "interval most paying customers are on.")
                      ] = None,
    horizon: Annotated[int, typer.Option(help="Periods to project after the last observed "
                                         "one.")] = 12,
    discount_rate: Annotated[float | None, typer.Option(
        "--discount-rate", help="Annual discount rate of DERL, e.g. 0.1; default: [predict] "
        "clv_discount_rate.")] = None,
    renewals: Annotated[int, typer.Option(help="Expected remaining lifetime and DERL are for "
                                          "a customer who has made this many renewals (0: "
                                          "in its first period).")] = 0,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Count up to this day "
                                              "(YYYY-MM-DD); default: the last day of the "
                                              "data.")] = None,
    curve: Annotated[bool, typer.Option("--curve", help="Print observed vs fitted survival "
                                        "and the projection per period, not the summary.")
                     ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Contractual retention: shifted-beta-geometric fits per start cohort or segment.

    Alpha, beta and the log-likelihood of the sBG model (Fader & Hardie 2007), observed vs
    fitted survival, projected retention, expected remaining lifetime and DERL (discounted
    expected residual lifetime, Fader & Hardie 2010, in periods: times the payment per
    period, a subscriber's residual value)."""
    with open_workspace(workspace) as ws:
        result = ws.contractual_retention(by, period.value if period else None, horizon,
                                          discount_rate, renewals, as_of)
    if fmt is OutputFormat.JSON and not curve:
        groups = records(result.summary)
        for row in groups:
            points = result.curves[result.curves["group"] == row["group"]]
            row["survival"] = records(points[points["kind"] == "observed"].drop(
                columns=["group", "kind"]))
            row["projection"] = records(points[points["kind"] == "projected"][
                ["period", "fitted_survival", "fitted_retention"]])
        print_json({"by": result.by, "period": result.period, "period_source": result.period_source,
               "as_of": result.as_of.isoformat(), "horizon": result.horizon,
               "discount_rate": result.discount_rate,
               "period_discount_rate": result.period_discount_rate,
               "renewals": result.renewals, "groups": groups})
        return
    frame = result.curves if curve else result.summary
    emit(records(frame.round(4)), fmt, empty="No customers.", title=(
        f"Contractual retention (sBG) per {result.period} ({result.period_source}), as of "
        f"{result.as_of}; DERL at {result.discount_rate:.0%} a year, after "
        f"{result.renewals} renewals"))


