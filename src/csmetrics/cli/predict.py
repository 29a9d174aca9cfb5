"""Commands over predictions: churn risk, customer lifetime value, survival curves."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer

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

app = typer.Typer()
predict_app = typer.Typer(help="Predictions: churn risk.", no_args_is_help=True)
churn_app = typer.Typer(help="Churn risk: train, score, explain, report.", no_args_is_help=True)
clv_app = typer.Typer(help="Probabilistic CLV (BG/NBD + Gamma-Gamma) from paid orders.",
                      no_args_is_help=True)
predict_app.add_typer(churn_app, name="churn")
app.add_typer(predict_app, name="predict")
app.add_typer(clv_app, name="clv")

AsOf = Annotated[str | None, typer.Option("--as-of", help="Score as of this day (YYYY-MM-DD); "
                                          "default: the last day of the data.")]


def _json(value: Any) -> None:
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


def _score_rows(scores: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [{"model": name, "roc_auc": _r(s["roc_auc"]), "pr_auc": _r(s["pr_auc"]),
             "brier": _r(s["brier"]), "top_decile_lift": _r(s["top_decile_lift"]),
             "n": s["n"], "churn_rate": _r(s["churn_rate"])} for name, s in scores.items()]


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or value != value else round(float(value), digits)


@churn_app.command("train")
@handles_errors
def churn_train(
    horizon: Annotated[int | None, typer.Option(help="Days after a cutoff in which a churn "
                                                "counts; default: [predict] "
                                                "churn_horizon_days.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; default: [predict] seed.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Train the churn model on past cutoffs, validate it on later ones beside its baselines,
    and save it in the workspace (models/churn.joblib + churn.json)."""
    with open_workspace(workspace) as ws, steps(None) as step:
        model = ws.churn_train(horizon_days=horizon, seed=seed, on_step=step)
    m = model.metadata
    if fmt is OutputFormat.JSON:
        _json(m)
        return
    emit(_score_rows(m["scores"]), fmt, title=(
        f"Churn within {m['horizon_days']} days: validation on cutoffs "
        f"{m['validation_cutoffs'][0]}..{m['validation_cutoffs'][-1]} (trained on "
        f"{m['train_cutoffs'][0]}..{m['train_cutoffs'][-1]})"), empty="")
    if fmt is OutputFormat.TABLE:
        console.print(f"{m['n_observations']:,} observations, {m['n_churned']:,} churned; "
                      f"features {m['feature_seconds']} s, fits {m['fit_seconds']} s. "
                      "Model saved in models/churn.joblib.")


@churn_app.command("score")
@handles_errors
def churn_score(
    as_of: AsOf = None,
    top: Annotated[int, typer.Option(help="Show the riskiest N (0 = all).")] = 20,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Risk of churning within the horizon for every paying customer, riskiest first (stored
    in the warehouse table _churn_scores)."""
    with open_workspace(workspace) as ws:
        frame = ws.churn_scores(as_of)
    if top:
        frame = frame.head(top)
    rows = records(frame.drop(columns=["model_trained_at"]))
    if fmt is OutputFormat.TABLE:
        for row in rows:
            row["probability"] = f"{row['probability'] * 100:.1f} %"
    emit(rows, fmt, title="Churn risk", empty="No paying customers.")


@churn_app.command("explain")
@handles_errors
def churn_explain(
    customer: Annotated[str, typer.Argument(help="customer_id")],
    as_of: AsOf = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Why one customer has its risk: the features that push it up or down the most, each
    compared with the typical (training median) value."""
    with open_workspace(workspace) as ws:
        probability, explanations = ws.churn_explain(customer, as_of)
    rows = [{"feature": e.feature, "value": e.value, "typical": e.typical,
             "effect_points": round(e.effect * 100, 1), "reason": e.sentence}
            for e in explanations]
    if fmt is OutputFormat.JSON:
        _json({"customer_id": customer, "probability": probability, "reasons": rows})
        return
    if fmt is OutputFormat.TABLE:
        console.print(f"{customer}: churn risk {probability * 100:.1f} %")
        for row in rows:
            console.print(f"  - {row['reason']}")
        return
    emit(rows, fmt, title="", empty="")


@churn_app.command("report")
@handles_errors
def churn_report(fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """How the saved model did on its validation cutoffs, beside its baselines."""
    with open_workspace(workspace) as ws:
        model = ws.churn_model()
    m = model.metadata
    if fmt is OutputFormat.JSON:
        _json(m)
        return
    emit(_score_rows(m["scores"]), fmt, title=f"Churn model trained {m['trained_at']} "
         f"(horizon {m['horizon_days']} days, data to {m['data_end']})", empty="")


# -- CLV -----------------------------------------------------------------------------------

Until = Annotated[str | None, typer.Option(help="End of the calibration period (YYYY-MM-DD); "
                                           "default: the last paid order.")]
TimeUnit = Annotated[str | None, typer.Option("--time-unit", help="day, week or month; "
                                              "default: [predict] clv_time_unit.")]
Horizon = Annotated[int | None, typer.Option(help="Months of future purchases; default: "
                                             "[predict] clv_horizon_months.")]
Rate = Annotated[float | None, typer.Option("--discount-rate", help="Annual discount rate, "
                                            "e.g. 0.1; default: [predict] clv_discount_rate.")]


@clv_app.command("fit")
@handles_errors
def clv_fit(until: Until = None, time_unit: TimeUnit = None, horizon: Horizon = None,
            discount_rate: Rate = None, fmt: FormatOption = OutputFormat.TABLE,
            workspace: WorkspaceOption = None) -> None:
    """Fit BG/NBD (r, alpha, a, b) and Gamma-Gamma (p, q, gamma) by maximum likelihood on the
    paid orders, and store every customer's CLV (_clv_customers, _clv_fits)."""
    with open_workspace(workspace) as ws:
        run = ws.clv_fit(until, time_unit, horizon, discount_rate)
    params = run.parameters()
    if fmt is OutputFormat.JSON:
        _json(params)
        return
    rows = [{"model": "BG/NBD", "parameter": k, "value": _r(v, 4)}
            for k, v in params["bgnbd"].items()]
    rows += [{"model": "Gamma-Gamma", "parameter": k, "value": _r(v, 4)}
             for k, v in params["gamma_gamma"].items()]
    emit(rows, fmt, title=f"CLV models, calibration to {run.until}, time unit {run.time_unit}",
         empty="")


@clv_app.command("show")
@handles_errors
def clv_show(customer: Annotated[str | None, typer.Option(help="One customer_id.")] = None,
             horizon: Horizon = None, discount_rate: Rate = None, until: Until = None,
             time_unit: TimeUnit = None,
             top: Annotated[int, typer.Option(help="Show the N most valuable (0 = all).")] = 20,
             fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """Per customer: expected purchases over the horizon, P(alive), expected purchase value
    and discounted CLV, most valuable first."""
    from csmetrics.errors import UserInputError

    with open_workspace(workspace) as ws:
        run = ws.clv_fit(until, time_unit, horizon, discount_rate)
    frame = run.customers.sort_values("clv", ascending=False, ignore_index=True)
    if customer is not None:
        frame = frame[frame["customer_id"] == customer]
        if frame.empty:
            raise UserInputError(f"Customer {customer!r} has no paid order on or before "
                                 f"{run.until}, so it has no CLV from these models.")
    elif top:
        frame = frame.head(top)
    rows = records(frame.round(4))
    emit(rows, fmt, title=f"CLV over {run.horizon_months} months at {run.discount_rate:.0%} "
         f"a year (calibration to {run.until})", empty="No customers.")


# -- survival ------------------------------------------------------------------------------


@app.command("survival")
@handles_errors
def survival(
    by: Annotated[str | None, typer.Option(help="A customer column or attribute (plan, region, "
                                           "size_tier, ...) or 'cohort' (start quarter).")] = None,
    as_of: AsOf = None,
    curve: Annotated[bool, typer.Option("--curve", help="Print the curve points, not the "
                                        "summary.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Kaplan-Meier customer-lifetime curves: median lifetime and expected lifespan per
    segment, with 95 % confidence bands (stored in _survival_curves, _survival_summary)."""
    with open_workspace(workspace) as ws:
        result = ws.survival(by, as_of)
    if fmt is OutputFormat.JSON and not curve:
        summary = records(result.summary.round(4))
        for row in summary:
            points = result.curves[result.curves["segment"] == row["segment"]]
            row["curve"] = records(points.drop(columns="segment").round(4))
        _json({"by": by, "as_of": result.as_of.isoformat(), "segments": summary})
        return
    frame = result.curves if curve else result.summary
    emit(records(frame.round(3)), fmt, title=f"Customer lifetime in months (Kaplan-Meier), as "
         f"of {result.as_of}", empty="No customers.")
