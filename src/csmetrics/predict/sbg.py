"""Contractual retention: the shifted-beta-geometric (sBG) model, on arrays.

The model (Fader & Hardie 2007, "How to Project Customer Retention", Journal of Interactive
Marketing 21(1)). At the end of every period a customer renews or leaves for good; while it
stays, it leaves at each renewal with its own probability theta, and theta varies across
customers as Beta(alpha, beta). A customer's lifetime T (the number of periods it pays for)
then follows the shifted-beta-geometric distribution:

* P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta), t = 1, 2, ...
* S(t) = P(T > t) = B(alpha, beta + t) / B(alpha, beta), S(0) = 1: the share of a cohort
  still paying after t renewal periods;
* r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1): the retention rate at the
  t-th renewal. It rises with t (the sorting effect of a heterogeneous cohort) although no
  customer's own probability changes.

Fitted by maximum likelihood from survivor counts: n_0 customers at the start, n_t still
paying after t periods (t = 1..T). The n_{t-1} - n_t customers lost in period t contribute
ln P(T = t) each, the n_T survivors ln S(T) (FH 2007, eq. 6). Several cohorts observed for
different numbers of periods (each only for the periods it was observed in full) add up;
customers' own lifetimes with right-censoring (``fit_sbg_lifetimes``) are the same
likelihood, one customer at a time.

Valuation (Fader & Hardie 2010, "Customer-Base Valuation in a Contractual Setting: The Perils
of Ignoring Heterogeneity", Marketing Science 29(1), eq. 6). For a customer who has made
``m`` renewals (``m = 0``: in its first period), evaluated at its next renewal date, the
discounted expected residual lifetime is the expected number of its future renewal payments,
each discounted by (1 + d) per period, the next one (due now) not discounted:

    DERL(d | alpha, beta, m) = sum_{t>=1} S(m + t) / S(m) / (1 + d)^(t - 1)
                             = (beta + m) / (alpha + beta + m)
                               * 2F1(1, beta + m + 1; alpha + beta + m + 1; 1 / (1 + d)).

The paper writes it for a customer who has made "n - 1 renewals", as
(beta + n - 1) / (alpha + beta + n - 1) * 2F1(1, beta + n; alpha + beta + n; 1 / (1 + d)):
the same formula with n = m + 1. Times the payment per period it is the customer's expected
residual lifetime value. The undiscounted sum, the expected remaining lifetime, is
(beta + m) / (alpha - 1) periods when alpha > 1 and infinite otherwise (S(t) falls like
t^-alpha).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, hyp2f1

from csmetrics.errors import UserInputError

__all__ = [
    "SbgFit",
    "fit_sbg",
    "fit_sbg_lifetimes",
    "sbg_log_likelihood",
]

#: Log-parameter bounds: alpha and beta stay in [e^-12, e^12]; a fit that ends on a bound is
#: a boundary solution (e.g. the same retention for everyone: no heterogeneity) and is flagged.
LOG_BOUND = 12.0
#: Fewest renewal periods a fit needs: one period gives one retention rate, which cannot
#: separate alpha from beta.
MIN_PERIODS = 2


@dataclass(frozen=True)
class Events:
    """A calibration sample, aggregated: ``churned[t - 1]`` customers with lifetime T = t
    (lost in period t) and ``censored[t]`` customers known to pay after t periods but not
    observed beyond (t = 0..periods)."""

    churned: np.ndarray
    censored: np.ndarray

    @property
    def customers(self) -> int:
        """Customers in the sample (those observed for no period tell nothing: left out)."""
        return int(self.churned.sum() + self.censored[1:].sum())

    @property
    def periods(self) -> int:
        """The longest observation, in periods."""
        return len(self.censored) - 1


def sbg_log_likelihood(alpha: float, beta: float, survivors: Sequence[float] | np.ndarray
                       | Sequence[Sequence[float] | np.ndarray]) -> float:
    """The sBG log-likelihood of survivor counts (FH 2007, eq. 6): ``survivors`` is one
    cohort's n_0, n_1, ..., n_T or a list of such cohorts (each with its own T)."""
    return _log_likelihood(alpha, beta, _from_survivors(survivors))


def _log_likelihood(alpha: float, beta: float, events: Events) -> float:
    t = np.arange(1, events.periods + 1)
    base = betaln(alpha, beta)
    log_p = betaln(alpha + 1, beta + t - 1) - base          # ln P(T = t), t = 1..T
    log_s = betaln(alpha, beta + np.arange(events.periods + 1)) - base  # ln S(t), t = 0..T
    return float(np.dot(events.churned, log_p) + np.dot(events.censored, log_s))


@dataclass(frozen=True)
class SbgFit:
    """A fitted sBG model: ``alpha``, ``beta``, the maximised ``log_likelihood``, ``n``
    customers at the start and the longest calibration in ``periods``."""

    alpha: float
    beta: float
    log_likelihood: float
    n: int
    periods: int

    def __repr__(self) -> str:
        return (f"<SbgFit alpha={self.alpha:.4g} beta={self.beta:.4g} "
                f"log_likelihood={self.log_likelihood:.4f}, fitted on {self.n} customers "
                f"over {self.periods} periods>")

    @property
    def at_bound(self) -> list[str]:
        """Parameters that ended on their search bound (a degenerate, boundary solution)."""
        return [k for k, v in (("alpha", self.alpha), ("beta", self.beta))
                if abs(math.log(v)) > LOG_BOUND - 1e-3]

    def survival(self, t: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """S(t) = B(alpha, beta + t) / B(alpha, beta): the share of a cohort still paying
        after ``t`` renewal periods (t >= 0; S(0) = 1)."""
        t = _periods(t, low=0, name="t")
        return np.exp(betaln(self.alpha, self.beta + t) - betaln(self.alpha, self.beta))

    def churn_probability(self, t: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta): the share of a cohort lost
        in period ``t`` (t >= 1)."""
        t = _periods(t, low=1, name="t")
        return np.exp(betaln(self.alpha + 1, self.beta + t - 1) - betaln(self.alpha, self.beta))

    def retention(self, t: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """r(t) = (beta + t - 1) / (alpha + beta + t - 1): the share of the customers paying
        in period t - 1 who renew for period t (t >= 1)."""
        t = _periods(t, low=1, name="t")
        return (self.beta + t - 1) / (self.alpha + self.beta + t - 1)

    def expected_remaining_lifetime(self, renewals: float | Sequence[float] | np.ndarray = 0
                                    ) -> np.ndarray:
        """Expected number of further periods a customer who has made ``renewals`` renewals
        pays for: sum over t >= 1 of S(m + t) / S(m) = (beta + m) / (alpha - 1), infinite
        when alpha <= 1 (the tail of S is too heavy for a finite mean)."""
        m = _periods(renewals, low=0, name="renewals")
        if self.alpha <= 1:
            return np.full_like(m, math.inf)
        return (self.beta + m) / (self.alpha - 1)

    def derl(self, discount_rate: float, renewals: float | Sequence[float] | np.ndarray = 0
             ) -> np.ndarray:
        """Discounted expected residual lifetime of a customer who has made ``renewals``
        renewals, at ``discount_rate`` per period (FH 2010, eq. 6, see the module):
        (beta + m) / (alpha + beta + m) * 2F1(1, beta + m + 1; alpha + beta + m + 1; 1/(1+d)).
        Times the payment per period, the customer's expected residual lifetime value."""
        if not (math.isfinite(discount_rate) and discount_rate >= 0):
            raise UserInputError(f"The discount rate per period must be 0 or more (e.g. 0.1); "
                                 f"got {discount_rate}.")
        m = _periods(renewals, low=0, name="renewals")
        if discount_rate == 0:
            return self.expected_remaining_lifetime(m)
        a, b = self.alpha, self.beta
        return (b + m) / (a + b + m) * hyp2f1(1, b + m + 1, a + b + m + 1, 1 / (1 + discount_rate))


def _periods(value: float | Sequence[float] | np.ndarray, *, low: int, name: str) -> np.ndarray:
    t = np.asarray(value, dtype=float)
    if not np.isfinite(t).all() or (t < low).any():
        raise UserInputError(f"{name} counts renewal periods: {low} or more; got {value}.")
    return t


def fit_sbg(survivors: Sequence[float] | np.ndarray
            | Sequence[Sequence[float] | np.ndarray]) -> SbgFit:
    """Maximum-likelihood sBG from survivor counts.

    Parameters
    ----------
    survivors
        One cohort's n_0, n_1, ..., n_T (customers at the start, then still paying after
        each renewal period), or a list of cohorts, each listed for the periods it was
        observed in full (a younger cohort has a shorter list).

    Raises
    ------
    UserInputError
        Counts that are not whole numbers, that increase, a cohort without customers or
        without a period, fewer than ``MIN_PERIODS`` periods, nobody lost or nobody kept.

    Examples
    --------
    The "High End" segment of FH 2007, years 1-7:

    >>> fit = fit_sbg([1000, 869, 743, 653, 593, 551, 517, 491])
    >>> round(fit.alpha, 3), round(fit.beta, 3)
    (0.668, 3.806)
    """
    return _fit(_from_survivors(survivors))


def fit_sbg_lifetimes(periods: Sequence[float] | np.ndarray,
                      churned: Sequence[float] | np.ndarray) -> SbgFit:
    """Maximum-likelihood sBG from customers' own lifetimes, right-censored.

    ``periods[i]`` is a whole number of periods: with ``churned[i]`` true, the customer paid
    for that many periods and left (T = periods, at least 1); otherwise it was still paying
    after that many periods when observation stopped (T > periods, censored).
    """
    t = np.asarray(periods, dtype=float)
    event = np.asarray(churned)
    if t.ndim != 1 or event.shape != t.shape:
        raise UserInputError("periods and churned must be two lists of the same length, one "
                             "entry per customer.")
    if event.dtype != bool and not np.isin(event, (0, 1)).all():
        raise UserInputError("churned takes 1 (left) or 0 (still paying, censored) only.")
    event = event.astype(bool)
    if not np.isfinite(t).all() or (t != np.round(t)).any() or (t < 0).any():
        raise UserInputError("periods must be whole numbers of periods, 0 or more.")
    if (event & (t < 1)).any():
        raise UserInputError("A customer that churned paid for at least 1 period: its "
                             "periods must be 1 or more.")
    if len(t) == 0:
        raise UserInputError("No customers: give at least one lifetime.")
    top = int(t.max())
    churn = np.bincount(t[event].astype(int), minlength=top + 1)[1:]
    censored = np.bincount(t[~event].astype(int), minlength=top + 1)
    return _fit(_checked(Events(churn.astype(float), censored.astype(float))))


def _from_survivors(survivors: Sequence[float] | np.ndarray
                    | Sequence[Sequence[float] | np.ndarray]) -> Events:
    """Survivor counts (one cohort or several) as churn and censoring counts, checked."""
    if len(survivors) == 0:
        raise UserInputError("No survivor counts: give n_0, n_1, ..., n_T (customers at the "
                             "start, then still paying after each period).")
    first = survivors[0]
    cohorts = list(survivors) if np.ndim(first) == 1 else [survivors]
    arrays = []
    for index, cohort in enumerate(cohorts):
        which = f"cohort {index + 1}: " if len(cohorts) > 1 else ""
        try:
            n = np.asarray(cohort, dtype=float)
        except (TypeError, ValueError):
            raise UserInputError(f"{which}survivor counts must be numbers; got "
                                 f"{cohort!r}.") from None
        if n.ndim != 1:
            raise UserInputError(f"{which}survivor counts must be one list n_0, n_1, ..., "
                                 "n_T per cohort.")
        if not np.isfinite(n).all() or (n < 0).any() or (n != np.round(n)).any():
            raise UserInputError(f"{which}survivor counts must be whole numbers of customers, "
                                 f"0 or more; got {n.tolist()}.")
        if len(n) < 2:
            raise UserInputError(f"{which}a cohort needs its customers at the start and at "
                                 f"least one period after (n_0, n_1, ...); got {n.tolist()}.")
        if n[0] == 0:
            raise UserInputError(f"{which}the cohort has zero customers at the start (n_0 = "
                                 "0); drop it or give its size.")
        rises = np.flatnonzero(np.diff(n) > 0)
        if len(rises):
            t = int(rises[0]) + 1
            raise UserInputError(
                f"{which}survivor counts cannot increase: n_{t} = {n[t]:g} > n_{t - 1} = "
                f"{n[t - 1]:g}. Give the customers of the starting cohort still paying after "
                "each period (customers who joined later belong to a later cohort).")
        arrays.append(n)
    top = max(len(n) for n in arrays) - 1
    churned = np.zeros(top)
    censored = np.zeros(top + 1)
    for n in arrays:
        churned[: len(n) - 1] += -np.diff(n)
        censored[len(n) - 1] += n[-1]
    return _checked(Events(churned, censored))


def _checked(events: Events) -> Events:
    if events.periods < MIN_PERIODS:
        raise UserInputError(f"The sBG model needs at least {MIN_PERIODS} renewal periods "
                             f"(n_0, n_1, n_2); got {events.periods}. One period gives one "
                             "retention rate, which cannot tell alpha from beta: wait for "
                             "another period or use a shorter --period.")
    if events.churned.sum() == 0:
        raise UserInputError("Nobody left in the periods observed, so there is no churn to "
                             "fit (retention looks like 100 %); wait for more periods.")
    if events.churned[0] == events.customers:
        raise UserInputError("Nobody renewed even once: every customer left in its first "
                             "period, so there is no retention to fit.")
    return events


def _fit(events: Events) -> SbgFit:
    def negative_ll(log_params: np.ndarray) -> float:
        alpha, beta = np.exp(log_params)
        value = -_log_likelihood(alpha, beta, events)
        return value if math.isfinite(value) else 1e300

    bounds = [(-LOG_BOUND, LOG_BOUND)] * 2
    best = minimize(negative_ll, np.zeros(2), method="Nelder-Mead", bounds=bounds,
                    options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 10_000})
    polished = minimize(negative_ll, best.x, method="L-BFGS-B", bounds=bounds)
    if np.isfinite(polished.fun) and polished.fun < best.fun:
        best = polished
    if not np.isfinite(best.fun) or best.fun >= 1e300:
        raise UserInputError("The sBG likelihood could not be maximised; check the counts.")
    alpha, beta = map(float, np.exp(best.x))
    return SbgFit(alpha, beta, float(-best.fun), n=events.customers, periods=events.periods)
