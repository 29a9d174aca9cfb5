"""What the workspace calls: fit or compute, then store the results for the dashboard."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict import results
from csmetrics.predict.clv import (
    BetaGeoFit,
    GammaGammaFit,
    Holdout,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    holdout,
    rfm_summary,
)
from csmetrics.predict.pareto import ParetoNBDFit, fit_pareto_nbd
from csmetrics.predict.survival import SurvivalResult, mean_with_tail, survival_curves
from csmetrics.store import Warehouse

__all__ = ["MODELS", "PURCHASE_MODELS", "ClvRun", "clv_holdout", "fit_clv", "purchase_model",
           "survival"]


#: What ``fit_clv`` may fit: BG/NBD + Gamma-Gamma (CLV), BG/NBD alone (the purchase process),
#: or Pareto/NBD + Gamma-Gamma (CLV with the original model of the purchase process).
MODELS = ("both", "bgnbd", "pareto")
#: The purchase models ``purchase_model`` may fit or evaluate, with their parameters' names.
PURCHASE_MODELS = {"bgnbd": ("r", "alpha", "a", "b"), "pareto": ParetoNBDFit.NAMES}


@dataclass(frozen=True)
class ClvRun:
    """A CLV fit: the models (the purchase process by BG/NBD or Pareto/NBD; Gamma-Gamma None
    when BG/NBD was fitted alone), the per-customer table and the choices it was made with."""

    purchase: BetaGeoFit | ParetoNBDFit
    gamma_gamma: GammaGammaFit | None
    customers: pd.DataFrame
    until: date
    time_unit: str
    horizon_months: int
    discount_rate: float

    def parameters(self) -> dict[str, object]:
        """The fitted parameters by their papers' names, with log-likelihoods and fit times."""
        bg, gg = self.purchase, self.gamma_gamma
        warnings = [f"{name} reached its search bound (e^+-12): a boundary solution, e.g. "
                    "purchase rates with no heterogeneity; read the parameters with care"
                    for name in [*bg.at_bound, *(gg.at_bound if gg else [])]]
        if gg is not None and gg.left_out:
            warnings.append(f"{gg.left_out} repeat buyer(s) whose repeat purchases average $0 "
                            "are left out of the Gamma-Gamma fit; their expected purchase "
                            "value is the population mean shrunk towards $0")
        return {
            "until": self.until.isoformat(), "time_unit": self.time_unit,
            "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b,
                      "log_likelihood": bg.log_likelihood, "customers": bg.n,
                      "fit_seconds": round(bg.seconds, 4)}
            if isinstance(bg, BetaGeoFit) else None,
            "pareto_nbd": {"r": bg.r, "alpha": bg.alpha, "s": bg.s, "beta": bg.beta,
                           "log_likelihood": bg.log_likelihood, "customers": bg.n,
                           "fit_seconds": round(bg.seconds, 4)}
            if isinstance(bg, ParetoNBDFit) else None,
            "gamma_gamma": None if gg is None else {
                "p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood,
                "repeat_buyers": gg.n, "left_out": gg.left_out,
                "fit_seconds": round(gg.seconds, 4)},
            "horizon_months": self.horizon_months, "discount_rate": self.discount_rate,
            "warnings": warnings,
        }


def fit_clv(warehouse: Warehouse, settings: Settings, until: date | None,
            time_unit: str | None, horizon_months: int | None,
            discount_rate: float | None, model: str = "both") -> ClvRun:
    """Derive RFM from paid orders up to ``until``, fit BG/NBD (``model`` "both" or "bgnbd")
    or Pareto/NBD ("pareto") and, but for "bgnbd", Gamma-Gamma, compute CLV and replace
    ``_clv_customers`` and ``_clv_fits`` in one transaction each."""
    if model not in MODELS:
        raise UserInputError(f"--model {model!r} is not one of {', '.join(MODELS)}.")
    p = settings.predict
    unit = time_unit or p.clv_time_unit
    horizon = horizon_months or p.clv_horizon_months
    rate = p.clv_discount_rate if discount_rate is None else discount_rate
    summary, end = rfm_summary(warehouse.ibis, until=until, time_unit=unit,
                               currency=settings.workspace.currency)
    fit_purchases = fit_pareto_nbd if model == "pareto" else fit_bgnbd
    bg = fit_purchases(summary["frequency"], summary["recency"], summary["T"], time_unit=unit)
    gg = (None if model == "bgnbd"
          else fit_gamma_gamma(summary["frequency"], summary["monetary"]))
    table = clv(bg, gg, summary, horizon_months=horizon, discount_rate=rate)
    run = ClvRun(bg, gg, table, end, unit, horizon, rate)
    stored = table.assign(until=end, time_unit=unit, horizon_months=horizon, discount_rate=rate)
    results.replace(warehouse.sql, "_clv_customers", stored)
    fitted_at = default_clock().now().isoformat(timespec="seconds")
    params = run.parameters()
    rows = [{"model": model, "param": k, "value": float(v), "until": end, "time_unit": unit,
             "fitted_at": fitted_at}
            for model in ("bgnbd", "pareto_nbd", "gamma_gamma") if params[model] is not None
            for k, v in params[model].items()]  # type: ignore[attr-defined]
    results.replace(warehouse.sql, "_clv_fits", pd.DataFrame(rows))
    return run


def purchase_model(warehouse: Warehouse, settings: Settings, until: date | None,
                   time_unit: str | None,
                   params: tuple[float, float, float, float] | None = None,
                   model: str = "bgnbd") -> BetaGeoFit | ParetoNBDFit:
    """BG/NBD (``model`` "bgnbd") or Pareto/NBD ("pareto") on the paid orders up to
    ``until``: fitted, or at the given (r, alpha, a, b) or (r, alpha, s, beta) with the
    data's log-likelihood there. Nothing is stored."""
    if model not in PURCHASE_MODELS:
        raise UserInputError(f"--model {model!r} is not one of {', '.join(PURCHASE_MODELS)}.")
    unit = time_unit or settings.predict.clv_time_unit
    summary, _ = rfm_summary(warehouse.ibis, until=until, time_unit=unit,
                             currency=settings.workspace.currency)
    x, t_x, T = (summary[c] for c in ("frequency", "recency", "T"))
    pareto = model == "pareto"
    if params is None:
        return (fit_pareto_nbd if pareto else fit_bgnbd)(x, t_x, T, time_unit=unit)
    if len(params) != 4 or not all(v > 0 for v in params):
        example = "0.553,10.578,0.606,11.668" if pareto else "0.243,4.414,0.793,2.426"
        raise UserInputError(f"--params takes {','.join(PURCHASE_MODELS[model])}: four "
                             f"positive numbers, e.g. {example}.")
    given = (ParetoNBDFit if pareto else BetaGeoFit)(*params, log_likelihood=0.0,
                                                     n=len(summary), time_unit=unit)
    return dataclasses.replace(given, log_likelihood=given.log_likelihood_of(x, t_x, T))


def clv_holdout(warehouse: Warehouse, settings: Settings, until: date, end: date | None,
                time_unit: str | None) -> Holdout:
    """Fit BG/NBD to ``until`` and compare its predictions with the purchases after it."""
    return holdout(warehouse.ibis, until=until, end=end,
                   time_unit=time_unit or settings.predict.clv_time_unit,
                   currency=settings.workspace.currency)


def survival(warehouse: Warehouse, settings: Settings, by: str | None,
             as_of: date | None, *, ci: str = "log", horizon_months: float | None = None,
             tail: bool = False, store: bool = True) -> SurvivalResult:
    """Kaplan-Meier curves (see ``csmetrics.predict.survival``); with ``store``, replaces the
    stored curves of the same ``by``. The stored ``expected_lifespan_months``, the lifespan
    CLV method 1 reads with ``lifespan_source = "survival"``, is each segment's mean lifetime
    with its constant-hazard tail, whatever the run shows: a lifetime value needs the whole
    expected lifetime, and the restricted mean stops at the last observed month."""
    result = survival_curves(warehouse.ibis, settings, by=by, as_of=as_of, ci=ci,
                             horizon_months=horizon_months, tail=tail)
    if not store:
        return result
    key = {"by_column": by or "(all)"}
    lifespans = {segment: mean_with_tail(curve["months"], curve["survival"])
                 for segment, curve in result.curves.groupby("segment")}
    results.replace(warehouse.sql, "_survival_curves",
                    result.curves.assign(by_column=key["by_column"], as_of=result.as_of,
                                         ci_transform=result.ci_transform), key)
    results.replace(warehouse.sql, "_survival_summary",
                    result.summary.assign(by_column=key["by_column"], as_of=result.as_of,
                                          ci_transform=result.ci_transform,
                                          expected_lifespan_months=result.summary["segment"]
                                          .map(lifespans)), key)
    warehouse.published("_survival_summary")
    return result
