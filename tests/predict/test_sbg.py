"""Contractual retention: the sBG model against Fader & Hardie's published fits, a likelihood
and a DERL computed by hand, and survivor counts read from a tiny warehouse."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict.contractual import (
    billing_period,
    cohort_survivors,
    customer_periods,
    retention_fits,
)
from csmetrics.predict.sbg import SbgFit, fit_sbg, fit_sbg_lifetimes, sbg_log_likelihood
from csmetrics.predict.survival import lifetimes
from tests.conftest import run_cli, write_csv
from tests.metrics.revenue_fixtures import insert, memory_warehouse

# Fader & Hardie 2007, "How to Project Customer Retention", J. Interactive Marketing 21(1):
# the worked example's two segments, customers of a 1,000-strong cohort still active at the
# start of years 1..8, i.e. n_0 and the survivors after renewal periods 1..7 (the paper's
# calibration sample; it projects years 8-12 from the fit).
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]


# -- the model on arrays --------------------------------------------------------------------


@pytest.mark.parametrize(("counts", "alpha", "beta"), [
    (HIGH_END, 0.668, 3.806),  # FH 2007, published MLE for High End, years 1-7
    (REGULAR, 0.704, 1.182),   # FH 2007, published MLE for Regular, years 1-7
])
def test_fit_reproduces_fader_hardie_2007(counts: list[int], alpha: float, beta: float) -> None:
    """Fitted on n_0..n_7 (seven renewal periods, as the paper does before projecting to year
    12), the estimates match the published ones to the three printed decimals."""
    fit = fit_sbg(counts)
    assert (round(fit.alpha, 3), round(fit.beta, 3)) == (alpha, beta)
    assert (fit.n, fit.periods) == (1000, 7)
    assert fit.at_bound == []
    # the maximum: at the published (rounded) values the likelihood is a little lower
    at_published = sbg_log_likelihood(alpha, beta, counts)
    assert at_published <= fit.log_likelihood < at_published + 0.01
    # repeated at the same data: the same answer (no randomness in the fit)
    assert fit_sbg(counts) == fit


def _by_recursion(alpha: float, beta: float, top: int) -> tuple[np.ndarray, np.ndarray]:
    """P(T = t) for t = 1..top and S(t) for t = 0..top by FH 2007's recursions:
    P(T=1) = alpha/(alpha+beta), P(T=t) = (beta+t-2)/(alpha+beta+t-1) P(T=t-1),
    S(t) = S(t-1) - P(T=t)."""
    p = [alpha / (alpha + beta)]
    for t in range(2, top + 1):
        p.append(p[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    s = np.concatenate([[1.0], 1 - np.cumsum(p)])
    return np.array(p), s


def test_likelihood_and_queries_against_the_recursions() -> None:
    alpha, beta = 0.9, 2.5
    p, s = _by_recursion(alpha, beta, 20)
    # one cohort 10, 6, 4: 4 lost in period 1, 2 in period 2, 4 still paying after 2
    expected = 4 * math.log(p[0]) + 2 * math.log(p[1]) + 4 * math.log(s[2])
    assert sbg_log_likelihood(alpha, beta, [10, 6, 4]) == pytest.approx(expected, rel=1e-12)
    fit = SbgFit(alpha, beta, log_likelihood=0.0, n=10, periods=2)
    t = np.arange(21)
    assert fit.survival(t) == pytest.approx(s, rel=1e-10)
    assert fit.churn_probability(t[1:]) == pytest.approx(p, rel=1e-10)
    assert fit.retention(t[1:]) == pytest.approx(s[1:] / s[:-1], rel=1e-10)
    # retention rises with tenure: the sorting effect of a heterogeneous cohort
    assert np.all(np.diff(fit.retention(t[1:])) > 0)
    assert float(fit.survival(3.0)) == pytest.approx(s[3])  # a scalar works too


@pytest.mark.parametrize("renewals", [0, 1, 7])
@pytest.mark.parametrize("rate", [0.1, 0.02])
def test_derl_equals_the_discounted_sum_of_survival(renewals: int, rate: float) -> None:
    """DERL (FH 2010, eq. 6) against the sum it stands for, computed term by term: the next
    renewal (due now) undiscounted, each later one discounted once more per period,
    DERL(d | m) = sum_{t>=1} S(m + t) / S(m) / (1 + d)^(t - 1)."""
    fit = fit_sbg(HIGH_END)
    t = np.arange(1, 5_001)  # (1/1.02)^5000 < 1e-40: the tail is far below the tolerance
    x = 1 / (1 + rate)
    terms = fit.survival(renewals + t) / fit.survival(renewals) * x ** (t - 1)
    assert float(fit.derl(rate, renewals)) == pytest.approx(terms.sum(), rel=1e-9)
    # the paper writes it for "n - 1 renewals" with n = renewals + 1:
    # (beta + n - 1)/(alpha + beta + n - 1) 2F1(1, beta + n; alpha + beta + n; 1/(1+d))
    from scipy.special import hyp2f1

    n, a, b = renewals + 1, fit.alpha, fit.beta
    paper = (b + n - 1) / (a + b + n - 1) * hyp2f1(1, b + n, a + b + n, 1 / (1 + rate))
    assert float(fit.derl(rate, renewals)) == pytest.approx(paper, rel=1e-12)
    # discounting every renewal one period more (payments at the end of each period) gives
    # sum_{t>=1} S(m + t) / S(m) / (1 + d)^t, which is DERL / (1 + d)
    end_of_period = (fit.survival(renewals + t) / fit.survival(renewals) * x ** t).sum()
    assert float(fit.derl(rate, renewals)) / (1 + rate) == pytest.approx(end_of_period, rel=1e-9)


def test_expected_remaining_lifetime() -> None:
    # alpha > 1: a finite mean, (beta + m)/(alpha - 1); against the sum of S(m + t)/S(m)
    fit = SbgFit(3.0, 5.0, log_likelihood=0.0, n=1, periods=2)
    t = np.arange(1, 200_001)  # S(t) falls like t^-3: the tail is below 1e-9
    for m in (0, 4):
        direct = (fit.survival(m + t) / fit.survival(m)).sum()
        assert float(fit.expected_remaining_lifetime(m)) == pytest.approx((5 + m) / 2)
        assert direct == pytest.approx((5 + m) / 2, rel=1e-6)
        # DERL without discounting is the same expectation
        assert float(fit.derl(0.0, m)) == pytest.approx((5 + m) / 2)
    # alpha <= 1 (both FH 2007 segments): an unbounded mean, but a finite DERL
    heavy = fit_sbg(REGULAR)
    assert math.isinf(float(heavy.expected_remaining_lifetime(0)))
    assert math.isfinite(float(heavy.derl(0.1, 0)))


def test_several_cohorts_respect_right_censoring() -> None:
    """A younger cohort counts only for the periods it was observed in: its 743 survivors
    after 2 periods are still paying, not lost; the pooled fit is the fit of each customer's
    censored lifetime."""
    young = [1000, 869, 743]
    pooled = fit_sbg([HIGH_END, young])
    assert (pooled.n, pooled.periods) == (2000, 7)
    assert sbg_log_likelihood(pooled.alpha, pooled.beta, [HIGH_END, young]) == pytest.approx(
        sbg_log_likelihood(pooled.alpha, pooled.beta, HIGH_END)
        + sbg_log_likelihood(pooled.alpha, pooled.beta, young))
    periods, churned = [], []
    for counts in (HIGH_END, young):
        for t in range(1, len(counts)):
            lost = counts[t - 1] - counts[t]
            periods += [t] * lost
            churned += [1] * lost
        periods += [len(counts) - 1] * counts[-1]
        churned += [0] * counts[-1]
    by_customer = fit_sbg_lifetimes(periods, churned)
    assert by_customer.alpha == pytest.approx(pooled.alpha, rel=1e-6)
    assert by_customer.beta == pytest.approx(pooled.beta, rel=1e-6)
    assert by_customer.log_likelihood == pytest.approx(pooled.log_likelihood, rel=1e-9)
    # treating the young cohort's survivors as lost instead would be a different fit
    assert fit_sbg([HIGH_END, [1000, 869, 743, 0]]).alpha != pytest.approx(pooled.alpha)


@pytest.mark.parametrize(("counts", "message"), [
    ([1000, 869, 900, 653], r"cannot increase: n_2 = 900 > n_1 = 869"),
    ([1000, 869], r"at least 2 renewal periods"),
    ([1000], r"at least one period after"),
    ([], r"No survivor counts"),
    ([0, 0, 0], r"zero customers at the start"),
    ([10, 8.5, 7], r"whole numbers"),
    ([10, -1, -2], r"whole numbers"),
    ([10, 10, 10], r"Nobody left"),
    ([10, 0, 0], r"Nobody renewed"),
    ([[10, 8, 6], [5, 7]], r"cohort 2: survivor counts cannot increase"),
    (["a", "b"], r"must be numbers"),
])
def test_bad_counts_are_refused_with_the_fix(counts: list, message: str) -> None:
    with pytest.raises(UserInputError, match=message):
        fit_sbg(counts)


def test_bad_queries_and_lifetimes_are_refused() -> None:
    fit = fit_sbg(HIGH_END)
    with pytest.raises(UserInputError, match="discount rate per period"):
        fit.derl(-0.1)
    with pytest.raises(UserInputError, match="t counts renewal periods: 1 or more"):
        fit.retention(0)
    with pytest.raises(UserInputError, match="renewals counts renewal periods"):
        fit.derl(0.1, -1)
    with pytest.raises(UserInputError, match="at least 1 period"):
        fit_sbg_lifetimes([0, 2, 3], [1, 0, 1])
    with pytest.raises(UserInputError, match="same length"):
        fit_sbg_lifetimes([1, 2], [1])
    with pytest.raises(UserInputError, match="1 \\(left\\) or 0"):
        fit_sbg_lifetimes([1, 2], [2, 0])


# -- survivor counts from the warehouse ------------------------------------------------------

AS_OF = date(2024, 12, 31)


def _company():  # noqa: ANN202
    """Yearly subscribers (lifetimes in renewal years as of 2024-12-31):

    * 2021 cohort, observed 3 years (2021-03-01 + 3 y <= as-of < + 4 y): A left at its first
      renewal (T = 1), B at its second (T = 2), C still pays, D's end (2025) is not known yet:
      survivors 4, 3, 2, 2;
    * 2023 cohort, observed 1 year (F's start + 1 y = 2024-09-01): E left before its first
      renewal (T = 1), F pays: survivors 2, 1;
    * 2024 cohort (G): not observed for a full year yet, not counted;
    * H never paid, and I's service ended on its start day: neither is counted.
    A, B, C are in NA, the others in EU."""
    wh = memory_warehouse()
    insert(wh, "customers", ("customer_id", "name", "started_at", "region"), [
        (c, c, "2021-01-01", "NA" if c in "ABC" else "EU") for c in "ABCDEFGHI"])
    insert(wh, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), [
        ("sA", "A", "p", 120, "year", "2021-03-01", "2022-03-01"),
        ("sB", "B", "p", 120, "year", "2021-03-01", "2023-03-01"),
        ("sC", "C", "p", 120, "year", "2021-03-01", None),
        ("sD", "D", "p", 120, "year", "2021-03-01", "2025-03-01"),
        ("sE", "E", "p", 120, "year", "2023-06-01", "2024-01-01"),
        ("sF", "F", "p", 120, "year", "2023-09-01", None),
        ("sG", "G", "p", 120, "year", "2024-02-01", None),
        ("sH", "H", "free", 0, "year", "2021-03-01", None),
        ("sI", "I", "p", 120, "year", "2021-03-01", "2021-03-01"),
    ])
    return wh


def test_survivor_counts_per_start_cohort_by_hand() -> None:
    wh = _company()
    periods = customer_periods(lifetimes(wh.ibis, Settings(), AS_OF), AS_OF, "year")
    by_customer = periods.set_index("customer_id")[["cohort", "observed", "kept", "churned"]]
    assert by_customer.to_dict("index") == {
        "A": {"cohort": "2021", "observed": 3, "kept": 0, "churned": True},
        "B": {"cohort": "2021", "observed": 3, "kept": 1, "churned": True},
        "C": {"cohort": "2021", "observed": 3, "kept": 3, "churned": False},
        "D": {"cohort": "2021", "observed": 3, "kept": 3, "churned": False},
        "E": {"cohort": "2023", "observed": 1, "kept": 0, "churned": True},
        "F": {"cohort": "2023", "observed": 1, "kept": 1, "churned": False},
        "G": {"cohort": "2024", "observed": 0, "kept": 0, "churned": False},
    }
    cohorts = cohort_survivors(periods)
    assert cohorts[["cohort", "customers", "observed", "survivors"]].to_dict("records") == [
        {"cohort": "2021", "customers": 4, "observed": 3, "survivors": [4, 3, 2, 2]},
        {"cohort": "2023", "customers": 2, "observed": 1, "survivors": [2, 1]},
        {"cohort": "2024", "customers": 1, "observed": 0, "survivors": [1]},
    ]
    assert billing_period(wh.ibis, Settings(), AS_OF) == ("year", 1.0)


def test_an_earlier_as_of_censors_what_is_not_known_yet() -> None:
    """As of 2023-12-31 the 2021 cohort is observed for 2 years (B's end in March 2023 is
    known, D's is not), and the 2023 cohort for none: it is left out."""
    wh = _company()
    day = date(2023, 12, 31)
    cohorts = cohort_survivors(customer_periods(lifetimes(wh.ibis, Settings(), day), day,
                                                "year"))
    assert cohorts.set_index("cohort")["survivors"].to_dict() == {
        "2021": [4, 3, 2], "2023": [2]}


def test_retention_fits_per_group_are_the_fits_of_their_counts() -> None:
    wh = _company()
    everyone = retention_fits(wh.ibis, Settings(), as_of=AS_OF, horizon=2, discount_rate=0.1)
    assert (everyone.period, everyone.period_source) == (
        "year", "billing interval of 100% of paying customers")
    expected = fit_sbg([[4, 3, 2, 2], [2, 1]])
    row = everyone.summary.iloc[0]
    assert (row["group"], row["customers"], row["cohorts"], row["periods"]) == ("(all)", 6, 2, 3)
    assert row["alpha"] == pytest.approx(expected.alpha, rel=1e-9)
    assert row["beta"] == pytest.approx(expected.beta, rel=1e-9)
    assert row["derl"] == pytest.approx(float(expected.derl(0.1, 0)), rel=1e-9)
    assert row["retention_next"] == pytest.approx(float(expected.retention(4)))
    curve = everyone.curves
    observed = curve[curve["kind"] == "observed"]
    # pooled retention: period 1 both cohorts (3 + 1 of 4 + 2), then the 2021 cohort alone
    assert observed["observed_survival"].tolist() == pytest.approx([1, 4 / 6, 4 / 6 * 2 / 3,
                                                                    4 / 6 * 2 / 3])
    assert observed["customers"].tolist() == [6, 6, 4, 4]
    assert observed["fitted_survival"].tolist() == pytest.approx(
        expected.survival([0, 1, 2, 3]).tolist())
    projected = curve[curve["kind"] == "projected"]
    assert projected["period"].tolist() == [4, 5]
    assert projected["fitted_retention"].tolist() == pytest.approx(
        expected.retention([4, 5]).tolist())

    # per start cohort: the 2023 cohort has one period and the 2024 one none, so no fit
    cohorts = retention_fits(wh.ibis, Settings(), as_of=AS_OF, by="cohort", period="year")
    summary = cohorts.summary.set_index("group")
    assert summary.loc["2021", "alpha"] == pytest.approx(fit_sbg([4, 3, 2, 2]).alpha, rel=1e-9)
    assert "at least 2 renewal periods" in summary.loc["2023", "note"]
    assert math.isnan(summary.loc["2023", "alpha"])
    assert "No cohort observed for a full period yet" in summary.loc["2024", "note"]

    # per segment: each region's cohorts pooled
    regions = retention_fits(wh.ibis, Settings(), as_of=AS_OF, by="region", period="year")
    eu = regions.summary.set_index("group").loc["EU"]
    assert eu["alpha"] == pytest.approx(fit_sbg([[1, 1, 1, 1], [2, 1]]).alpha, rel=1e-9)


def test_retention_fits_refuse_bad_options() -> None:
    wh = _company()
    with pytest.raises(UserInputError, match="--period 'week'"):
        retention_fits(wh.ibis, Settings(), as_of=AS_OF, period="week")
    with pytest.raises(UserInputError, match="--horizon"):
        retention_fits(wh.ibis, Settings(), as_of=AS_OF, horizon=0)
    with pytest.raises(UserInputError, match="--discount-rate"):
        retention_fits(wh.ibis, Settings(), as_of=AS_OF, discount_rate=1.5)
    with pytest.raises(UserInputError, match="load subscriptions"):
        retention_fits(memory_warehouse().ibis, Settings(), as_of=AS_OF)


# -- the command ------------------------------------------------------------------------------


def test_predict_retention_command(tmp_path: Path) -> None:
    """The real command on a workspace loaded from files: the 2021 cohort of the tiny company
    above, counted in years, with DERL at 10 % a year."""
    folder = tmp_path / "ws"
    run_cli("init", str(folder), "--name", "Retention Co")
    w = ("--workspace", str(folder))
    customers = write_csv(tmp_path / "customers.csv", ["customer_id", "name", "started_at"],
                          [(c, c, "2021-03-01") for c in "ABCD"])
    subscriptions = write_csv(
        tmp_path / "subscriptions.csv",
        ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
         "end_date"],
        [("sA", "A", "p", 120, "year", "2021-03-01", "2022-03-01"),
         ("sB", "B", "p", 120, "year", "2021-03-01", "2023-03-01"),
         ("sC", "C", "p", 120, "year", "2021-03-01", None),
         ("sD", "D", "p", 120, "year", "2021-03-01", None)])
    run_cli("ingest", "customers", str(customers), *w)
    run_cli("ingest", "subscriptions", str(subscriptions), *w)

    out = json.loads(run_cli("predict", "retention", "--by", "cohort", "--as-of", "2024-12-31",
                             "--horizon", "3", "--format", "json", *w).stdout)
    assert (out["period"], out["period_source"]) == (
        "year", "billing interval of 100% of paying customers")
    [group] = out["groups"]
    expected = fit_sbg([4, 3, 2, 2])
    assert group["group"] == "2021" and group["customers"] == 4 and group["periods"] == 3
    assert group["alpha"] == pytest.approx(expected.alpha, rel=1e-6)
    assert group["beta"] == pytest.approx(expected.beta, rel=1e-6)
    assert group["derl"] == pytest.approx(float(expected.derl(0.1, 0)), rel=1e-6)
    assert [p["survivors"] for p in group["survival"]] == [4, 3, 2, 2]
    assert [p["observed_survival"] for p in group["survival"]] == pytest.approx(
        [1, 0.75, 0.5, 0.5])
    assert [p["period"] for p in group["projection"]] == [4, 5, 6]

    monthly = json.loads(run_cli("predict", "retention", "--period", "month", "--renewals",
                                 "2", "--discount-rate", "0.2", "--as-of", "2024-12-31",
                                 "--format", "json", *w).stdout)
    assert monthly["period_discount_rate"] == pytest.approx(1.2 ** (1 / 12) - 1)
    assert monthly["renewals"] == 2 and monthly["groups"][0]["periods"] == 45

    table = run_cli("predict", "retention", "--period", "year", "--as-of", "2024-12-31",
                    *w).stdout
    assert "Contractual retention (sBG) per year" in table and "(all)" in table
    csv_lines = run_cli("predict", "retention", "--period", "year", "--curve", "--as-of",
                        "2024-12-31", "--format", "csv", *w).stdout.splitlines()
    assert csv_lines[0].startswith("group,period,kind,customers,survivors,observed_survival")
    assert len(csv_lines) == 1 + 4 + 12  # header, periods 0-3 observed, 12 projected

    bad = run_cli("predict", "retention", "--horizon", "0", *w, check=False)
    assert bad.returncode == 2 and "--horizon counts periods" in bad.stderr
