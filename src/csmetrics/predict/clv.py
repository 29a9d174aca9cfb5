"""Probabilistic customer lifetime value for non-contractual purchases: BG/NBD + Gamma-Gamma.

The models (Fader, Hardie & Lee 2005):

* **BG/NBD** ("Counting Your Customers the Easy Way", Marketing Science 24(2)). While alive, a
  customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after every purchase
  the customer drops out with probability p ~ Beta(a, b). From each customer's repeat purchases
  ``frequency`` (x), the time of the last one ``recency`` (t_x) and the age ``T`` (all measured
  from the first purchase, in one time unit) it gives the expected number of purchases in the
  next ``t`` units and P(alive).
* **Gamma-Gamma** ("RFM and CLV: Using Iso-value Curves for Customer Base Analysis", JMR 2005).
  A customer's purchase values are Gamma(p, nu) around the customer's mean, nu ~ Gamma(q,
  gamma); fitted on repeat buyers' mean repeat-purchase value (``monetary``), it gives the
  expected value of one future purchase, shrunk towards the population mean.

Both are fitted by maximum likelihood (scipy.optimize: BFGS on log parameters, a bounded
search when that fails) on a vectorised log-likelihood, computed once per distinct history.
CLV = sum over the months of the horizon of the expected purchases in that month x the
expected purchase value, discounted monthly at the annual discount rate.
The fits reproduce the published CDNOW results (tests/predict/test_clv.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend
from scipy.optimize import minimize
from scipy.special import betainc, betaln, gammaln, hyp2f1

from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.money import convert
from csmetrics.metrics.periods import Grain

if TYPE_CHECKING:
    from csmetrics.predict.pareto import ParetoNBDFit

__all__ = [
    "DAYS_PER_UNIT",
    "BetaGeoFit",
    "GammaGammaFit",
    "Holdout",
    "bgnbd_log_likelihood",
    "clv",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "gamma_gamma_log_likelihood",
    "holdout",
    "rfm_summary",
]

#: Length of one time unit in days.
DAYS_PER_UNIT = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}
MIN_CUSTOMERS = 10
MIN_REPEAT_BUYERS = 10


# ------------------------------------------------------------------------------------------
# Data: frequency / recency / T / monetary from the orders table
# ------------------------------------------------------------------------------------------


def rfm_summary(con: BaseBackend, *, until: date | None = None, time_unit: str = "week",
                currency: str = "USD") -> tuple[pd.DataFrame, date]:
    """Per customer with a paid order on or before ``until`` (default: the last paid order):
    ``frequency`` (repeat purchase days: days with a paid order after the first, the
    lifetimes/FHL convention that orders on the same day are one purchase), ``recency`` (first
    to last purchase day) and ``T`` (first purchase day to ``until``: days between them, as
    FHL 2005 and lifetimes count), in ``time_unit``s,
    and ``monetary`` (mean value of the repeat purchase days; 0 without repeats), in the
    reporting currency. Paid = status 'paid' or empty; refunded and failed orders are not
    purchases. Returns the frame and the calibration end used."""
    if time_unit not in DAYS_PER_UNIT:
        raise UserInputError(f"--time-unit {time_unit!r} is not one of day, week, month.")
    if until is None:
        o = con.table("orders")
        last = con.execute(o.filter(o.status.isnull() | (o.status == "paid")).ordered_at.max())
        if last is None or pd.isna(last):
            raise UserInputError("The orders table has no paid orders; load orders (status "
                                 "'paid') before fitting CLV models.")
        until = pd.Timestamp(last).date()
    ctx = MetricContext(con=con, grain=Grain.DAY, starts=[until], currency=currency,
                        as_of=until, known_until=until)
    try:
        daily = _purchase_days(ctx)
        w = ibis.window(group_by=daily.customer_id)
        daily = daily.mutate(first=daily.day.min().over(w))
        per = daily.group_by("customer_id").aggregate(
            purchases=daily.count(),
            first=daily.first.min(),
            last=daily.day.max(),
            repeat_value=daily.value.sum(where=daily.day > daily.first),
        )
        frame = con.execute(per.order_by("customer_id"))
    finally:
        ctx.close()
    if frame.empty:
        raise UserInputError(f"No paid orders on or before {until}; choose a later --until.")
    unit = DAYS_PER_UNIT[time_unit]
    first = pd.to_datetime(frame["first"])
    last = pd.to_datetime(frame["last"])
    end = pd.Timestamp(until)  # T runs to the calibration end itself, as the papers measure it
    frequency = frame["purchases"].astype(float) - 1
    summary = pd.DataFrame({
        "customer_id": frame["customer_id"].astype(str),
        "frequency": frequency,
        "recency": (last - first).dt.days / unit,
        "T": (end - first).dt.days / unit,
        "monetary": np.where(frequency > 0, frame["repeat_value"].fillna(0.0).astype(float)
                             / frequency.where(frequency > 0, 1.0), 0.0),
    })
    return summary, until


def _purchase_days(ctx: MetricContext) -> ibis.Table:
    """Each customer's purchase days known to ``ctx``: ``customer_id``, ``day`` and the
    day's paid ``value`` in the reporting currency (several orders of a day are one
    purchase; refunded and failed orders are none)."""
    o = ctx.table("orders")
    o = o.filter(o.status.isnull() | (o.status == "paid"))  # empty status = paid
    o = convert(ctx, o.mutate(value=o.amount.cast("float64")), "value", "ordered_at")
    o = o.mutate(day=o.ordered_at.cast("date"))
    return o.group_by(["customer_id", "day"]).aggregate(value=o.value.sum())


# ------------------------------------------------------------------------------------------
# BG/NBD
# ------------------------------------------------------------------------------------------


def bgnbd_log_likelihood(params: np.ndarray | tuple[float, ...], frequency: np.ndarray,
                         recency: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood (FHL 2005, eq. 6), vectorised.

    L = B(a, b+x)/B(a, b) * G(r+x) a^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x)).
    """
    r, alpha, a, b = params
    x, t_x = np.asarray(frequency, float), np.asarray(recency, float)
    T = np.asarray(T, float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    xr = np.where(repeat, x, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(b + xr - 1) - (r + x) * np.log(alpha + t_x),
                  -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


@dataclass(frozen=True)
class BetaGeoFit:
    """A fitted BG/NBD model: ``r``, ``alpha`` (purchase rate), ``a``, ``b`` (dropout), the
    total log-likelihood, how many customers it rests on, the time unit and the fit time."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n: int
    time_unit: str = "week"
    seconds: float = 0.0

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(r, alpha, a, b)."""
        return self.r, self.alpha, self.a, self.b

    @property
    def at_bound(self) -> list[str]:
        """Parameters that ended on their search bound (a degenerate, boundary solution)."""
        return _at_bound({"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b})

    def p_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still alive at T | x, t_x, T) (FHL 2005, eq. 12); 1 for customers without
        repeat purchases."""
        x, t_x, T = (np.asarray(v, float) for v in (frequency, recency, T))
        xr = np.where(x > 0, x, 1.0)
        odds = np.where(x > 0, self.a / (self.b + xr - 1)
                        * ((self.alpha + T) / (self.alpha + t_x)) ** (self.r + x), 0.0)
        return 1.0 / (1.0 + odds)

    def expected_purchases(self, t: float | np.ndarray, frequency: np.ndarray,
                           recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected purchases in the next ``t`` units (FHL 2005, eq. 10)."""
        x, t_x, T = (np.asarray(v, float) for v in (frequency, recency, T))
        r, alpha, a, b = self.params
        t = np.asarray(t, float)
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        body = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x,
                                                                       a + b + x - 1, z)
        xr = np.where(x > 0, x, 1.0)
        odds = np.where(x > 0, a / (b + xr - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
        return head * body / (1 + odds)

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` units by a customer just acquired, E[X(t)] (FHL 2005,
        eq. 9)."""
        r, alpha, a, b = self.params
        t = np.asarray(t, float)
        return (a + b - 1) / (a - 1) * (
            1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))

    def purchase_probability(self, n: int | np.ndarray, t: float) -> np.ndarray:
        """P(X(t) = n): the chance a customer just acquired makes exactly ``n`` purchases in
        ``t`` units (FHL 2005, eq. 8)."""
        r, alpha, a, b = self.params
        n = np.asarray(n, int)
        if (n < 0).any():
            raise UserInputError("A number of purchases cannot be negative.")
        stay, go = alpha / (alpha + t), t / (alpha + t)

        def nbd(k: np.ndarray) -> np.ndarray:  # G(r+k)/(G(r) k!) stay^r go^k
            return np.exp(gammaln(r + k) - gammaln(r) - gammaln(k + 1) + r * np.log(stay)
                          + k * np.log(go))

        first = np.exp(betaln(a, b + n) - betaln(a, b)) * nbd(n)
        # 1 - sum_{j < n} nbd(j) = P(NBD >= n) = I_go(n, r), the regularised incomplete beta
        at_least = betainc(np.maximum(n, 1), r, go)
        second = np.where(n > 0, np.exp(betaln(a + 1, b + np.maximum(n, 1) - 1)
                                        - betaln(a, b)) * at_least, 0.0)
        return first + second

    def log_likelihood_of(self, frequency: np.ndarray, recency: np.ndarray,
                          T: np.ndarray) -> float:
        """The total log-likelihood of (x, t_x, T) under these parameters."""
        return float(bgnbd_log_likelihood(self.params, frequency, recency, T).sum())


def _check_rfm(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, *,
               model: str = "BG/NBD") -> None:
    values = np.column_stack([frequency, recency, T])
    if len(frequency) < MIN_CUSTOMERS:
        raise UserInputError(f"{model} needs at least {MIN_CUSTOMERS} customers with a paid "
                             f"order; found {len(frequency)}. Load more orders or choose a "
                             "later --until.")
    if not np.isfinite(values).all() or (values < 0).any():
        raise UserInputError("frequency, recency and T must be finite and not negative.")
    if (recency > T + 1e-9).any() or ((frequency == 0) & (recency > 0)).any():
        raise UserInputError("recency must lie between 0 and T (and be 0 without repeats).")
    if (frequency > 0).sum() == 0:
        raise UserInputError("No customer bought twice before the calibration end, so the "
                             "repeat-purchase process cannot be fitted; choose a later --until "
                             "or a shorter --time-unit.")
    if np.ptp(T) == 0 and np.ptp(frequency) == 0:
        raise UserInputError("Every customer has the same frequency and age: the data cannot "
                             f"identify the {model} parameters.")


#: Log-parameter bounds: parameters stay in [e^-12, e^12]; a fit that ends on a bound is a
#: boundary solution (e.g. no heterogeneity in purchase rates) and is flagged, not hidden.
LOG_BOUND = 12.0


def _fit(negative_ll, start: np.ndarray) -> tuple[np.ndarray, float]:  # noqa: ANN001
    """The parameters whose logarithms minimise ``negative_ll``, and the log-likelihood
    there: BFGS from ``start`` (about 100 evaluations), or, when it fails or leaves the
    bounds, the bounded Nelder-Mead and L-BFGS-B search (thousands of evaluations)."""
    quick = minimize(negative_ll, start, method="BFGS", options={"gtol": 1e-7})
    if (np.isfinite(quick.fun) and quick.fun < 1e300 and np.isfinite(quick.x).all()
            and (np.abs(quick.x) <= LOG_BOUND).all()):
        return np.exp(quick.x), float(-quick.fun)
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    best = None
    for method, options in (("Nelder-Mead", {"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20_000,
                                             "maxfev": 40_000}),
                            ("L-BFGS-B", {"maxiter": 5_000})):
        result = minimize(negative_ll, start if best is None else best.x, method=method,
                          bounds=bounds, options=options)
        if best is None or (np.isfinite(result.fun) and result.fun <= best.fun):
            best = result
    if best is None or not np.isfinite(best.fun):
        raise UserInputError("The likelihood could not be maximised (degenerate data); check "
                             "the orders for extreme values or use more customers.")
    return np.exp(best.x), float(-best.fun)


def fit_bgnbd(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, *,
              time_unit: str = "week") -> BetaGeoFit:
    """Maximum-likelihood BG/NBD on (x, t_x, T); clear errors when the data cannot support it."""
    x, t_x, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
    _check_rfm(x, t_x, T_)
    scale = max(float(T_.max()), 1.0) / 10  # alpha has the unit of time: start near the data
    started = time.perf_counter()
    (ux, ut_x, uT), weight = _distinct(x, t_x, T_)

    def negative_ll(log_params: np.ndarray) -> float:
        params = np.exp(log_params)
        value = -(weight * bgnbd_log_likelihood(params, ux, ut_x, uT)).sum()
        return float(value) if np.isfinite(value) else 1e300

    params, ll = _fit(negative_ll, np.log([1.0, scale, 1.0, 1.0]))
    return BetaGeoFit(*map(float, params), log_likelihood=ll, n=len(x), time_unit=time_unit,
                      seconds=time.perf_counter() - started)


def _distinct(*columns: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The distinct rows of ``columns`` and how many times each occurs: customers with the
    same history add the same term to the likelihood, so it is computed once per history."""
    rows, counts = np.unique(np.column_stack(columns), axis=0, return_counts=True)
    return tuple(rows.T), counts.astype(float)


# ------------------------------------------------------------------------------------------
# Gamma-Gamma
# ------------------------------------------------------------------------------------------


def gamma_gamma_log_likelihood(params: np.ndarray | tuple[float, float, float],
                               frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Each repeat buyer's Gamma-Gamma log-likelihood of its mean purchase value zbar over x
    purchases (Fader, Hardie & Lee 2005 note, eq. 3), vectorised."""
    p, q, g = params
    x, z = np.asarray(frequency, float), np.asarray(monetary, float)
    return (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(g)
            + (p * x - 1) * np.log(z) + p * x * np.log(x) - (p * x + q) * np.log(g + x * z))


@dataclass(frozen=True)
class GammaGammaFit:
    """A fitted Gamma-Gamma model: ``p``, ``q``, ``gamma``, log-likelihood, repeat buyers used
    (``n``) and left out (``left_out``: their repeat purchases average $0 or less, which the
    model's Gamma spend cannot describe)."""

    p: float
    q: float
    gamma: float
    log_likelihood: float
    n: int
    seconds: float = 0.0
    left_out: int = 0

    @property
    def at_bound(self) -> list[str]:
        """Parameters that ended on their search bound (a degenerate, boundary solution)."""
        return _at_bound({"p": self.p, "q": self.q, "gamma": self.gamma})

    def expected_value(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """E[value of one purchase | x, zbar] = (q - 1)/(px + q - 1) * p gamma/(q - 1)
        + px/(px + q - 1) * zbar; customers without repeats get the population mean. For a
        repeat buyer left out of the fit (zbar = 0) it is the same formula's value: the
        population mean, shrunk the more the more $0 purchases were seen."""
        x, z = np.asarray(frequency, float), np.asarray(monetary, float)
        population = self.p * self.gamma / (self.q - 1)
        weight = self.p * x / (self.p * x + self.q - 1)
        return (1 - weight) * population + weight * z


def _at_bound(params: dict[str, float]) -> list[str]:
    return [k for k, v in params.items() if abs(math.log(v)) > LOG_BOUND - 1e-3]


def fit_gamma_gamma(frequency: np.ndarray, monetary: np.ndarray) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma on the repeat buyers (frequency > 0) whose repeat
    purchases average more than $0; the others are left out and counted (``left_out``)."""
    x, z = np.asarray(frequency, float), np.asarray(monetary, float)
    if not np.isfinite(z).all():
        raise UserInputError("Every mean purchase value must be a finite number.")
    repeat = x > 0
    keep = repeat & (z > 0)
    left_out = int((repeat & ~keep).sum())
    x, z = x[keep], z[keep]
    if len(x) < MIN_REPEAT_BUYERS:
        unpaid = f" ({left_out} more average $0 and are left out)" if left_out else ""
        raise UserInputError(f"Gamma-Gamma needs at least {MIN_REPEAT_BUYERS} repeat buyers "
                             f"with a positive mean purchase value; found {len(x)}{unpaid}. "
                             "Use a later --until or more orders, or --model bgnbd to fit "
                             "the purchase process alone.")
    if np.ptp(z) == 0:
        raise UserInputError("All repeat buyers have the same mean purchase value: the "
                             "Gamma-Gamma spread cannot be estimated.")
    started = time.perf_counter()

    (ux, uz), weight = _distinct(x, z)

    def negative_ll(log_params: np.ndarray) -> float:
        value = -(weight * gamma_gamma_log_likelihood(np.exp(log_params), ux, uz)).sum()
        return float(value) if np.isfinite(value) else 1e300

    params, ll = _fit(negative_ll, np.log([1.0, 1.0, max(float(z.mean()), 1.0)]))
    fit = GammaGammaFit(*map(float, params), log_likelihood=ll, n=len(x),
                        seconds=time.perf_counter() - started, left_out=left_out)
    if fit.q <= 1:
        raise UserInputError(f"Gamma-Gamma fitted q = {fit.q:.3g} <= 1, so the mean purchase "
                             "value is undefined; the values are too dispersed for this model.")
    return fit


# ------------------------------------------------------------------------------------------
# Holdout check: fit to a date, compare predicted and actual repeat purchases after it
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Holdout:
    """A BG/NBD fit to ``until`` checked on ``until`` < day <= ``end``: ``customers`` (RFM
    at ``until``, ``actual`` and ``predicted`` repeat purchases in the holdout) and
    ``weekly`` (``week``, its last ``day``, ``actual`` and ``predicted`` cumulative repeat
    purchases of all those customers since ``until``)."""

    fit: BetaGeoFit
    customers: pd.DataFrame
    weekly: pd.DataFrame
    until: date
    end: date

    def totals(self) -> dict[str, float]:
        """Holdout purchases, actual and predicted, and the mean absolute error per customer."""
        c = self.customers
        return {"customers": len(c), "actual": float(c["actual"].sum()),
                "predicted": float(c["predicted"].sum()),
                "mean_absolute_error": float((c["actual"] - c["predicted"]).abs().mean())}


def holdout(con: BaseBackend, *, until: date, end: date | None = None,
            time_unit: str = "week", currency: str = "USD") -> Holdout:
    """Fit BG/NBD on the paid orders up to ``until`` (``rfm_summary``), then compare with the
    purchase days of those customers after it, up to ``end`` (default: the last paid order)."""
    summary, until = rfm_summary(con, until=until, time_unit=time_unit, currency=currency)
    fit = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"],
                    time_unit=time_unit)
    ctx = MetricContext(con=con, grain=Grain.DAY, starts=[until], currency=currency)
    try:
        days = _purchase_days(ctx)
        later = con.execute(days.filter(days.day > ibis.literal(until))
                            .select("customer_id", "day"))
    finally:
        ctx.close()
    later["day"] = pd.to_datetime(later["day"]).dt.date
    end = end or (max(later["day"]) if len(later) else None)
    if end is None or end <= until:
        raise UserInputError(f"No paid orders after {until} to check the fit on; choose an "
                             "earlier --until.")
    later = later[later["customer_id"].isin(summary["customer_id"]) & (later["day"] <= end)]
    unit = DAYS_PER_UNIT[time_unit]
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    customers = summary.assign(
        actual=summary["customer_id"].map(later["customer_id"].value_counts()).fillna(0)
        .astype(int),
        predicted=fit.expected_purchases((end - until).days / unit, x, t_x, T))
    cuts = [min(until + timedelta(days=7 * k), end)
            for k in range(1, -(-(end - until).days // 7) + 1)]
    weekly = pd.DataFrame({
        "week": range(1, len(cuts) + 1), "day": cuts,
        "actual": [int((later["day"] <= cut).sum()) for cut in cuts],
        "predicted": [float(fit.expected_purchases((cut - until).days / unit, x, t_x, T).sum())
                      for cut in cuts]})
    return Holdout(fit, customers, weekly, until, end)


# ------------------------------------------------------------------------------------------
# CLV
# ------------------------------------------------------------------------------------------


def clv(bg: BetaGeoFit | ParetoNBDFit, gg: GammaGammaFit | None, summary: pd.DataFrame, *,
        horizon_months: int = 12, discount_rate: float = 0.1) -> pd.DataFrame:
    """Per customer, from the purchase model ``bg`` (BG/NBD or Pareto/NBD, whose
    ``expected_purchases`` and ``p_alive`` it reads): ``expected_purchases`` over the
    horizon, ``p_alive``, ``expected_value`` (of one purchase) and ``clv`` = sum over
    months m = 1..H of (E[purchases by m] - E[purchases by m-1]) x expected value /
    (1 + d)^m, with d the monthly rate equivalent to the annual ``discount_rate``. Without
    ``gg`` (a purchase model alone) the expected value and CLV are empty."""
    if horizon_months < 1:
        raise UserInputError("--horizon must be at least 1 month.")
    if not 0 <= discount_rate < 1:
        raise UserInputError("--discount-rate is an annual rate between 0 and 1, e.g. 0.1.")
    if isinstance(bg, BetaGeoFit) and abs(bg.a - 1) < 1e-6:
        raise UserInputError("BG/NBD fitted a = 1, where the expected-purchases formula is "
                             "singular; refit with a different --until or --time-unit.")
    x, t_x, T = (summary[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    per_month = DAYS_PER_UNIT["month"] / DAYS_PER_UNIT[bg.time_unit]
    monthly = (1 + discount_rate) ** (1 / 12) - 1
    value = (np.full(len(x), np.nan) if gg is None
             else gg.expected_value(x, summary["monetary"].to_numpy(float)))
    total, previous = np.zeros(len(x)), np.zeros(len(x))
    for month in range(1, horizon_months + 1):
        now = bg.expected_purchases(month * per_month, x, t_x, T)
        total += (now - previous) * value / (1 + monthly) ** month
        previous = now
    out = summary.copy()
    out["expected_purchases"] = previous
    out["p_alive"] = bg.p_alive(x, t_x, T)
    out["expected_value"] = value
    out["clv"] = total
    return out
