"""What the workspace calls: fit or compute, then store the results for the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.config import Settings
from csmetrics.predict import results
from csmetrics.predict.clv import (
    BetaGeoFit,
    GammaGammaFit,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    rfm_summary,
)
from csmetrics.predict.survival import SurvivalResult, survival_curves
from csmetrics.store import Warehouse

__all__ = ["ClvRun", "fit_clv", "survival"]


@dataclass(frozen=True)
class ClvRun:
    """A CLV fit: both models, the per-customer table and the choices it was made with."""

    bgnbd: BetaGeoFit
    gamma_gamma: GammaGammaFit
    customers: pd.DataFrame
    until: date
    time_unit: str
    horizon_months: int
    discount_rate: float

    def parameters(self) -> dict[str, object]:
        """The fitted parameters by their papers' names, with log-likelihoods and fit times."""
        bg, gg = self.bgnbd, self.gamma_gamma
        return {
            "until": self.until.isoformat(), "time_unit": self.time_unit,
            "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b,
                      "log_likelihood": bg.log_likelihood, "customers": bg.n,
                      "fit_seconds": round(bg.seconds, 4)},
            "gamma_gamma": {"p": gg.p, "q": gg.q, "gamma": gg.gamma,
                            "log_likelihood": gg.log_likelihood, "repeat_buyers": gg.n,
                            "fit_seconds": round(gg.seconds, 4)},
            "horizon_months": self.horizon_months, "discount_rate": self.discount_rate,
            "warnings": [f"{name} reached its search bound (e^+-12): a boundary solution, e.g. "
                         "purchase rates with no heterogeneity; read the parameters with care"
                         for name in [*bg.at_bound, *gg.at_bound]],
        }


def fit_clv(warehouse: Warehouse, settings: Settings, until: date | None,
            time_unit: str | None, horizon_months: int | None,
            discount_rate: float | None) -> ClvRun:
    """Derive RFM from paid orders up to ``until``, fit both models, compute CLV and replace
    ``_clv_customers`` and ``_clv_fits`` in one transaction each."""
    p = settings.predict
    unit = time_unit or p.clv_time_unit
    horizon = horizon_months or p.clv_horizon_months
    rate = p.clv_discount_rate if discount_rate is None else discount_rate
    summary, end = rfm_summary(warehouse.ibis, until=until, time_unit=unit,
                               currency=settings.workspace.currency)
    bg = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"], time_unit=unit)
    gg = fit_gamma_gamma(summary["frequency"], summary["monetary"])
    table = clv(bg, gg, summary, horizon_months=horizon, discount_rate=rate)
    run = ClvRun(bg, gg, table, end, unit, horizon, rate)
    stored = table.assign(until=end, time_unit=unit, horizon_months=horizon, discount_rate=rate)
    results.replace(warehouse.sql, "_clv_customers", stored)
    fitted_at = default_clock().now().isoformat(timespec="seconds")
    params = run.parameters()
    rows = [{"model": model, "param": k, "value": float(v), "until": end, "time_unit": unit,
             "fitted_at": fitted_at}
            for model in ("bgnbd", "gamma_gamma")
            for k, v in params[model].items()]  # type: ignore[attr-defined]
    results.replace(warehouse.sql, "_clv_fits", pd.DataFrame(rows))
    return run


def survival(warehouse: Warehouse, settings: Settings, by: str | None,
             as_of: date | None) -> SurvivalResult:
    """Kaplan-Meier curves; replaces the stored curves of the same ``by``."""
    result = survival_curves(warehouse.ibis, settings, by=by, as_of=as_of)
    key = {"by_column": by or "(all)"}
    results.replace(warehouse.sql, "_survival_curves",
                    result.curves.assign(by_column=key["by_column"], as_of=result.as_of), key)
    results.replace(warehouse.sql, "_survival_summary",
                    result.summary.assign(by_column=key["by_column"], as_of=result.as_of), key)
    return result
