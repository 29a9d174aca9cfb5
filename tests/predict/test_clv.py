"""BG/NBD and Gamma-Gamma: the published CDNOW results, an exact tiny likelihood, RFM from
orders by hand, and clear errors when the data cannot support a fit."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics.errors import UserInputError
from csmetrics.predict.clv import (
    bgnbd_log_likelihood,
    clv,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    holdout,
    rfm_summary,
)
from tests.metrics.revenue_fixtures import insert, memory_warehouse

DATA = Path(__file__).parent.parent / "data"  # see tests/data/CDNOW.md
CDNOW = DATA / "cdnow_customers_summary_with_transactions.csv"
CDNOW_RFT = DATA / "cdnow_customers_summary.csv"
CDNOW_ORDERS = DATA / "cdnow_sample_orders.txt"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    """2,357 CDNOW customers with their mean repeat-purchase value, weeks."""
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_bg():  # noqa: ANN201
    rft = pd.read_csv(CDNOW_RFT)  # frequency, recency, T in weeks
    return fit_bgnbd(rft["frequency"], rft["recency"], rft["T"], time_unit="week")


def test_bgnbd_reproduces_fader_hardie_lee_2005(cdnow_bg) -> None:  # noqa: ANN001
    # Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way", section 5:
    # r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    assert cdnow_bg.r == pytest.approx(0.243, abs=0.0005)
    assert cdnow_bg.alpha == pytest.approx(4.414, abs=0.0005)
    assert cdnow_bg.a == pytest.approx(0.793, abs=0.0005)
    assert cdnow_bg.b == pytest.approx(2.426, abs=0.0005)
    assert cdnow_bg.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert cdnow_bg.n == 2357


def test_bgnbd_conditional_expectation_of_the_papers_example(cdnow_bg) -> None:  # noqa: ANN001
    # FHL 2005, section 5: a customer with x = 2, t_x = 30.43, T = 38.86 weeks is expected to
    # make 1.226 purchases in the next 39 weeks.
    expected = cdnow_bg.expected_purchases(39, np.array([2.0]), np.array([30.43]),
                                           np.array([38.86]))
    assert expected[0] == pytest.approx(1.226, abs=0.001)
    # a customer who never bought again is certainly alive in the BG/NBD model
    assert cdnow_bg.p_alive(np.array([0.0]), np.array([0.0]), np.array([38.86]))[0] == 1.0


def test_gamma_gamma_reproduces_fader_hardie_lee_iso_value_note(cdnow: pd.DataFrame) -> None:
    # Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-value Curves for Customer Base
    # Analysis", the spend model on the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44
    gg = fit_gamma_gamma(cdnow["x"], cdnow["zbar"])
    assert gg.n == 946
    assert gg.p == pytest.approx(6.25, abs=0.005)
    assert gg.q == pytest.approx(3.74, abs=0.01)
    assert gg.gamma == pytest.approx(15.44, abs=0.01)
    # the note's conditional expectation for customer 1 (x = 2, zbar = 22.35), as also
    # printed by the lifetimes docs: 24.66
    assert gg.expected_value(np.array([2.0]), np.array([22.35]))[0] == pytest.approx(24.66,
                                                                                    abs=0.01)


@pytest.fixture(scope="module")
def cdnow_orders():  # noqa: ANN201 - a Warehouse
    """The 2,357 customers' raw CDNOW orders (6,919 of 1997-01-01 to 1998-06-30) in a
    warehouse's orders table, all paid."""
    raw = pd.read_csv(CDNOW_ORDERS, sep=r"\s+", header=None,
                      names=["master_id", "customer_id", "day", "cds", "amount"],
                      dtype={"master_id": str, "customer_id": str, "day": str})
    raw["ordered_at"] = pd.to_datetime(raw["day"], format="%Y%m%d")
    raw["order_id"] = raw.index.astype(str)
    wh = memory_warehouse()
    wh.sql.register("raw_orders", raw)
    wh.sql.execute("INSERT INTO orders (order_id, customer_id, ordered_at, amount, status) "
                   "SELECT order_id, customer_id, ordered_at, amount, 'paid' FROM raw_orders")
    wh.sql.unregister("raw_orders")
    return wh


@pytest.fixture(scope="module")
def cdnow_from_orders(cdnow_orders) -> pd.DataFrame:  # noqa: ANN001
    """Their RFM by ``rfm_summary`` (several orders of a day are one purchase), calibration
    to 1997-09-30, in weeks, sorted by customer."""
    summary, until = rfm_summary(cdnow_orders.ibis, until=date(1997, 9, 30), time_unit="week")
    assert until == date(1997, 9, 30)
    return summary.sort_values("customer_id", ignore_index=True)


def test_rfm_from_raw_orders_is_the_papers_summary(cdnow_from_orders: pd.DataFrame,
                                                   cdnow: pd.DataFrame) -> None:
    # the published summary (2 decimals): T of a customer who first bought on 1997-01-01 is
    # 38.86 weeks, 272 days to the calibration end 1997-09-30 (not 273: T runs to that day)
    ours, published = cdnow_from_orders, cdnow.sort_values("ID", ignore_index=True)
    assert len(ours) == len(published) == 2357
    assert (ours["frequency"].to_numpy() == published["x"].to_numpy()).all()
    for mine, theirs in (("recency", "t_x"), ("T", "T"), ("monetary", "zbar")):
        assert np.abs(ours[mine].to_numpy() - published[theirs].to_numpy()).max() <= 0.005 + 1e-9


def test_bgnbd_from_raw_orders_reproduces_fader_hardie_lee_2005(
        cdnow_from_orders: pd.DataFrame) -> None:
    # FHL 2005, section 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    s = cdnow_from_orders
    bg = fit_bgnbd(s["frequency"], s["recency"], s["T"], time_unit="week")
    assert (round(bg.r, 3), round(bg.alpha, 3), round(bg.a, 3), round(bg.b, 3)) == (
        0.243, 4.414, 0.793, 2.426)
    assert round(bg.log_likelihood, 1) == -9582.4
    # the spend model from the same orders: p = 6.25, q = 3.74, gamma = 15.44 (FHL's note)
    gg = fit_gamma_gamma(s["frequency"], s["monetary"])
    assert (gg.n, round(gg.p, 2), round(gg.q, 2), round(gg.gamma, 2)) == (946, 6.25, 3.74,
                                                                          15.44)


def test_repeat_buyers_averaging_zero_are_left_out_of_the_spend_model(
        cdnow_from_orders: pd.DataFrame) -> None:
    s = cdnow_from_orders.copy()
    free = s.index[s["frequency"] > 0][:20]
    s.loc[free, "monetary"] = 0.0
    gg = fit_gamma_gamma(s["frequency"], s["monetary"])
    assert (gg.n, gg.left_out) == (926, 20)
    bg = fit_bgnbd(s["frequency"], s["recency"], s["T"], time_unit="week")
    table = clv(bg, gg, s, horizon_months=12, discount_rate=0.1)
    population = gg.p * gg.gamma / (gg.q - 1)
    zeros = table.loc[free, "expected_value"]
    # the formula at zbar = 0: the population mean, shrunk by the purchases seen
    weight = gg.p * s.loc[free, "frequency"] / (gg.p * s.loc[free, "frequency"] + gg.q - 1)
    assert np.allclose(zeros, (1 - weight) * population)
    assert (table["clv"] >= 0).all()


def test_purchase_count_distribution_of_a_new_customer(cdnow_bg) -> None:  # noqa: ANN001
    # P(X(t) = n) (FHL 2005, eq. 8) is a distribution whose mean is E[X(t)] (eq. 9), at any
    # t in the fit's unit, whole or not
    for t in (0.5, 13.0, 39.0, 78.25):
        n = np.arange(0, 2000)
        p = cdnow_bg.purchase_probability(n, t)
        assert (p >= 0).all() and p.sum() == pytest.approx(1, abs=1e-9)
        assert (n * p).sum() == pytest.approx(float(cdnow_bg.expected_purchases_new(t)),
                                              rel=1e-9)
    # the calibration period's histogram (FHL 2005, Figure 1): sum over customers of
    # P(X(T_i) = n); 1,411 customers made no repeat purchase
    rft = pd.read_csv(CDNOW_RFT)
    zero = sum(float(cdnow_bg.purchase_probability(0, T)) for T in rft["T"])
    assert zero == pytest.approx(1411, rel=0.01)
    # a new customer's expectation is the conditional one at x = t_x = T = 0
    assert float(cdnow_bg.expected_purchases_new(39)) == pytest.approx(
        cdnow_bg.expected_purchases(39, np.array([0.0]), np.array([0.0]), np.array([0.0]))[0])
    with pytest.raises(UserInputError, match="negative"):
        cdnow_bg.purchase_probability(-1, 39)


def test_log_likelihood_at_given_parameters(cdnow_bg) -> None:  # noqa: ANN001
    rft = pd.read_csv(CDNOW_RFT)
    assert cdnow_bg.log_likelihood_of(rft["frequency"], rft["recency"], rft["T"]) == (
        pytest.approx(cdnow_bg.log_likelihood, abs=1e-6))
    # the published parameters give the published LL (FHL 2005: -9582.4)
    assert bgnbd_log_likelihood((0.243, 4.414, 0.793, 2.426), rft["frequency"],
                                rft["recency"], rft["T"]).sum() == pytest.approx(-9582.4,
                                                                                 abs=0.1)


def test_holdout_compares_with_the_orders_after_the_calibration(cdnow_orders) -> None:  # noqa: ANN001
    check = holdout(cdnow_orders.ibis, until=date(1997, 9, 30), time_unit="week")
    assert check.end == date(1998, 6, 30)  # the last order
    # actual: purchase days after the calibration, counted here from the raw file
    raw = pd.read_csv(CDNOW_ORDERS, sep=r"\s+", header=None, dtype=str,
                      names=["master_id", "customer_id", "day", "cds", "amount"])
    later = raw[raw["day"] > "19970930"].drop_duplicates(["customer_id", "day"])
    assert check.totals()["actual"] == len(later)
    by_customer = check.customers.set_index("customer_id")
    assert by_customer["actual"].to_dict() == {
        c: int(later["customer_id"].eq(c).sum()) for c in by_customer.index}
    # predicted: 39 weeks ahead; FHL's customer 1 (x = 2, t_x = 30.43, T = 38.86): 1.226
    assert by_customer.loc["0001", "predicted"] == pytest.approx(1.226, abs=0.001)
    weekly = check.weekly
    assert list(weekly["week"]) == list(range(1, 40))
    assert weekly["actual"].is_monotonic_increasing
    assert weekly["predicted"].is_monotonic_increasing
    assert weekly["actual"].iloc[-1] == len(later)
    assert weekly["predicted"].iloc[-1] == pytest.approx(check.totals()["predicted"])
    with pytest.raises(UserInputError, match="No paid orders after"):
        holdout(cdnow_orders.ibis, until=date(1998, 6, 30))


def test_tiny_bgnbd_likelihood_is_exact() -> None:
    # r = alpha = a = b = 1.
    # x = 0, T = 1: L = B(1,1)/B(1,1) * 1 / (1 + 1)^1 = 1/2
    # x = 1, t_x = 1, T = 2: L = B(1,2)/B(1,1) * G(2) / 3^2 + B(2,1)/B(1,1) * G(2) / 2^2
    #                          = 1/2 * 1/9 + 1/2 * 1/4 = 13/72
    ll = bgnbd_log_likelihood((1, 1, 1, 1), np.array([0, 1]), np.array([0, 1]),
                              np.array([1, 2]))
    assert ll[0] == pytest.approx(math.log(1 / 2), rel=1e-12)
    assert ll[1] == pytest.approx(math.log(13 / 72), rel=1e-12)


def test_tiny_gamma_gamma_likelihood_is_exact() -> None:
    # p = q = gamma = 1, one purchase (x = 1) of value z = 1: the marginal density of z is
    # G(2)/(G(1)G(1)) * 1 * z^0 * 1 / (1 + z)^2 = 1/4
    ll = gamma_gamma_log_likelihood((1, 1, 1), np.array([1.0]), np.array([1.0]))
    assert ll[0] == pytest.approx(math.log(1 / 4), rel=1e-12)


def test_clv_discounts_each_month(cdnow: pd.DataFrame, cdnow_bg) -> None:  # noqa: ANN001
    summary = cdnow.rename(columns={"x": "frequency", "t_x": "recency", "zbar": "monetary"})
    gg = fit_gamma_gamma(summary["frequency"], summary["monetary"])
    undiscounted = clv(cdnow_bg, gg, summary.head(3), horizon_months=12, discount_rate=0.0)
    discounted = clv(cdnow_bg, gg, summary.head(3), horizon_months=12, discount_rate=0.1)
    # without discounting, CLV = expected purchases in 12 months x expected value
    assert np.allclose(undiscounted["clv"],
                       undiscounted["expected_purchases"] * undiscounted["expected_value"])
    assert (discounted["clv"] < undiscounted["clv"]).all()
    assert (discounted["clv"] > undiscounted["clv"] / 1.1).all()


# -- RFM from the orders table, by hand ---------------------------------------------------

ORDERS = ("order_id", "customer_id", "ordered_at", "amount", "status")


def _shop():  # noqa: ANN202
    wh = memory_warehouse()
    insert(wh, "customers", ("customer_id", "name", "started_at"),
           [("A", "A", "2024-01-01"), ("B", "B", "2024-01-01")])
    insert(wh, "orders", ORDERS, [
        ("1", "A", "2024-01-01 09:00:00", 10, "paid"),
        ("2", "A", "2024-01-01 17:00:00", 5, "paid"),      # same day: one purchase of 15
        ("3", "A", "2024-01-15 10:00:00", 30, None),        # empty status = paid
        ("4", "A", "2024-01-29 10:00:00", 50, "paid"),
        ("5", "A", "2024-02-05 10:00:00", 99, "refunded"),  # not a purchase
        ("6", "B", "2024-01-08 10:00:00", 20, "paid"),
        ("7", "B", "2024-01-20 10:00:00", 7, "failed"),     # not a purchase
        ("8", "A", "2024-03-01 10:00:00", 70, "paid"),      # after --until: unknown then
    ])
    return wh


def test_rfm_summary_by_hand() -> None:
    wh = _shop()
    summary, until = rfm_summary(wh.ibis, until=date(2024, 2, 11), time_unit="week")
    assert until == date(2024, 2, 11)
    rows = summary.set_index("customer_id")
    # A: purchase days Jan 1, Jan 15, Jan 29 -> 2 repeats, recency 28 days = 4 weeks,
    # T = Jan 1 .. Feb 11 = 41 days (FHL count days between, as recency does), monetary =
    # (30 + 50) / 2 = 40
    assert rows.loc["A"].to_dict() == {"frequency": 2, "recency": 4, "T": 41 / 7,
                                       "monetary": 40}
    # B: one purchase Jan 8: T = 34 days
    assert rows.loc["B"].to_dict() == {"frequency": 0, "recency": 0, "T": 34 / 7,
                                       "monetary": 0}
    # default end = the last paid order (Mar 1), which then counts for A
    summary, until = rfm_summary(wh.ibis, time_unit="day")
    assert until == date(2024, 3, 1)
    assert summary.set_index("customer_id").loc["A", "frequency"] == 3


def test_errors_when_the_data_cannot_support_a_fit() -> None:
    with pytest.raises(UserInputError, match="at least 10 customers"):
        fit_bgnbd([1, 0], [1, 0], [2, 2])
    with pytest.raises(UserInputError, match="No customer bought twice"):
        fit_bgnbd([0] * 20, [0] * 20, np.linspace(1, 20, 20))
    with pytest.raises(UserInputError, match="between 0 and T"):
        fit_bgnbd([1] * 20, [5] * 20, [3] * 20)
    with pytest.raises(UserInputError, match="at least 10 repeat buyers"):
        fit_gamma_gamma([1, 2, 0], [5.0, 6.0, 0.0])
    with pytest.raises(UserInputError, match="same mean purchase value"):
        fit_gamma_gamma([1] * 12, [5.0] * 12)
    with pytest.raises(UserInputError, match=r"found 9 \(3 more average \$0"):
        fit_gamma_gamma([1] * 12, [0.0] * 3 + [5.0, 6.0] * 4 + [7.0])
    with pytest.raises(UserInputError, match="--time-unit"):
        rfm_summary(_shop().ibis, time_unit="year")
    with pytest.raises(UserInputError, match="no paid orders"):
        rfm_summary(memory_warehouse().ibis)
