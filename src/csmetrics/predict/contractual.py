"""Contractual retention from the warehouse: survivor counts per start cohort, sBG fits.

A subscription customer's lifetime is the one ``csmetrics.predict.survival.lifetimes``
builds (first paid day to the first day without paid service, policy applied, reactivations
folded in). Counted in renewal periods of a month, a quarter or a year (by default the
billing interval most paying customers are on): a customer *survives* period k when it still
pays k periods after its start, and its period k is *observed* when that day is on or before
the as-of day.

Customers are grouped into start cohorts (the period their paid service started: 2024-03 for
months, 2024-Q1 for quarters, 2024 for years). A cohort counts for period k only when every
one of its customers is observed there, so its survivor counts n_0, n_1, ..., n_K stop at the
last period it was observed in full (right-censoring: the survivors of a young cohort are
neither churned nor kept beyond what is known). A group (the cohort itself with
``by="cohort"``, else a customer segment or every customer) is fitted on all its cohorts at
once, each for its own periods (``csmetrics.predict.sbg.fit_sbg``).

Customers not yet observed for one full period are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.money import subscription_lines
from csmetrics.metrics.periods import Grain
from csmetrics.metrics.policy import Policy
from csmetrics.predict.sbg import SbgFit, fit_sbg
from csmetrics.predict.survival import COHORT, lifetimes

__all__ = ["PERIOD_MONTHS", "RetentionResult", "billing_period", "cohort_survivors",
           "customer_periods", "retention_fits"]

#: Renewal periods and their length in months.
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
#: The renewal period a billing interval implies (weekly billing is counted in months).
INTERVAL_PERIOD = {"week": "month", "month": "month", "quarter": "quarter", "year": "year"}
ALL = "(all)"


def billing_period(con: BaseBackend, settings: Settings, as_of: date) -> tuple[str, float]:
    """The renewal period most paying customers are billed by, and their share: ("year",
    0.8) when 80 % of the customers with a paid subscription line have a yearly one (ties
    and an empty warehouse: "month")."""
    ctx = MetricContext(con=con, grain=Grain.MONTH, starts=[as_of],
                        policy=Policy.from_settings(settings.policy), options=settings.metrics,
                        currency=settings.workspace.currency, as_of=as_of, known_until=as_of)
    try:
        lines = subscription_lines(ctx)
        lines = lines.filter(lines.monthly > 0)
        counts = con.execute(lines.group_by("billing_interval").aggregate(
            customers=lines.customer_id.nunique()))
    finally:
        ctx.close()
    per = counts.assign(period=counts["billing_interval"].map(INTERVAL_PERIOD))
    per = per.groupby("period")["customers"].sum()
    if per.empty:
        return "month", 0.0
    best = max(PERIOD_MONTHS, key=lambda p: (int(per.get(p, 0)), p == "month"))
    return best, float(per.get(best, 0) / per.sum())


def customer_periods(frame: pd.DataFrame, as_of: date, period: str) -> pd.DataFrame:
    """Each customer of a ``lifetimes`` frame (``start``, ``end``: NaT while paying) counted
    in renewal periods: ``observed`` (periods whose end, start + k periods, is on or before
    ``as_of``), ``kept`` (of those, the ones it still paid after), ``churned`` (it left
    within the observed periods: lifetime T = kept + 1), ``cohort`` (its start period).
    ``kept`` with ``churned`` is what ``fit_sbg_lifetimes`` takes: T = kept + 1 when
    churned, T > kept otherwise. A customer whose service ended on its start day is left
    out: it never began a paid period."""
    months = _months(period)
    # a lifetime of no day (service ended on its start day) never began a paid period
    frame = frame[~(pd.to_datetime(frame["end"]) <= pd.to_datetime(frame["start"]))]
    start = pd.to_datetime(frame["start"]).reset_index(drop=True)
    end = pd.to_datetime(frame["end"]).reset_index(drop=True)
    day = pd.Timestamp(as_of)
    observed = np.zeros(len(start), dtype=int)
    kept = np.zeros(len(start), dtype=int)
    k = 1
    while True:
        due = start + pd.DateOffset(months=k * months)
        known = (due <= day).to_numpy()
        if not known.any():
            break
        observed[known] = k
        # a lifetime is one unbroken stretch: paying at k means paying at every k before
        kept[known & (end.isna() | (end > due)).to_numpy()] = k
        k += 1
    out = frame.reset_index(drop=True).copy()
    out["cohort"] = _cohort_labels(start, period)
    out["observed"] = observed
    out["kept"] = kept
    out["churned"] = kept < observed
    return out


def cohort_survivors(periods: pd.DataFrame) -> pd.DataFrame:
    """One row per ``segment`` and start ``cohort`` of ``customer_periods`` output:
    ``customers`` (n_0), ``observed`` (K: the periods every customer of the cohort is observed
    in) and ``survivors`` (the list n_0, n_1, ..., n_K)."""
    rows = []
    for (segment, cohort), group in periods.groupby(["segment", "cohort"], sort=True):
        observed = int(group["observed"].min())
        kept = group["kept"].to_numpy()
        rows.append({"segment": segment, "cohort": cohort, "customers": len(group),
                     "observed": observed,
                     "survivors": [int((kept >= k).sum()) for k in range(observed + 1)]})
    return pd.DataFrame(rows, columns=["segment", "cohort", "customers", "observed",
                                       "survivors"])


@dataclass(frozen=True)
class RetentionResult:
    """sBG retention per group.

    ``summary``: one row per group (``group``, ``customers``, ``cohorts``, ``periods``,
    ``alpha``, ``beta``, ``log_likelihood``, ``retention_next``, ``expected_remaining_lifetime``,
    ``derl``, ``note``: why a group has no fit). ``curves``: per group and period, observed
    (``kind`` = observed: ``customers`` observed there, ``survivors``, ``observed_survival``)
    beside the fit (``fitted_survival``, ``fitted_retention``), then the ``horizon`` periods
    after the last observed one (``kind`` = projected). ``fits``: the ``SbgFit`` per group."""

    summary: pd.DataFrame
    curves: pd.DataFrame
    fits: dict[str, SbgFit]
    by: str | None
    period: str
    period_source: str
    as_of: date
    horizon: int
    discount_rate: float
    period_discount_rate: float
    renewals: int


def retention_fits(con: BaseBackend, settings: Settings, *, as_of: date, by: str | None = None,
                   period: str | None = None, horizon: int = 12, discount_rate: float = 0.1,
                   renewals: int = 0) -> RetentionResult:
    """Fit the sBG model per group (start cohort with ``by="cohort"``, a customer column or
    attribute, or everyone) on survivor counts of subscription customers up to ``as_of``.

    ``discount_rate`` is annual (converted to the period's rate); ``expected_remaining_lifetime``
    and ``derl`` are for a customer who has made ``renewals`` renewals (0: in its first
    period), in periods (times the payment per period: its residual value)."""
    if period is not None and period not in PERIOD_MONTHS:
        raise UserInputError(f"--period {period!r} is not a renewal period; use "
                             f"{', '.join(PERIOD_MONTHS)}.")
    if horizon < 1:
        raise UserInputError(f"--horizon counts periods to project: 1 or more; got {horizon}.")
    if not 0 <= discount_rate < 1:
        raise UserInputError("--discount-rate is an annual rate between 0 and 1, e.g. 0.1.")
    if renewals < 0:
        raise UserInputError(f"--renewals counts renewals made: 0 or more; got {renewals}.")
    if period is None:
        period, share = billing_period(con, settings, as_of)
        source = f"billing interval of {share:.0%} of paying customers"
    else:
        source = "--period"
    frame = lifetimes(con, settings, as_of, None if by == COHORT else by)
    if frame.empty:
        raise UserInputError(f"No customer has paid service on or before {as_of}; load "
                             "subscriptions first.")
    periods = customer_periods(frame, as_of, period)
    if by == COHORT:
        periods["segment"] = periods["cohort"]
    cohorts = cohort_survivors(periods)
    rate = (1 + discount_rate) ** (PERIOD_MONTHS[period] / 12) - 1
    summaries, curves, fits = [], [], {}
    for group, table in cohorts.groupby("segment", sort=True):
        seen = table[table["observed"] >= 1]
        row: dict[str, object] = {"group": group, "customers": int(seen["customers"].sum()),
                                  "cohorts": len(seen),
                                  "periods": int(seen["observed"].max()) if len(seen) else 0}
        try:
            if seen.empty:
                raise UserInputError("No cohort observed for a full period yet.")
            fit = fit_sbg(list(seen["survivors"]))
        except UserInputError as exc:
            summaries.append({**row, "note": str(exc)})
            curves.append(_curve(group, list(seen["survivors"]), None, 0))
            continue
        fits[str(group)] = fit
        next_period = fit.periods + 1
        summaries.append({
            **row, "alpha": fit.alpha, "beta": fit.beta, "log_likelihood": fit.log_likelihood,
            "retention_next": float(fit.retention(next_period)),
            "expected_remaining_lifetime": _finite(fit.expected_remaining_lifetime(renewals)),
            "derl": float(fit.derl(rate, renewals)),
            "note": "; ".join(_notes(fit)) or None,
        })
        curves.append(_curve(group, list(seen["survivors"]), fit, horizon))
    columns = ["group", "customers", "cohorts", "periods", "alpha", "beta", "log_likelihood",
               "retention_next", "expected_remaining_lifetime", "derl", "note"]
    summary = pd.DataFrame(summaries).reindex(columns=columns)
    curves = [c for c in curves if not c.empty]
    curve = pd.concat(curves, ignore_index=True) if curves else _curve(None, [], None, 0)
    return RetentionResult(summary, curve, fits, by, period, source, as_of, horizon,
                           discount_rate, rate, renewals)


def _curve(group: object, survivors: list[list[int]], fit: SbgFit | None,
           horizon: int) -> pd.DataFrame:
    """Observed survival (product of the pooled retention of the cohorts observed in each
    period, n_k / n_0 for one cohort) beside the fit, then the projected periods."""
    columns = ["group", "period", "kind", "customers", "survivors", "observed_survival",
               "observed_retention", "fitted_survival", "fitted_retention"]
    if not survivors:
        return pd.DataFrame(columns=columns)
    top = max(len(n) - 1 for n in survivors)
    rows = []
    observed = 1.0
    for k in range(top + 1):
        alive = [n for n in survivors if len(n) > k]
        starters = sum(n[0] for n in alive)
        survived = sum(n[k] for n in alive)
        retention = None
        if k >= 1:
            before = sum(n[k - 1] for n in alive)
            retention = survived / before if before else None
            if retention is not None:
                observed *= retention
            elif observed != 0:  # nobody left to observe in the cohorts seen this long
                observed = math.nan
        rows.append({"group": group, "period": k, "kind": "observed", "customers": starters,
                     "survivors": survived, "observed_survival": observed,
                     "observed_retention": retention})
    if fit is not None:
        for k in range(top + 1, top + horizon + 1):
            rows.append({"group": group, "period": k, "kind": "projected"})
    frame = pd.DataFrame(rows, columns=columns)
    for name in ("customers", "survivors"):  # whole numbers, empty on projected periods
        frame[name] = pd.Series([None if v != v else int(v) for v in frame[name]],
                                dtype=object)
    if fit is not None:
        t = frame["period"].to_numpy(float)
        frame["fitted_survival"] = fit.survival(t)
        frame["fitted_retention"] = np.where(t >= 1, fit.retention(np.maximum(t, 1)), np.nan)
    return frame


def _notes(fit: SbgFit) -> list[str]:
    notes = [f"{p} reached its search bound: retention looks the same for every customer "
             "(no heterogeneity, a plain geometric model), read alpha and beta with care"
             for p in fit.at_bound]
    if fit.alpha <= 1:
        notes.append(f"alpha = {fit.alpha:.3g} <= 1: the expected remaining lifetime is "
                     "unbounded (a heavy tail of loyal customers); DERL is finite")
    return notes


def _months(period: str) -> int:
    if period not in PERIOD_MONTHS:
        raise UserInputError(f"{period!r} is not a renewal period; use "
                             f"{', '.join(PERIOD_MONTHS)}.")
    return PERIOD_MONTHS[period]


def _cohort_labels(start: pd.Series, period: str) -> pd.Series:
    if period == "year":
        return start.dt.year.astype(str)
    if period == "quarter":
        return start.dt.year.astype(str) + "-Q" + start.dt.quarter.astype(str)
    return start.dt.strftime("%Y-%m")


def _finite(values: np.ndarray) -> float | None:
    value = float(values)
    return value if math.isfinite(value) else None
