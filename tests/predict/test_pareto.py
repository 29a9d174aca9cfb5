"""Pareto/NBD: the published CDNOW fit, and every formula against the model's definition
integrated numerically and against the values the ``lifetimes`` package gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammainc, gammaln, roots_genlaguerre

from csmetrics.errors import UserInputError
from csmetrics.predict.pareto import ParetoNBDFit, fit_pareto_nbd, pareto_nbd_log_likelihood

CDNOW_RFT = Path(__file__).parent.parent / "data" / "cdnow_customers_summary.csv"

#: Fader & Hardie (2005), "A Note on Implementing the Pareto/NBD Model in MATLAB", on the
#: CDNOW data (the BTYD R package gives the same): r, alpha, s, beta.
PUBLISHED = (0.5534, 10.5802, 0.6061, 11.6562)
AT_PUBLISHED = ParetoNBDFit(*PUBLISHED, log_likelihood=0.0, n=0)

#: (x, t_x, T) of a few CDNOW-like customers: never bought again, FHL's customer 1, a
#: customer silent for long, frequent buyers, a younger customer.
HISTORIES = [(0, 0.0, 38.86), (2, 30.43, 38.86), (1, 1.71, 38.86), (7, 35.0, 38.86),
             (14, 36.0, 38.86), (3, 5.0, 20.0)]


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """The 2,357 CDNOW customers' frequency, recency and T, weeks (tests/data/CDNOW.md)."""
    return pd.read_csv(CDNOW_RFT)


def test_pareto_nbd_reproduces_fader_hardie_2005(cdnow: pd.DataFrame) -> None:
    fit = fit_pareto_nbd(cdnow["frequency"], cdnow["recency"], cdnow["T"], time_unit="week")
    # the note: r = 0.5534, alpha = 10.5802, s = 0.6061, beta = 11.6562, LL = -9594.98. The
    # likelihood is flat along alpha and beta (the published point is 3e-5 below our
    # maximum, LL -9594.97393, which Nelder-Mead from the published point confirms to 1e-9
    # and where lifetimes 0.11.3 also lands: r 0.5533, alpha 10.578, s 0.6063, beta 11.669),
    # hence the tolerances: 0.0005 on the shapes, 0.1 % on the scales.
    assert fit.r == pytest.approx(0.5534, abs=0.0005)
    assert fit.s == pytest.approx(0.6061, abs=0.0005)
    assert fit.alpha == pytest.approx(10.5802, rel=0.001)
    assert fit.beta == pytest.approx(11.6562, rel=0.001)
    assert fit.log_likelihood == pytest.approx(-9594.98, abs=0.01)
    assert fit.n == 2357 and fit.at_bound == []
    published_ll = AT_PUBLISHED.log_likelihood_of(cdnow["frequency"], cdnow["recency"],
                                                  cdnow["T"])
    assert published_ll == pytest.approx(-9594.98, abs=0.01)
    assert fit.log_likelihood >= published_ll


# -- the oracle: the model's definition, integrated over lambda and mu ---------------------
# Given lambda and mu, a customer is alive at T with likelihood lambda^x e^-(lambda+mu)T, or
# died at some tau in (t_x, T] with likelihood lambda^x mu/(lambda+mu) (e^-(lambda+mu)t_x -
# e^-(lambda+mu)T) (Schmittlein et al. 1987); lambda ~ Gamma(r, alpha), mu ~ Gamma(s, beta)
# are integrated out by generalised Gauss-Laguerre quadrature (100 x 100 nodes; 150 give the
# same values to 1e-12).


def _gamma_nodes(shape: float, rate: float, n: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of E[f(v)] for v ~ Gamma(shape, rate)."""
    u, w = roots_genlaguerre(n, shape - 1)
    return u / rate, w / np.exp(gammaln(shape))


def _oracle(x: int, t_x: float, T: float, t: float,
            params: tuple[float, ...] = PUBLISHED) -> tuple[float, float, float]:
    """(log-likelihood, P(alive), E[purchases in (T, T+t]]) at ``params``."""
    r, alpha, s, beta = params
    lam, w_lam = _gamma_nodes(r + x, alpha)  # lambda^x x Gamma(r, alpha) = c x Gamma(r+x, ..)
    mu, w_mu = _gamma_nodes(s, beta)
    lam, mu = np.meshgrid(lam, mu, indexing="ij")
    weight = np.outer(w_lam, w_mu)
    moment = np.exp(gammaln(r + x) - gammaln(r) - x * np.log(alpha))  # E[lambda^x]
    alive = np.exp(-(lam + mu) * T)
    died = mu / (lam + mu) * (np.exp(-(lam + mu) * t_x) - np.exp(-(lam + mu) * T))
    likelihood = (weight * (alive + died)).sum()
    later = (weight * alive * lam / mu * -np.expm1(-mu * t)).sum()  # alive: lambda (1-e^-mu t)/mu
    return (float(np.log(moment * likelihood)), float((weight * alive).sum() / likelihood),
            float(later / likelihood))


def _oracle_new(n: int, t: float) -> tuple[float, float]:
    """(P(X(t) = n), E[X(t)]) for a new customer: alive at t with n Poisson purchases, or
    died at tau < t with n by then (integral of mu e^-mu tau Poisson(n; lambda tau))."""
    r, alpha, s, beta = PUBLISHED
    lam, w_lam = _gamma_nodes(r, alpha)
    mu, w_mu = _gamma_nodes(s, beta)
    lam, mu = np.meshgrid(lam, mu, indexing="ij")
    weight = np.outer(w_lam, w_mu)
    poisson = np.exp(n * np.log(lam * t) - lam * t - gammaln(n + 1))
    dead = mu * np.exp(n * np.log(lam) - (n + 1) * np.log(lam + mu)) * gammainc(n + 1,
                                                                              (lam + mu) * t)
    return (float((weight * (poisson * np.exp(-mu * t) + dead)).sum()),
            float((weight * lam / mu * -np.expm1(-mu * t)).sum()))


@pytest.mark.parametrize("history", HISTORIES)
def test_formulas_equal_the_integrated_definition(history: tuple[int, float, float]) -> None:
    x, t_x, T = ([v] for v in history)
    log_likelihood, p_alive, expected = _oracle(*history, t=39)
    assert pareto_nbd_log_likelihood(PUBLISHED, x, t_x, T)[0] == pytest.approx(
        log_likelihood, rel=1e-10)
    assert AT_PUBLISHED.p_alive(x, t_x, T)[0] == pytest.approx(p_alive, rel=1e-10)
    assert AT_PUBLISHED.expected_purchases(39, x, t_x, T)[0] == pytest.approx(expected,
                                                                             rel=1e-10)


def test_formulas_equal_lifetimes() -> None:
    # lifetimes 0.11.3, ParetoNBDFitter with params_ set to PUBLISHED (measured with
    # `make bench-install`): conditional_probability_alive(x, t_x, T) and
    # conditional_expected_number_of_purchases_up_to_time(39, x, t_x, T), for HISTORIES
    lifetimes = [(0.2949614864370421, 0.10702894636167574),
                 (0.8691106439681371, 1.455092843844252),
                 (0.16779526719228166, 0.17090697599825017),
                 (0.9360546260011341, 4.63596832384737),
                 (0.9457459051200163, 9.024761171984748),
                 (0.3212896350915849, 1.1160907781951819)]
    x, t_x, T = (np.array(column, float) for column in zip(*HISTORIES, strict=True))
    p_alive, expected = (np.array(column) for column in zip(*lifetimes, strict=True))
    assert AT_PUBLISHED.p_alive(x, t_x, T) == pytest.approx(p_alive, rel=1e-12)
    assert AT_PUBLISHED.expected_purchases(39, x, t_x, T) == pytest.approx(expected, rel=1e-12)
    # expected_number_of_purchases_up_to_time(t) at t = 1, 13, 39, 78
    assert AT_PUBLISHED.expected_purchases_new(np.array([1, 13, 39, 78])) == pytest.approx(
        [0.05100453400231695, 0.5313131304742027, 1.2131177118615133, 1.9093659969315095],
        rel=1e-12)


def test_purchase_count_distribution_of_a_new_customer() -> None:
    for n in (0, 1, 2, 5, 10, 40):
        probability, mean = _oracle_new(n, 39)
        assert AT_PUBLISHED.purchase_probability(n, 39) == pytest.approx(probability, rel=1e-9)
    assert float(AT_PUBLISHED.expected_purchases_new(39)) == pytest.approx(mean, rel=1e-12)
    # a distribution whose mean is E[X(t)], at any t in the fit's unit, whole or not
    for t in (0.5, 13.0, 39.0, 78.25):
        n = np.arange(0, 400)
        p = AT_PUBLISHED.purchase_probability(n, t)
        assert (p >= 0).all() and p.sum() == pytest.approx(1, abs=1e-9)
        assert (n * p).sum() == pytest.approx(float(AT_PUBLISHED.expected_purchases_new(t)),
                                              rel=1e-7)
    # a new customer's expectation is the conditional one at x = t_x = T = 0
    assert float(AT_PUBLISHED.expected_purchases_new(39)) == pytest.approx(
        AT_PUBLISHED.expected_purchases(39, [0.0], [0.0], [0.0])[0], rel=1e-12)
    with pytest.raises(UserInputError, match="negative"):
        AT_PUBLISHED.purchase_probability(-1, 39)


def test_alpha_below_beta_and_s_equal_to_one() -> None:
    # the other A0 case (alpha < beta) against the integrated definition
    flipped = (0.5534, 11.6562, 0.6061, 10.5802)
    fit = ParetoNBDFit(*flipped, log_likelihood=0.0, n=0)
    for x, t_x, T in HISTORIES:
        log_likelihood, p_alive, expected = _oracle(x, t_x, T, 39, flipped)
        assert fit.log_likelihood_of([x], [t_x], [T]) == pytest.approx(log_likelihood,
                                                                       rel=1e-10)
        assert fit.p_alive([x], [t_x], [T])[0] == pytest.approx(p_alive, rel=1e-10)
        assert fit.expected_purchases(39, [x], [t_x], [T])[0] == pytest.approx(expected,
                                                                               rel=1e-10)
    # s = 1: E[X(t)] = r beta/alpha log((beta+t)/beta), the limit of the general formula
    one = ParetoNBDFit(0.5, 10.0, 1.0, 12.0, log_likelihood=0.0, n=0)
    near = ParetoNBDFit(0.5, 10.0, 1.0 + 1e-7, 12.0, log_likelihood=0.0, n=0)
    assert float(one.expected_purchases_new(39)) == pytest.approx(0.5 * 12 / 10 * np.log(51 / 12))
    assert float(near.expected_purchases_new(39)) == pytest.approx(
        float(one.expected_purchases_new(39)), rel=1e-6)


def test_errors_name_the_model() -> None:
    with pytest.raises(UserInputError, match="Pareto/NBD needs at least 10 customers"):
        fit_pareto_nbd([1, 0], [1, 0], [2, 2])
    with pytest.raises(UserInputError, match="No customer bought twice"):
        fit_pareto_nbd([0] * 20, [0] * 20, np.linspace(1, 20, 20))
