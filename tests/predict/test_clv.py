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
    rfm_summary,
)
from tests.metrics.revenue_fixtures import insert, memory_warehouse

DATA = Path(__file__).parent.parent / "data"  # see tests/data/CDNOW.md
CDNOW = DATA / "cdnow_customers_summary_with_transactions.csv"
CDNOW_RFT = DATA / "cdnow_customers_summary.csv"


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
    # T = Jan 1 .. end of Feb 11 = 42 days = 6 weeks, monetary = (30 + 50) / 2 = 40
    assert rows.loc["A"].to_dict() == {"frequency": 2, "recency": 4, "T": 6, "monetary": 40}
    # B: one purchase Jan 8: T = 35 days = 5 weeks
    assert rows.loc["B"].to_dict() == {"frequency": 0, "recency": 0, "T": 5, "monetary": 0}
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
    with pytest.raises(UserInputError, match="positive mean purchase value"):
        fit_gamma_gamma([1] * 12, [0.0] + [5.0] * 11)
    with pytest.raises(UserInputError, match="--time-unit"):
        rfm_summary(_shop().ibis, time_unit="year")
    with pytest.raises(UserInputError, match="no paid orders"):
        rfm_summary(memory_warehouse().ibis)
