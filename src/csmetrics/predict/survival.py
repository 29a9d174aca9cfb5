"""Customer-lifetime survival curves: Kaplan-Meier per segment and start cohort.

A customer's lifetime runs from its first day of paid service to the first day without any
(the last subscription's end, policy applied: churn recognition, delinquency, short gaps).
A customer with paid service open on the as-of day is *censored* there. Reactivations are
folded into one lifetime from the first start to the last end (a customer who left and came
back is counted as one long lifetime, a documented simplification).

``expected_lifespan_months`` is the area under the curve (restricted mean lifetime) up to the
last observed month, plus a constant-hazard tail beyond it: S(t_end) / h with
h = -ln S(t_end) / t_end. It is what CLV method 1 multiplies by when a survival-based
lifespan is wanted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

import ibis
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext, customer_attribute
from csmetrics.metrics.engine import data_end, workspace_today
from csmetrics.metrics.money import subscription_lines
from csmetrics.metrics.periods import Grain
from csmetrics.metrics.policy import Policy
from csmetrics.schema import TABLES

__all__ = ["COHORT", "DAYS_PER_MONTH", "SurvivalResult", "expected_lifespan", "lifespan_months",
           "lifetimes",
           "survival_curves"]

DAYS_PER_MONTH = 365.25 / 12
#: The ``--by`` value that groups customers by the quarter their paid service started.
COHORT = "cohort"
ALL = "(all)"


def lifetimes(con: BaseBackend, settings: Settings, as_of: date | None = None,
              by: str | None = None) -> pd.DataFrame:
    """One row per customer that ever paid: ``customer_id``, ``start``, ``end`` (NaT when
    still paying), ``months`` (lifetime or time observed), ``churned`` (1 = event, 0 =
    censored) and ``segment`` (the ``by`` value; ``cohort`` = start quarter such as 2024-Q1)."""
    as_of = as_of or data_end(con, workspace_today(settings))
    ctx = MetricContext(con=con, grain=Grain.MONTH, starts=[as_of],
                        policy=Policy.from_settings(settings.policy), options=settings.metrics,
                        currency=settings.workspace.currency, as_of=as_of, known_until=as_of)
    try:
        lines = subscription_lines(ctx)
        lines = lines.filter(lines.monthly > 0)
        per = lines.group_by("customer_id").aggregate(
            start=lines.start.min(),
            open=lines.end.isnull().any(),
            end=lines.end.max(),
        )
        per = per.mutate(end=ibis.ifelse(per.open | (per.end > ibis.literal(as_of)),
                                         ibis.null("date"), per.end))
        if by and by != COHORT:
            if by not in TABLES["customers"].column_names and by in (
                    c for t in TABLES.values() for c in t.column_names):
                raise UserInputError(f"--by {by!r} is not a customer column or attribute; use "
                                     "plan, region, size_tier, owner, ... or 'cohort'.")
            c = ctx.table("customers")
            attrs = c.select(__cid=c.customer_id, segment=customer_attribute(c, by))
            per = per.left_join(attrs, per.customer_id == attrs.__cid).drop("__cid")
        frame = con.execute(per.order_by("customer_id"))
    finally:
        ctx.close()
    start = pd.to_datetime(frame["start"])
    end = pd.to_datetime(frame["end"])
    stop = end.fillna(pd.Timestamp(as_of) + pd.Timedelta(days=1))
    frame["months"] = (stop - start).dt.days / DAYS_PER_MONTH
    frame["churned"] = end.notna().astype(int)
    if by == COHORT:
        frame["segment"] = start.dt.year.astype(str) + "-Q" + start.dt.quarter.astype(str)
    elif not by:
        frame["segment"] = ALL
    frame["segment"] = frame["segment"].fillna("(none)").astype(str)
    return frame[["customer_id", "start", "end", "months", "churned", "segment"]]


def expected_lifespan(timeline: np.ndarray, survival: np.ndarray) -> float:
    """Area under a KM step curve to its last time, plus a constant-hazard tail (see module)."""
    t = np.asarray(timeline, float)
    s = np.asarray(survival, float)
    if len(t) == 0:
        return math.nan
    area = float(np.sum(np.diff(t) * s[:-1]))
    end, s_end = float(t[-1]), float(s[-1])
    if s_end <= 0 or end <= 0:
        return area
    if s_end >= 1:
        return math.inf
    return area + s_end * end / -math.log(s_end)


@dataclass(frozen=True)
class SurvivalResult:
    """Kaplan-Meier results: ``summary`` (one row per segment: customers, churned,
    median_months with its 95 % CI, expected_lifespan_months) and ``curves`` (segment,
    months, at_risk, churned, survival, ci_lower, ci_upper)."""

    summary: pd.DataFrame
    curves: pd.DataFrame
    by: str | None
    as_of: date


def survival_curves(con: BaseBackend, settings: Settings, *, by: str | None = None,
                    as_of: date | None = None, alpha: float = 0.05) -> SurvivalResult:
    """Kaplan-Meier curves of customer lifetime (in months) per segment, with exponential
    Greenwood confidence bands (lifelines' default) and the median lifetime."""
    from lifelines import KaplanMeierFitter
    from lifelines.utils import median_survival_times

    as_of = as_of or data_end(con, workspace_today(settings))
    data = lifetimes(con, settings, as_of, by)
    if data.empty:
        raise UserInputError("No customer has paid service on or before "
                             f"{as_of}; load subscriptions first.")
    summaries, curves = [], []
    for segment, group in data.groupby("segment", sort=True):
        kmf = KaplanMeierFitter(alpha=alpha).fit(group["months"], group["churned"])
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        table = kmf.event_table
        curves.append(pd.DataFrame({
            "segment": segment, "months": sf.index.to_numpy(float),
            "at_risk": table["at_risk"].to_numpy(int), "churned": table["observed"].to_numpy(int),
            "survival": sf.to_numpy(float), "ci_lower": ci.iloc[:, 0].to_numpy(float),
            "ci_upper": ci.iloc[:, 1].to_numpy(float),
        }))
        median = float(kmf.median_survival_time_)
        median_ci = median_survival_times(ci)
        summaries.append({
            "segment": segment, "customers": len(group), "churned": int(group["churned"].sum()),
            "median_months": None if math.isinf(median) else median,
            "median_ci_lower": _finite(median_ci.iloc[0, 0]),
            "median_ci_upper": _finite(median_ci.iloc[0, 1]),
            "expected_lifespan_months": _finite(expected_lifespan(sf.index, sf.to_numpy())),
        })
    return SurvivalResult(pd.DataFrame(summaries), pd.concat(curves, ignore_index=True), by,
                          as_of)


def _finite(value: float) -> float | None:
    value = float(value)
    return None if math.isinf(value) or math.isnan(value) else value


def lifespan_months(con: BaseBackend, settings: Settings, *, by: str | None = None,
                    as_of: date | None = None) -> dict[str, float | None]:
    """Expected customer lifespan in months per segment (``(all)`` without ``by``), from the
    Kaplan-Meier curve: the survival-based lifespan for CLV method 1 (average purchase value
    x purchase frequency x lifespan). None where nobody churned yet (no finite estimate)."""
    summary = survival_curves(con, settings, by=by, as_of=as_of).summary
    return dict(zip(summary["segment"], summary["expected_lifespan_months"], strict=True))
