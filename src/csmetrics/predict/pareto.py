"""Pareto/NBD: the original "counting your customers" model of non-contractual purchases.

Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are They and What Will
They Do Next?", Management Science 33(1). While alive, a customer buys as a Poisson process
with rate lambda ~ Gamma(r, alpha); the customer's lifetime is exponential with rate
mu ~ Gamma(s, beta), so dropping out can happen at any time, not only just after a purchase
as in BG/NBD (``csmetrics.predict.clv``). From each customer's repeat purchases ``frequency``
(x), the time of the last one ``recency`` (t_x) and the age ``T`` (all from the first
purchase, in one time unit) it gives the expected purchases in the next ``t`` units and
P(alive).

The log-likelihood is the numerically stable form of Fader & Hardie (2005), "A Note on
Implementing the Pareto/NBD Model in MATLAB" (brucehardie.com/notes/008/): with
m = max(alpha, beta),

    L = G(r+x) alpha^r beta^s / G(r) * [ 1 / ((alpha+T)^(r+x) (beta+T)^s)
                                         + s / (r+s+x) * A0 ],
    A0 = 2F1(r+s+x, c; r+s+x+1; |alpha-beta|/(m+t_x)) / (m+t_x)^(r+s+x)
         - 2F1(r+s+x, c; r+s+x+1; |alpha-beta|/(m+T)) / (m+T)^(r+s+x),

with c = s+1 when alpha >= beta and c = r+x when alpha < beta (the Gaussian hypergeometric
function's argument then stays in [0, 1)); the two terms are added on the log scale. Fitted by
maximum likelihood (BFGS on log parameters, as the BG/NBD fit). On the CDNOW data the fit
gives the note's r = 0.5534, alpha = 10.5802, s = 0.6061, beta = 11.6562, LL = -9594.98
(tests/predict/test_pareto.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, gammaln, hyp2f1

from csmetrics.errors import UserInputError
from csmetrics.predict.clv import _at_bound, _check_rfm, _distinct, _fit

__all__ = ["ParetoNBDFit", "fit_pareto_nbd", "pareto_nbd_log_likelihood"]


def _log_terms(params: np.ndarray | tuple[float, ...], x: np.ndarray, t_x: np.ndarray,
               T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The log-likelihood's three parts: the constant ``l1``, the log of the "still alive at
    T" term ``l2`` and of the "died between t_x and T" term ``l3`` (L = e^l1 (e^l2 + e^l3))."""
    r, alpha, s, beta = params
    m, gap = max(alpha, beta), abs(alpha - beta)
    c = s + 1 if alpha >= beta else r + x
    k = r + s + x
    l1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    l2 = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    # A0 (m + t_x)^k: 2F1 at t_x minus 2F1 at T scaled by ((m + t_x)/(m + T))^k <= 1
    a0 = (hyp2f1(k, c, k + 1, gap / (m + t_x))
          - hyp2f1(k, c, k + 1, gap / (m + T)) * ((m + t_x) / (m + T)) ** k)
    with np.errstate(divide="ignore"):  # t_x = T: nobody can have died in between
        l3 = np.log(s) - np.log(k) - k * np.log(m + t_x) + np.log(np.maximum(a0, 0.0))
    return l1, l2, l3


def pareto_nbd_log_likelihood(params: np.ndarray | tuple[float, ...], frequency: np.ndarray,
                              recency: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's Pareto/NBD log-likelihood (Fader & Hardie 2005 MATLAB note, eq. 1 and
    the A0 cases), vectorised over customers; ``params`` = (r, alpha, s, beta)."""
    x, t_x, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
    l1, l2, l3 = _log_terms(params, x, t_x, T_)
    return l1 + np.logaddexp(l2, l3)


def _decay_integral(s: float, log_ratio: np.ndarray) -> np.ndarray:
    """(1 - ratio^(s-1)) / (s-1) for ratio = e^log_ratio <= 1, and its limit -log(ratio) at
    s = 1, without cancellation: the lifetime part of the expected purchases."""
    if abs(s - 1) < 1e-9:
        return -log_ratio
    return -np.expm1((s - 1) * log_ratio) / (s - 1)


@dataclass(frozen=True)
class ParetoNBDFit:
    """A fitted Pareto/NBD model: ``r``, ``alpha`` (purchase rate), ``s``, ``beta``
    (lifetime), the total log-likelihood, how many customers it rests on, the time unit and
    the fit time."""

    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float
    n: int
    time_unit: str = "week"
    seconds: float = 0.0

    #: The parameters' names in the papers, in the order of ``params``.
    NAMES = ("r", "alpha", "s", "beta")

    @property
    def params(self) -> tuple[float, float, float, float]:
        """(r, alpha, s, beta)."""
        return self.r, self.alpha, self.s, self.beta

    @property
    def at_bound(self) -> list[str]:
        """Parameters that ended on their search bound (a degenerate, boundary solution)."""
        return _at_bound(dict(zip(self.NAMES, self.params, strict=True)))

    def p_alive(self, frequency: np.ndarray, recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still alive at T | x, t_x, T) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s
        A0): the share of the likelihood in the "alive at T" term. Unlike BG/NBD, a customer
        without repeat purchases may have left too."""
        x, t_x, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
        _, l2, l3 = _log_terms(self.params, x, t_x, T_)
        return np.exp(l2 - np.logaddexp(l2, l3))

    def expected_purchases(self, t: float | np.ndarray, frequency: np.ndarray,
                           recency: np.ndarray, T: np.ndarray) -> np.ndarray:
        """Expected purchases in the next ``t`` units, E[Y(t) | x, t_x, T] = (r+x)(beta+T) /
        ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive) (Schmittlein et al.
        1987, eq. 22; Fader & Hardie's note on deriving the model, eq. 41)."""
        x, t_x, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
        r, alpha, s, beta = self.params
        t = np.asarray(t, float)
        rate = (r + x) * (beta + T_) / (alpha + T_)
        return rate * _decay_integral(s, np.log(beta + T_) - np.log(beta + T_ + t)) * (
            self.p_alive(x, t_x, T_))

    def expected_purchases_new(self, t: float | np.ndarray) -> np.ndarray:
        """Expected purchases in ``t`` units by a customer just acquired, E[X(t)] =
        r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)] (Schmittlein et al. 1987, eq. 17)."""
        r, alpha, s, beta = self.params
        t = np.asarray(t, float)
        return r * beta / alpha * _decay_integral(s, np.log(beta) - np.log(beta + t))

    def purchase_probability(self, n: int | np.ndarray, t: float) -> np.ndarray:
        """P(X(t) = n): the chance a customer just acquired makes exactly ``n`` purchases in
        ``t`` units (Fader & Hardie 2006, "Deriving an Expression for P(X(t) = x) Under the
        Pareto/NBD Model", eq. 17: alive throughout, plus died at some tau < t having bought
        n times by then)."""
        r, alpha, s, beta = self.params
        ns = np.atleast_1d(np.asarray(n, int))
        if (ns < 0).any():
            raise UserInputError("A number of purchases cannot be negative.")
        m, gap = max(alpha, beta), abs(alpha - beta)
        out = np.empty(len(ns))
        for index, k in enumerate(ns):
            c = s + 1 if alpha >= beta else r + k
            alive = np.exp(gammaln(r + k) - gammaln(r) - gammaln(k + 1)
                           + r * np.log(alpha / (alpha + t)) + k * np.log(t / (alpha + t))
                           + s * np.log(beta / (beta + t)))
            # B1 - sum_i G(r+s+i)/(G(r+s) i!) t^i B2_i, each term on the log scale and
            # scaled by m^(r+s) (the difference is what remains of a series after n+1 terms)
            i = np.arange(k + 1)
            terms = np.exp(gammaln(r + s + i) - gammaln(r + s) - gammaln(i + 1)
                           + i * np.log(t / (m + t)) + (r + s) * np.log(m / (m + t))
                           + np.log(hyp2f1(r + s + i, c, r + s + k + 1, gap / (m + t))))
            rest = hyp2f1(r + s, c, r + s + k + 1, gap / m) - terms.sum()
            died = np.exp(r * np.log(alpha / m) + s * np.log(beta / m) + betaln(r + k, s + 1)
                          - betaln(r, s)) * max(rest, 0.0)
            out[index] = alive + died
        return out.reshape(np.shape(n))

    def log_likelihood_of(self, frequency: np.ndarray, recency: np.ndarray,
                          T: np.ndarray) -> float:
        """The total log-likelihood of (x, t_x, T) under these parameters."""
        return float(pareto_nbd_log_likelihood(self.params, frequency, recency, T).sum())


def fit_pareto_nbd(frequency: np.ndarray, recency: np.ndarray, T: np.ndarray, *,
                   time_unit: str = "week") -> ParetoNBDFit:
    """Maximum-likelihood Pareto/NBD on (x, t_x, T); the same data checks and clear errors as
    the BG/NBD fit."""
    x, t_x, T_ = (np.asarray(v, float) for v in (frequency, recency, T))
    _check_rfm(x, t_x, T_, model="Pareto/NBD")
    scale = max(float(T_.max()), 1.0) / 10  # alpha and beta have the unit of time
    started = time.perf_counter()
    (ux, ut_x, uT), weight = _distinct(x, t_x, T_)

    def negative_ll(log_params: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            value = -(weight * pareto_nbd_log_likelihood(np.exp(log_params), ux, ut_x,
                                                         uT)).sum()
        return float(value) if np.isfinite(value) else 1e300

    params, ll = _fit(negative_ll, np.log([1.0, scale, 1.0, scale]))
    return ParetoNBDFit(*map(float, params), log_likelihood=ll, n=len(x), time_unit=time_unit,
                        seconds=time.perf_counter() - started)
