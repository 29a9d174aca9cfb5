"""Customer-lifetime survival: Kaplan-Meier curves, log-rank test, restricted mean lifetime.

A customer's lifetime runs from its first day of paid service to the first day without any
(the last subscription's end, policy applied: churn recognition, delinquency, short gaps),
measured as end day minus start day. A lifetime that starts and ends on the same day is kept
as an event at t = 0, as R's ``survival`` and lifelines count it. A customer still paying on
the as-of day (or whose end comes after it) is *censored* at the as-of day itself: as-of day
minus start day. Reactivations are folded into one lifetime from the first start to the last
end (a customer who left and came back counts as one long lifetime, a documented
simplification).

The maths works on plain arrays (durations, events, groups) so that it can be checked on
public data sets: :func:`kaplan_meier`, :func:`median_time`, :func:`restricted_mean`,
:func:`mean_with_tail`, :func:`logrank` and :func:`analyse`, which puts them together per
group. :func:`survival_curves` feeds it the warehouse's lifetimes in months.

Definitions (the tests check them against R's ``survival`` package and lifelines):

- Kaplan-Meier: S(t) = prod over times t_i <= t of (1 - d_i / n_i), with d_i churned and
  n_i at risk at t_i.
- Greenwood: se(log S(t)) = sqrt(sum over t_i <= t of d_i / (n_i (n_i - d_i))).
- Confidence band, ``log`` (R's default): exp(log S +- z se), the upper bound capped at 1.
  ``log-log`` (R's "log-log", lifelines' "exponential Greenwood"):
  exp(-exp(log(-log S) +- z se / log S)). Where S = 1 the band is [1, 1]; where S = 0 it is
  null (R gives NA).
- Median lifetime: the first time S(t) <= 0.5; when S is exactly 0.5 there and drops below
  later, the midpoint of the two times (R's rule). Its confidence interval: the same rule on
  the band's lower and upper curves. None (not reached) when a curve never gets there.
- Restricted mean survival time (RMST) to a horizon tau: the area under S from 0 to tau,
  the mean lifetime counted up to tau. Without a horizon, tau is the group's last observed
  time. None when tau lies beyond the last observed time while S > 0 there: the curve is not
  known that far.
- Mean with a constant-hazard tail (opt-in, an extrapolation): the RMST to the last observed
  time t_end plus S(t_end) / h, h = -ln S(t_end) / t_end. None when nobody churned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from statistics import NormalDist
from typing import Any

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

__all__ = ["COHORT", "DAYS_PER_MONTH", "CiTransform", "LogRank", "SurvivalFit",
           "SurvivalResult", "analyse", "kaplan_meier", "lifetimes", "logrank",
           "mean_with_tail", "median_time", "restricted_mean", "survival_curves"]

DAYS_PER_MONTH = 365.25 / 12
#: The ``--by`` value that groups customers by the quarter their paid service started.
COHORT = "cohort"
ALL = "(all)"
#: How close to 0.5 counts as exactly 0.5 for the median (R's tolerance, all.equal's).
_TOL = math.sqrt(np.finfo(float).eps)


class CiTransform(StrEnum):
    """How the confidence band of S(t) is built (R ``survfit``'s ``conf.type``)."""

    LOG = "log"
    LOG_LOG = "log-log"


@dataclass(frozen=True)
class LogRank:
    """Log-rank test that every group has the same survival curve: the chi-square
    ``statistic`` on ``degrees_of_freedom`` (groups - 1) and its ``p_value``."""

    statistic: float
    degrees_of_freedom: int
    p_value: float


# -- the maths, on plain arrays --------------------------------------------------------------


def _arrays(durations: Sequence[float] | np.ndarray | pd.Series,
            events: Sequence[float] | np.ndarray | pd.Series) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(durations, dtype=float)
    e = np.asarray(events, dtype=float)
    if t.ndim != 1 or t.shape != e.shape or len(t) == 0:
        raise UserInputError(f"durations and events must be two lists of the same, non-zero "
                             f"length; got {t.shape} and {e.shape}.")
    if not np.isfinite(t).all() or (t < 0).any():
        raise UserInputError("durations must be finite and >= 0 (0 = churned on the start "
                             "day); drop or fix the rows with a missing or negative one.")
    if not np.isin(e, (0, 1)).all():
        raise UserInputError("events must be 1 (churned) or 0 (censored: still there).")
    return t, e


def _transform(ci: str) -> CiTransform:
    try:
        return CiTransform(ci)
    except ValueError:
        raise UserInputError(f"ci {ci!r} is not one of "
                             f"{', '.join(c.value for c in CiTransform)}.") from None


def kaplan_meier(durations: Sequence[float] | np.ndarray | pd.Series,
                 events: Sequence[float] | np.ndarray | pd.Series, *, alpha: float = 0.05,
                 ci: str = CiTransform.LOG) -> pd.DataFrame:
    """The Kaplan-Meier curve: one row per distinct time, 0 first (even when no duration is
    0): ``time``, ``at_risk``, ``events`` (churned then), ``censored``, ``survival`` (S just
    after the time: events at 0 make S(0) < 1) and the (1 - ``alpha``) confidence band
    ``ci_lower``, ``ci_upper`` by Greenwood's variance and the ``ci`` transform (module)."""
    t, e = _arrays(durations, events)
    if not 0 < alpha < 1:
        raise UserInputError(f"alpha must be between 0 and 1 (0.05 for 95 % bands); got {alpha}.")
    transform = _transform(ci)
    times = np.unique(np.append(t, 0.0))
    at = np.searchsorted(times, t)
    died = np.bincount(at, weights=e, minlength=len(times))
    left = np.bincount(at, minlength=len(times))
    at_risk = left[::-1].cumsum()[::-1]
    s = np.cumprod(1 - died / at_risk)
    z = NormalDist().inv_cdf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.cumsum(np.where(died > 0, died / (at_risk * (at_risk - died)), 0.0)))
        if transform is CiTransform.LOG:
            lower, upper = s * np.exp(-z * se), np.minimum(s * np.exp(z * se), 1.0)
        else:
            log_s = np.log(s)
            lower = np.exp(-np.exp(np.log(-log_s) - z * se / log_s))
            upper = np.exp(-np.exp(np.log(-log_s) + z * se / log_s))
    band = {name: np.where(s >= 1, 1.0, np.where(s <= 0, np.nan, bound))
            for name, bound in (("ci_lower", lower), ("ci_upper", upper))}
    return pd.DataFrame({"time": times, "at_risk": at_risk, "events": died.astype(int),
                         "censored": left - died.astype(int), "survival": s, **band})


def median_time(times: Sequence[float] | np.ndarray | pd.Series,
                curve: Sequence[float] | np.ndarray | pd.Series) -> float | None:
    """The first time ``curve`` (S or a band bound at ``times``) is at or below 0.5; when it
    is exactly 0.5 there and drops below later, the midpoint of the two times (R's rule).
    Null points (a band where S = 0) are skipped, as R does. None when never (not reached)."""
    x, y = np.asarray(times, dtype=float), np.asarray(curve, dtype=float)
    keep = ~np.isnan(y) & (y < 0.5 + _TOL)
    if not keep.any():
        return None
    x, y = x[keep], y[keep]
    lower = y < y[0]
    if abs(y[0] - 0.5) < _TOL and lower.any():
        return float((x[0] + x[np.argmax(lower)]) / 2)
    return float(x[0])


def restricted_mean(times: Sequence[float] | np.ndarray | pd.Series,
                    survival: Sequence[float] | np.ndarray | pd.Series,
                    horizon: float | None = None) -> float | None:
    """Restricted mean survival time: the area under the step curve S (``survival`` just
    after each of ``times``; S = 1 before the first) from 0 to ``horizon`` (default: the last
    time). None when the horizon lies beyond the last time while S > 0 there."""
    t, s = np.asarray(times, dtype=float), np.asarray(survival, dtype=float)
    if t[0] > 0:
        t, s = np.append(0.0, t), np.append(1.0, s)
    end = float(t[-1]) if horizon is None else float(horizon)
    if end < 0:
        raise UserInputError(f"The horizon must be >= 0; got {horizon}.")
    if end > t[-1] and s[-1] > 0:
        return None
    knots = np.append(t[t < end], end)
    return float(np.sum(np.diff(knots) * s[:len(knots) - 1]))


def mean_with_tail(times: Sequence[float] | np.ndarray | pd.Series,
                   survival: Sequence[float] | np.ndarray | pd.Series) -> float | None:
    """Mean lifetime with a constant-hazard tail beyond the last time t_end: the RMST to
    t_end plus S(t_end) / h, h = -ln S(t_end) / t_end. An extrapolation; None when nobody
    churned (S(t_end) = 1, no hazard to extend)."""
    t, s = np.asarray(times, dtype=float), np.asarray(survival, dtype=float)
    area = restricted_mean(t, s)
    end, s_end = float(t[-1]), float(s[-1])
    if s_end <= 0:
        return area
    if s_end >= 1 or end <= 0 or area is None:
        return None
    return area + s_end * end / -math.log(s_end)


def logrank(durations: Sequence[float] | np.ndarray | pd.Series,
            events: Sequence[float] | np.ndarray | pd.Series,
            groups: Sequence[Any] | np.ndarray | pd.Series) -> LogRank | None:
    """Log-rank test between the ``groups`` (lifelines' ``multivariate_logrank_test``, as R's
    ``survdiff``); None with fewer than two groups."""
    from lifelines.statistics import multivariate_logrank_test

    t, e = _arrays(durations, events)
    g = np.asarray(groups)
    if len(g) != len(t):
        raise UserInputError(f"groups must have one value per duration; got {len(g)} for "
                             f"{len(t)}.")
    if len(np.unique(g)) < 2:
        return None
    test = multivariate_logrank_test(t, g, e)
    return LogRank(float(test.test_statistic), int(test.degrees_of_freedom),
                   float(test.p_value))


@dataclass(frozen=True)
class SurvivalFit:
    """Kaplan-Meier per group, on plain arrays. ``summary``: one row per group (sorted):
    ``group``, ``n``, ``events``, ``median`` with ``median_ci_lower``/``median_ci_upper``
    (None: not reached), ``rmst`` up to ``rmst_horizon`` and, with ``tail``,
    ``mean_with_tail``. ``curves``: ``group`` and the :func:`kaplan_meier` columns.
    ``logrank``: None with one group. ``horizon`` None: each RMST runs to its group's last
    observed time (``rmst_horizon``)."""

    summary: pd.DataFrame
    curves: pd.DataFrame
    logrank: LogRank | None
    ci_transform: CiTransform
    alpha: float
    horizon: float | None
    tail: bool


def analyse(durations: Sequence[float] | np.ndarray | pd.Series,
            events: Sequence[float] | np.ndarray | pd.Series,
            groups: Sequence[Any] | np.ndarray | pd.Series | None = None, *,
            alpha: float = 0.05, ci: str = CiTransform.LOG, horizon: float | None = None,
            tail: bool = False) -> SurvivalFit:
    """Kaplan-Meier curve, median with its confidence interval and RMST per group (one
    group, ``(all)``, without ``groups``), and the log-rank test between the groups."""
    t, e = _arrays(durations, events)
    g = np.full(len(t), ALL, dtype=object) if groups is None else np.asarray(groups)
    transform = _transform(ci)
    test = logrank(t, e, g)
    summaries, curves = [], []
    for group in sorted(set(g.tolist())):
        mine = g == group
        curve = kaplan_meier(t[mine], e[mine], alpha=alpha, ci=transform)
        time, s = curve["time"], curve["survival"]
        row = {"group": group, "n": int(mine.sum()), "events": int(e[mine].sum()),
               "median": median_time(time, s),
               "median_ci_lower": median_time(time, curve["ci_lower"]),
               "median_ci_upper": median_time(time, curve["ci_upper"]),
               "rmst": restricted_mean(time, s, horizon),
               "rmst_horizon": float(time.iloc[-1]) if horizon is None else float(horizon)}
        if tail:
            row["mean_with_tail"] = mean_with_tail(time, s)
        summaries.append(row)
        curves.append(curve.assign(group=group))
    # object columns: a value not reached stays None, not NaN
    summary = pd.DataFrame(summaries, dtype=object).astype(
        {"n": int, "events": int, "rmst_horizon": float})
    curve_frame = pd.concat(curves, ignore_index=True)
    curve_frame = curve_frame[["group", *curve_frame.columns.drop("group")]]
    return SurvivalFit(summary, curve_frame, test, transform, alpha, horizon, tail)


# -- customers' lifetimes from the warehouse ---------------------------------------------------


def lifetimes(con: BaseBackend, settings: Settings, as_of: date | None = None,
              by: str | None = None) -> pd.DataFrame:
    """One row per customer that ever paid: ``customer_id``, ``start``, ``end`` (NaT when
    still paying on ``as_of``), ``months`` (end or as-of day minus start day, in months; 0
    for service that ended on its start day), ``churned`` (1 = event, 0 = censored at
    ``as_of``) and ``segment`` (the ``by`` value; ``cohort`` = start quarter such as
    2024-Q1)."""
    as_of = as_of or data_end(con, workspace_today(settings))
    ctx = MetricContext(con=con, grain=Grain.MONTH, starts=[as_of],
                        policy=Policy.from_settings(settings.policy), options=settings.metrics,
                        currency=settings.workspace.currency, as_of=as_of, known_until=as_of)
    try:
        lines = subscription_lines(ctx, empty=True)
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
    stop = end.fillna(pd.Timestamp(as_of))
    frame["months"] = (stop - start).dt.days / DAYS_PER_MONTH
    frame["churned"] = end.notna().astype(int)
    if by == COHORT:
        frame["segment"] = start.dt.year.astype(str) + "-Q" + start.dt.quarter.astype(str)
    elif not by:
        frame["segment"] = ALL
    frame["segment"] = frame["segment"].fillna("(none)").astype(str)
    return frame[["customer_id", "start", "end", "months", "churned", "segment"]]


#: ``analyse``'s column names in customer words, durations in months.
_IN_MONTHS = {"group": "segment", "time": "months", "events": "churned", "n": "customers",
              "median": "median_months", "rmst": "rmst_months",
              "rmst_horizon": "rmst_horizon_months", "mean_with_tail": "mean_with_tail_months"}


@dataclass(frozen=True)
class SurvivalResult:
    """Customer lifetimes by Kaplan-Meier, in months. ``summary``: one row per segment:
    ``customers``, ``churned``, ``median_months`` with ``median_ci_lower``/``_upper`` (None:
    not reached), ``rmst_months`` (restricted mean lifetime) up to ``rmst_horizon_months``
    and, with ``tail``, ``mean_with_tail_months``. ``curves``: ``segment``, ``months``,
    ``at_risk``, ``churned``, ``censored``, ``survival``, ``ci_lower``, ``ci_upper``.
    ``logrank``: the test between the segments (None with one). ``horizon_months`` None: each
    RMST runs to its segment's last observed time."""

    summary: pd.DataFrame
    curves: pd.DataFrame
    logrank: LogRank | None
    ci_transform: CiTransform
    alpha: float
    horizon_months: float | None
    tail: bool
    by: str | None
    as_of: date

    @property
    def rmst_to(self) -> str:
        """What the RMST is restricted to, in words."""
        if self.horizon_months is None:
            return "the last observed time of each segment"
        return f"{self.horizon_months:g} months"


def survival_curves(con: BaseBackend, settings: Settings, *, by: str | None = None,
                    as_of: date | None = None, alpha: float = 0.05,
                    ci: str = CiTransform.LOG, horizon_months: float | None = None,
                    tail: bool = False) -> SurvivalResult:
    """Kaplan-Meier curves of customer lifetime in months per segment (see the module), with
    median, RMST and the log-rank test between segments."""
    as_of = as_of or data_end(con, workspace_today(settings))
    if horizon_months is not None and horizon_months <= 0:
        raise UserInputError(f"--horizon must be a positive number of months; got "
                             f"{horizon_months}.")
    data = lifetimes(con, settings, as_of, by)
    if data.empty:
        raise UserInputError("No customer has paid service on or before "
                             f"{as_of}; load subscriptions first.")
    fit = analyse(data["months"], data["churned"], data["segment"], alpha=alpha, ci=ci,
                  horizon=horizon_months, tail=tail)
    return SurvivalResult(fit.summary.rename(columns=_IN_MONTHS),
                          fit.curves.rename(columns=_IN_MONTHS), fit.logrank,
                          fit.ci_transform, alpha, horizon_months, tail, by, as_of)
