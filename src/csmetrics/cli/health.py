"""Health commands: list scores, explain one, snapshot, history, backtest against churn."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

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

app = typer.Typer()
health_app = typer.Typer(help="Account health: scores, explanations, history, backtest.",
                         no_args_is_help=True)
app.add_typer(health_app, name="health")

AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Score from the data known on this day (YYYY-MM-DD); default: the last "
    "day of the data.")]
BANDS = ("red", "yellow", "green", "insufficient", "unknown")
#: The bands counted per date or group, "insufficient" (too little data for a colour) last.
COUNTED = ("red", "yellow", "green", "insufficient")


def _share(value: Any) -> str:
    """A coverage share as people read it: "70 %" ("" when unknown)."""
    return "" if value is None or value != value else f"{float(value) * 100:.0f} %"


def _num(value: Any, digits: int = 1) -> float | None:
    """A rounded number; None for a missing one (None or NaN)."""
    if value is None or value != value:
        return None
    return round(float(value), digits)


@health_app.command("list")
@handles_errors
def health_list(
    band: Annotated[str | None, typer.Option(
        help="Only this band: red, yellow, green or insufficient (too little data).")] = None,
    by: Annotated[str | None, typer.Option(help="Summarise by a customer column instead, "
                                           "e.g. owner.")] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Every paying account's score, coverage (share of the scorecard's weight backed by
    data), band, change since the last snapshot, owner and MRR."""
    if band is not None and band not in BANDS:
        raise UserInputError(f"--band {band!r} must be one of {', '.join(BANDS)}.")
    with open_workspace(workspace) as ws:
        health = ws.health(as_of)
        scores = health.scores
        if by is not None and by not in scores.columns:
            customers = ws.warehouse.sql.execute("SELECT * FROM customers").df()
            if by not in customers.columns:
                raise UserInputError(f"--by {by!r} is not a customer column; use e.g. owner, "
                                     "plan, region or size_tier.")
            if by == "plan" and customers["plan"].isna().any():
                # a billing tool's customers file has no plan: the subscriptions' plan
                from csmetrics.metrics.context import subscription_plans

                plans = ws.warehouse.ibis.execute(subscription_plans(
                    ws.warehouse.ibis.table("subscriptions"), health.as_of))
                customers["plan"] = customers["plan"].fillna(
                    customers["customer_id"].map(plans.set_index("customer_id")["plan"]))
            scores = scores.merge(customers[["customer_id", by]], on="customer_id", how="left")
        zone = ws.settings.workspace.timezone
    if band is not None:
        scores = scores[scores["band"] == band]
    title = f"Health as of {health.as_of}"
    if by is not None:
        scores = scores.assign(**{by: scores[by].fillna("(none)")})
        groups = scores.groupby(by, sort=True)
        rows = [{
            by: key, "accounts": len(g), "avg score": _num(g["score"].mean()),
            **{b: int((g["band"] == b).sum()) for b in COUNTED},
            "mrr": _num(g["mrr"].sum(), 2),
            "red mrr": _num(g.loc[g["band"] == "red", "mrr"].sum(), 2),
        } for key, g in groups]
        if out is not None:
            import pandas as pd

            write_out(pd.DataFrame(rows, columns=[by, "accounts", "avg score", *COUNTED,
                                                  "mrr", "red mrr"]),
                      out, sheet=f"health by {by}", timezone=zone)
            return
        emit(rows, fmt, title=f"{title} by {by}", empty="No accounts.")
        return
    scores = scores.sort_values(["score", "customer_id"], na_position="first", kind="stable")
    if out is not None:
        columns = ["customer_id", "name", "owner", "score", "coverage", "band", "change",
                   "previous_as_of", "mrr"]
        write_out(scores[columns], out, sheet=f"health {health.as_of}", timezone=zone)
        return
    rows = [{
        "customer_id": r["customer_id"], "name": r["name"], "owner": r["owner"],
        "score": _num(r["score"]), "coverage": _num(r.get("coverage"), 3), "band": r["band"],
        "change": _num(r["change"]), "previous_as_of": r["previous_as_of"],
        "mrr": _num(r["mrr"], 2),
    } for r in records(scores)]
    if fmt is OutputFormat.TABLE:
        from csmetrics.health.scorecard import BAND_LABELS  # imported late: start-up time

        for r in rows:
            r["change"] = "" if r["change"] is None else f"{r['change']:+.1f}"
            r["score"] = "" if r["score"] is None else f"{r['score']:.1f}"
            r["coverage"] = _share(r["coverage"])
            r["band"] = BAND_LABELS.get(r["band"], r["band"])
            r["mrr"] = f"{r['mrr']:,.2f}"
            r.pop("previous_as_of")
    emit(rows, fmt, title=title, empty="No paying accounts to score.")


@health_app.command("explain")
@handles_errors
def health_explain(
    customer: Annotated[str, typer.Argument(help="The customer_id.")],
    as_of: AsOfOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Each component's raw value, points, weight and contribution, biggest pull first."""
    with open_workspace(workspace) as ws:
        e = ws.health_explain(customer, as_of)
    parts = [{
        "component": r["component"], "value": r["shown"], "raw": r["raw"],
        "points": _num(r["points"]), "weight": _num(r["effective_weight"] * 100),
        "contribution": _num(r["contribution"], 2), "pulls down": _num(r["lost"], 2),
        "meaning": r["meaning"], "why": r["why"],
    } for r in records(e.components)]
    if fmt is OutputFormat.JSON:
        sys.stdout.write(json.dumps({
            "customer_id": e.customer_id, "name": e.name, "as_of": e.as_of,
            "score": e.score, "coverage": _num(e.coverage, 3), "band": e.band,
            "summary": e.summary, "components": parts,
        }, default=str, indent=2) + "\n")
        return
    if fmt is OutputFormat.CSV:
        emit([{"customer_id": e.customer_id, "as_of": e.as_of, "score": e.score, **p}
              for p in parts], fmt, title="", empty="")
        return
    console.print(Text(e.summary))
    if e.coverage is not None:
        console.print(Text(f"Coverage: {_share(e.coverage)} of the scorecard's weight has "
                           "data for this account."))
    table = [{"component": p["component"], "value": p["value"],
              "points": "" if p["points"] is None else f"{p['points']:.0f}",
              "weight": f"{p['weight']:.0f} %",
              "adds": f"{p['contribution']:.1f}", "pulls down": f"{p['pulls down']:.1f}",
              "what it measures": p["meaning"]} for p in parts]
    emit(table, fmt, title=f"{e.customer_id} ({e.name}) as of {e.as_of}", empty="")
    for p in parts:
        console.print(Text(f"- {p['why']}"))


@health_app.command("snapshot")
@handles_errors
def health_snapshot(
    as_of: AsOfOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Score every paying account as of a day and store it in the history."""
    with open_workspace(workspace) as ws:
        health = ws.health_snapshot(as_of)
    counts = health.scores["band"].value_counts()
    rows = [{"as_of": str(health.as_of), "accounts": len(health.scores),
             **{b: int(counts.get(b, 0)) for b in COUNTED},
             "avg score": _num(health.scores["score"].mean())}]
    emit(rows, fmt, title="Health snapshot stored", empty="")


@health_app.command("history")
@handles_errors
def health_history(
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Recompute and store snapshots "
                                          "for past dates first, each from the data as it "
                                          "was then.")] = False,
    start: Annotated[str | None, typer.Option("--from", help="First date to rebuild "
                                              "(YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last date to rebuild; default: the "
                                            "last day of the data.")] = None,
    every: Annotated[str, typer.Option(help="Rebuild every day, week or month (month ends)."
                                       )] = "month",
    customer: Annotated[str | None, typer.Option(help="One customer's scores over time.")
                        ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Stored health snapshots: bands per date, or one customer's score over time."""
    with open_workspace(workspace) as ws:
        if rebuild:
            if start is None:
                raise UserInputError("--rebuild needs --from YYYY-MM-DD (the first date to "
                                     "snapshot).")
            with steps(total=None) as step:
                ws.health_rebuild(start, end, every, on_step=step)
        elif start is not None or end is not None:
            raise UserInputError("--from and --to choose dates to rebuild; add --rebuild.")
        history = ws.health_history(customer)
    if customer is not None:
        rows = [{"as_of": r["as_of"], "score": _num(r["score"]),
                 "coverage": _num(r.get("coverage"), 3), "band": r["band"],
                 "mrr": _num(r["mrr"], 2)} for r in records(history)]
        emit(rows, fmt, title=f"Health of {customer}", empty=f"No snapshots of {customer}.")
        return
    rows = []
    for as_of, g in history.groupby("as_of", sort=True):
        rows.append({"as_of": str(as_of)[:10], "accounts": len(g),
                     "avg score": _num(g["score"].mean()),
                     **{b: int((g["band"] == b).sum()) for b in COUNTED}})
    emit(rows, fmt, title="Health history",
         empty="No snapshots yet: run 'csmetrics refresh' or 'csmetrics health snapshot'.")


@health_app.command("backtest")
@handles_errors
def health_backtest(
    horizon: Annotated[int, typer.Option(min=1, help="Days after each snapshot in which a "
                                         "churn counts.")] = 90,
    start: Annotated[str | None, typer.Option("--from", help="First snapshot date to use.")
                     ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last snapshot date to use.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """How well stored scores separated accounts that churned within the horizon."""
    with open_workspace(workspace) as ws:
        b = ws.health_backtest(horizon, start, end)
    rw = b.reweighting
    result: dict[str, Any] = {
        "horizon_days": b.horizon_days, "dates": [str(d) for d in b.dates],
        "observations": b.observations, "churned": b.churned, "auc": b.auc,
        "lift_red_over_green": b.lift, "bands": records(b.bands),
        "reweighting": None if rw is None else {
            "train_dates": [str(d) for d in rw.train_dates],
            "test_dates": [str(d) for d in rw.test_dates],
            "current_weights": rw.current_weights, "suggested_weights": rw.weights,
            "auc_current_train": rw.auc_current_train, "auc_current_test": rw.auc_current_test,
            "auc_suggested_train": rw.auc_suggested_train,
            "auc_suggested_test": rw.auc_suggested_test,
        },
        "notes": b.notes,
    }
    if fmt is OutputFormat.JSON:
        sys.stdout.write(json.dumps(result, default=str, indent=2) + "\n")
        return
    if fmt is OutputFormat.CSV:
        rows = [{"item": k, "value": result[k]} for k in
                ("horizon_days", "observations", "churned", "auc", "lift_red_over_green")]
        rows += [{"item": f"churn_rate_{r['band']}", "value": r["churn_rate"]}
                 for r in result["bands"]]
        if rw is not None:
            rows += [{"item": k, "value": v} for k, v in result["reweighting"].items()
                     if k.startswith("auc_")]
            rows += [{"item": f"suggested_weight_{k}", "value": v} for k, v in rw.weights.items()]
        emit(rows, fmt, title="", empty="")
        return
    _print_backtest(b, result)


def _print_backtest(b: Any, result: dict[str, Any]) -> None:
    def fmt_auc(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    if not b.dates:
        console.print("No snapshot is old enough to know its outcome yet.")
    else:
        console.print(
            f"{len(b.dates)} snapshot dates ({b.dates[0]} to {b.dates[-1]}), "
            f"{b.observations:,} account-dates, {b.churned:,} churned within "
            f"{b.horizon_days} days.", highlight=False)
        console.print(f"ROC AUC of the score: {fmt_auc(b.auc)} (0.5 = no signal, 1 = perfect).",
                      highlight=False)
        if b.lift is not None:
            console.print(f"Lift red over green: {b.lift:.1f}x (red accounts churned "
                          f"{b.lift:.1f} times as often as green ones).", highlight=False)
        emit([{"band": r["band"], "accounts": r["accounts"], "churned": r["churned"],
               "churn rate": f"{r['churn_rate'] * 100:.1f} %"} for r in result["bands"]],
             OutputFormat.TABLE, title="Churn by band", empty="")
    rw = b.reweighting
    if rw is not None:
        console.print(
            f"Suggested re-weighting: fitted on {len(rw.train_dates)} earlier dates (to "
            f"{rw.train_dates[-1]}), tested on {len(rw.test_dates)} later ones (from "
            f"{rw.test_dates[0]}). AUC on the later dates: current weights "
            f"{fmt_auc(rw.auc_current_test)}, suggested {fmt_auc(rw.auc_suggested_test)} "
            f"(on the fitting dates: {fmt_auc(rw.auc_current_train)} vs "
            f"{fmt_auc(rw.auc_suggested_train)}).", highlight=False)
        emit([{"component": k, "current weight": f"{rw.current_weights[k]:.1f}",
               "suggested weight": f"{v:.1f}"} for k, v in rw.weights.items()],
             OutputFormat.TABLE, title="Weights (per 100)", empty="")
    for note in b.notes:
        console.print(Text(f"Note: {note}"))
