"""Commands over predictions: churn risk, customer lifetime value, survival curves."""

from __future__ import annotations

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
    print_json,
    records,
    steps,
)

app = typer.Typer()
predict_app = typer.Typer(help="Predictions: churn risk.", no_args_is_help=True)
churn_app = typer.Typer(help="Churn risk: train, score, explain, report.", no_args_is_help=True)
clv_app = typer.Typer(help="Probabilistic CLV (BG/NBD or Pareto/NBD + Gamma-Gamma) from paid "
                      "orders.",
                      no_args_is_help=True)
predict_app.add_typer(churn_app, name="churn")
app.add_typer(predict_app, name="predict")
app.add_typer(clv_app, name="clv")

AsOf = Annotated[str | None, typer.Option("--as-of", help="Score as of this day (YYYY-MM-DD); "
                                          "default: the last day of the data.")]


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
    and save it in the app store (shared by the servers) and the workspace
    (models/churn.joblib + churn.json)."""
    with open_workspace(workspace) as ws, steps(None) as step:
        model = ws.churn_train(horizon_days=horizon, seed=seed, on_step=step)
    m = model.metadata
    if fmt is OutputFormat.JSON:
        print_json(m)
        return
    emit(_score_rows(m["scores"]), fmt, title=(
        f"Churn within {m['horizon_days']} days: validation on cutoffs "
        f"{m['validation_cutoffs'][0]}..{m['validation_cutoffs'][-1]} (trained on "
        f"{m['train_cutoffs'][0]}..{m['train_cutoffs'][-1]})"), empty="")
    if fmt is OutputFormat.TABLE:
        console.print(f"{m['n_observations']:,} observations, {m['n_churned']:,} churned; "
                      f"features {m['feature_seconds']} s, fits {m['fit_seconds']} s. "
                      "Model saved in the app store and models/churn.joblib.")


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
        print_json({"customer_id": customer, "probability": probability, "reasons": rows})
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
        print_json(m)
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
Model = Annotated[str, typer.Option(help="both (BG/NBD + Gamma-Gamma: CLV), bgnbd (the "
                                    "purchase process alone: expected purchases, P(alive)) "
                                    "or pareto (Pareto/NBD + Gamma-Gamma: CLV).")]
PurchaseModel = Annotated[str, typer.Option("--model", help="The purchase model: bgnbd "
                                            "(BG/NBD) or pareto (Pareto/NBD).")]


@clv_app.command("fit")
@handles_errors
def clv_fit(until: Until = None, time_unit: TimeUnit = None, horizon: Horizon = None,
            discount_rate: Rate = None, model: Model = "both",
            fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """Fit BG/NBD (r, alpha, a, b) or, with --model pareto, Pareto/NBD (r, alpha, s, beta),
    and Gamma-Gamma (p, q, gamma) by maximum likelihood on the paid orders, and store every
    customer's CLV (_clv_customers, _clv_fits)."""
    with open_workspace(workspace) as ws:
        run = ws.clv_fit(until, time_unit, horizon, discount_rate, model)
    params = run.parameters()
    if fmt is OutputFormat.JSON:
        print_json(params)
        return
    rows = [{"model": label, "parameter": k, "value": _r(v, 4)}
            for key, label in (("bgnbd", "BG/NBD"), ("pareto_nbd", "Pareto/NBD"))
            for k, v in (params[key] or {}).items()]
    rows += [{"model": "Gamma-Gamma", "parameter": k, "value": _r(v, 4)}
             for k, v in (params["gamma_gamma"] or {}).items()]
    emit(rows, fmt, title=f"CLV models, calibration to {run.until}, time unit {run.time_unit}",
         empty="")
    for warning in params["warnings"]:
        console.print(f"[yellow]Note:[/] {warning}.")


@clv_app.command("show")
@handles_errors
def clv_show(customer: Annotated[str | None, typer.Option(help="One customer_id.")] = None,
             horizon: Horizon = None, discount_rate: Rate = None, until: Until = None,
             time_unit: TimeUnit = None,
             top: Annotated[int, typer.Option(help="Show the N most valuable (0 = all).")] = 20,
             model: Model = "both",
             fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """Per customer: expected purchases over the horizon, P(alive), expected purchase value
    and discounted CLV, most valuable first (with --model bgnbd: most purchases first)."""
    from csmetrics.errors import UserInputError

    with open_workspace(workspace) as ws:
        run = ws.clv_fit(until, time_unit, horizon, discount_rate, model)
    order = "clv" if run.gamma_gamma is not None else "expected_purchases"
    frame = run.customers.sort_values(order, ascending=False, ignore_index=True)
    if run.gamma_gamma is None:
        frame = frame.drop(columns=["expected_value", "clv"])
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


@clv_app.command("query")
@handles_errors
def clv_query(
    t: Annotated[float, typer.Option("--t", min=0, help="Length of the future window, in the "
                                     "time unit (any number: 2.5 weeks).")],
    frequency: Annotated[float | None, typer.Option(help="x: repeat purchases so far (with "
                                                    "--recency and --age).")] = None,
    recency: Annotated[float | None, typer.Option(help="t_x: first to last purchase.")] = None,
    age: Annotated[float | None, typer.Option(help="T: first purchase to now.")] = None,
    most: Annotated[int, typer.Option("--n-max", min=0, help="P(X(t) = n) for n = 0 .. "
                                      "this.")] = 7,
    params: Annotated[str | None, typer.Option(help="r,alpha,a,b (with --model pareto: "
                                               "r,alpha,s,beta) to use instead of fitting; "
                                               "the data's log-likelihood there is shown.")
                      ] = None,
    until: Until = None, time_unit: TimeUnit = None, model: PurchaseModel = "bgnbd",
    fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None,
) -> None:
    """Ask the BG/NBD (or Pareto/NBD) model: expected purchases in the next t units for a new
    customer and for one with the given history, P(X(t) = n), P(alive), and the
    log-likelihood."""
    from csmetrics.errors import UserInputError

    history = (frequency, recency, age)
    if any(v is not None for v in history) and any(v is None for v in history):
        raise UserInputError("--frequency, --recency and --age go together (x, t_x, T).")
    given = None
    if params is not None:
        try:
            given = tuple(float(v) for v in params.split(","))
        except ValueError:
            raise UserInputError("--params takes four numbers separated by commas: "
                                 "r,alpha,a,b (--model pareto: r,alpha,s,beta).") from None
    with open_workspace(workspace) as ws:
        fit = ws.purchase_model(until, time_unit, given, model)  # type: ignore[arg-type]
    names = ("r", "alpha", "s", "beta") if model == "pareto" else ("r", "alpha", "a", "b")
    answer: dict[str, Any] = {
        "model": model, "time_unit": fit.time_unit, "t": t,
        "parameters": dict(zip(names, fit.params, strict=True)),
        "log_likelihood": fit.log_likelihood, "customers": fit.n,
        "new_customer": {
            "expected_purchases": float(fit.expected_purchases_new(t)),
            "probability_of_n": {str(n): float(p) for n, p in enumerate(
                fit.purchase_probability(list(range(most + 1)), t))}},
    }
    if frequency is not None:
        x, t_x, T = ([v] for v in (frequency, recency, age))
        answer["customer"] = {"frequency": frequency, "recency": recency, "age": age,
                              "expected_purchases": float(fit.expected_purchases(t, x, t_x,
                                                                                 T)[0]),
                              "p_alive": float(fit.p_alive(x, t_x, T)[0])}
    if fmt is OutputFormat.JSON:
        print_json(answer)
        return
    rows = [{"question": k, "answer": _r(v, 4)} for k, v in answer["parameters"].items()]
    rows += [{"question": "log-likelihood", "answer": _r(fit.log_likelihood, 2)},
             {"question": f"E[X({t:g})], new customer",
              "answer": _r(answer["new_customer"]["expected_purchases"], 4)}]
    rows += [{"question": f"P(X({t:g}) = {n}), new customer", "answer": _r(p, 4)}
             for n, p in answer["new_customer"]["probability_of_n"].items()]
    if "customer" in answer:
        rows += [{"question": f"E[X({t:g}) | x, t_x, T]",
                  "answer": _r(answer["customer"]["expected_purchases"], 4)},
                 {"question": "P(alive | x, t_x, T)",
                  "answer": _r(answer["customer"]["p_alive"], 4)}]
    label = "Pareto/NBD" if model == "pareto" else "BG/NBD"
    emit(rows, fmt, title=f"{label}, time unit {fit.time_unit}", empty="")


@clv_app.command("holdout")
@handles_errors
def clv_holdout(
    until: Annotated[str, typer.Option(help="End of the calibration period (YYYY-MM-DD): the "
                                       "model is fitted on the orders up to it.")],
    end: Annotated[str | None, typer.Option(help="End of the holdout; default: the last paid "
                                            "order.")] = None,
    time_unit: TimeUnit = None,
    customers: Annotated[bool, typer.Option("--customers", help="Per customer, not by "
                                            "week.")] = False,
    fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None,
) -> None:
    """Check BG/NBD on later data: fit to --until, then compare predicted and actual repeat
    purchases after it, in total, cumulative by week, and per customer."""
    with open_workspace(workspace) as ws:
        check = ws.clv_holdout(until, end, time_unit)
    totals = check.totals()
    if fmt is OutputFormat.JSON:
        print_json({"until": check.until, "end": check.end, **totals,
               "parameters": dict(zip(("r", "alpha", "a", "b"), check.fit.params, strict=True)),
               "weekly": records(check.weekly),
               **({"customers_detail": records(check.customers)} if customers else {})})
        return
    frame = check.customers if customers else check.weekly
    emit(records(frame.round(4)), fmt,
         title=f"Holdout {check.until} to {check.end}: {totals['actual']:,.0f} repeat purchases, "
         f"{totals['predicted']:,.1f} predicted; mean absolute error per customer "
         f"{totals['mean_absolute_error']:.3f}", empty="No customers.")


# -- survival ------------------------------------------------------------------------------


@app.command("survival")
@handles_errors
def survival(
    by: Annotated[str | None, typer.Option(help="A customer column or attribute (plan, region, "
                                           "size_tier, ...) or 'cohort' (start quarter).")] = None,
    as_of: AsOf = None,
    ci: Annotated[str, typer.Option("--ci", help="Transform of the 95 % confidence bands: log "
                                    "(R's default) or log-log (lifelines' default).")] = "log",
    horizon: Annotated[float | None, typer.Option(help="Months the restricted mean lifetime "
                                                  "(RMST) runs to; default: each segment's "
                                                  "last observed time.")] = None,
    tail: Annotated[bool, typer.Option("--tail", help="Also report the mean lifetime with a "
                                       "constant-hazard tail beyond the last observed time "
                                       "(an extrapolation).")] = False,
    curve: Annotated[bool, typer.Option("--curve", help="Print the curve points, not the "
                                        "summary.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """Kaplan-Meier customer-lifetime curves per segment: median lifetime and restricted mean
    lifetime (RMST), 95 % confidence bands, and a log-rank test between segments (stored in
    _survival_curves, _survival_summary)."""
    with open_workspace(workspace) as ws:
        result = ws.survival(by, as_of, ci=ci, horizon_months=horizon, tail=tail)
    transform = result.ci_transform.value
    if fmt is OutputFormat.JSON and not curve:  # full precision: nothing rounded
        summary = records(result.summary)
        for row in summary:
            points = result.curves[result.curves["segment"] == row["segment"]]
            row["curve"] = records(points.drop(columns="segment"))
        test = result.logrank
        print_json({"by": by, "as_of": result.as_of.isoformat(), "ci_transform": transform,
               "confidence": 1 - result.alpha, "rmst_to": result.rmst_to,
               "logrank": None if test is None else {
                   "statistic": test.statistic, "degrees_of_freedom": test.degrees_of_freedom,
                   "p_value": test.p_value},
               "segments": summary})
        return
    frame = result.curves if curve else result.summary
    if fmt is OutputFormat.TABLE:
        frame = frame.map(lambda v: round(v, 3) if isinstance(v, float) else v)
        if not curve:
            medians = ["median_months", "median_ci_lower", "median_ci_upper"]
            frame[medians] = frame[medians].where(frame[medians].notna(), "not reached")
    elif curve:
        frame = frame.assign(ci_transform=transform)
    emit(records(frame), fmt, title=f"Customer lifetime in months (Kaplan-Meier), as of "
         f"{result.as_of}; {1 - result.alpha:.0%} CI, {transform} transform; RMST to "
         f"{result.rmst_to}", empty="No customers.")
    if fmt is OutputFormat.TABLE and result.logrank is not None:
        test = result.logrank
        console.print(f"Log-rank test between segments: chi-square {test.statistic:.3f} on "
                      f"{test.degrees_of_freedom} df, p = {test.p_value:.4g}")
