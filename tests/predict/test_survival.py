"""Kaplan-Meier lifetime curves against a curve computed by hand."""

from __future__ import annotations

import math
from datetime import date

import pytest

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict.survival import (
    DAYS_PER_MONTH,
    expected_lifespan,
    lifespan_months,
    survival_curves,
)
from tests.metrics.revenue_fixtures import insert, memory_warehouse

AS_OF = date(2024, 12, 31)
M = DAYS_PER_MONTH


def _company():  # noqa: ANN202
    """Six customers, lifetimes in days (E = churned, C = censored on 2025-01-01):
    A 91 E, D 92 E, B 182 E, E 184 C, C 366 C, F 366 C (F's end is after the as-of day, so
    it is not known yet). A, B, C, F started in 2024-Q1, D and E in 2024-Q3."""
    wh = memory_warehouse()
    insert(wh, "customers", ("customer_id", "name", "started_at", "region"), [
        (c, c, "2024-01-01", "NA" if c in "ABC" else "EU") for c in "ABCDEF"])
    insert(wh, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), [
        ("sA", "A", "p", 10, "month", "2024-01-01", "2024-04-01"),
        ("sB", "B", "p", 10, "month", "2024-01-01", "2024-07-01"),
        ("sC", "C", "p", 10, "month", "2024-01-01", None),
        ("sD", "D", "p", 10, "month", "2024-07-01", "2024-10-01"),
        ("sE", "E", "p", 10, "month", "2024-07-01", None),
        ("sF", "F", "p", 10, "month", "2024-01-01", "2025-03-01"),
        ("sG", "G", "free", 0, "month", "2024-01-01", None),  # never paid: not a customer
    ])
    return wh


def test_kaplan_meier_by_hand() -> None:
    result = survival_curves(_company().ibis, Settings(), as_of=AS_OF)
    curve = result.curves.set_index("months")
    # S(91) = 5/6; S(92) = 5/6 * 4/5 = 4/6; S(182) = 4/6 * 3/4 = 1/2; then only censoring
    assert curve.loc[91 / M, "survival"] == pytest.approx(5 / 6)
    assert curve.loc[92 / M, "survival"] == pytest.approx(4 / 6)
    assert curve.loc[182 / M, "survival"] == pytest.approx(1 / 2)
    assert curve.loc[366 / M, "survival"] == pytest.approx(1 / 2)
    assert curve.loc[91 / M, "at_risk"] == 6 and curve.loc[182 / M, "at_risk"] == 4
    assert (curve["ci_lower"] <= curve["survival"] + 1e-12).all()
    assert (curve["survival"] <= curve["ci_upper"] + 1e-12).all()
    row = result.summary.iloc[0]
    assert (row["customers"], row["churned"]) == (6, 3)
    # lifelines' median is the first time S drops *below* 1/2; here it stays at exactly 1/2
    assert row["median_months"] is None
    # area: 91 x 1 + 1 x 5/6 + 90 x 4/6 + 2 x 1/2 + 182 x 1/2 days; tail 1/2 x 366 / ln 2
    area = 91 + 5 / 6 + 60 + 1 + 91
    tail = 0.5 * 366 / math.log(2)
    assert row["expected_lifespan_months"] == pytest.approx((area + tail) / M)
    # what CLV method 1 reads
    assert lifespan_months(_company().ibis, Settings(), as_of=AS_OF) == {
        "(all)": pytest.approx((area + tail) / M)}


def test_by_cohort_and_by_segment() -> None:
    wh = _company()
    cohorts = survival_curves(wh.ibis, Settings(), by="cohort", as_of=AS_OF).summary
    assert cohorts.set_index("segment")["customers"].to_dict() == {"2024-Q1": 4, "2024-Q3": 2}
    q3 = cohorts.set_index("segment").loc["2024-Q3"]
    assert q3["churned"] == 1  # D churns, E is censored
    regions = survival_curves(wh.ibis, Settings(), by="region", as_of=AS_OF).summary
    assert regions.set_index("segment")["churned"].to_dict() == {"EU": 1, "NA": 2}
    # NA: A 91 E, B 182 E, C 366 C -> S(91) = 2/3, S(182) = 1/3: the median is 182 days
    assert regions.set_index("segment").loc["NA", "median_months"] == pytest.approx(182 / M)


def test_as_of_hides_later_churn() -> None:
    # as of 2024-05-01 only A has churned; B's end (July) is not known yet
    result = survival_curves(_company().ibis, Settings(), as_of=date(2024, 5, 1))
    assert result.summary.iloc[0]["churned"] == 1
    assert result.summary.iloc[0]["customers"] == 4  # D, E start later


def test_expected_lifespan_edge_cases() -> None:
    assert expected_lifespan([0, 2, 4], [1, 0.5, 0]) == pytest.approx(2 + 1)
    assert expected_lifespan([0, 3], [1, 1]) == math.inf  # nobody churned: unbounded


def test_clear_errors() -> None:
    with pytest.raises(UserInputError, match="load subscriptions"):
        survival_curves(memory_warehouse().ibis, Settings(), as_of=AS_OF)
    with pytest.raises(UserInputError, match="not a customer column"):
        survival_curves(_company().ibis, Settings(), by="agent", as_of=AS_OF)


def test_clv_method_one_can_take_its_lifespan_from_the_survival_curve() -> None:
    """[metrics] lifespan_source = "survival": CLV = APV x frequency x KM expected lifespan."""
    from csmetrics.metrics import MetricRequest, compute
    from csmetrics.predict.service import survival

    wh = _company()
    insert(wh, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
        ("o1", "C", "2024-11-05 10:00:00", 100, "paid"),
        ("o2", "C", "2024-12-05 10:00:00", 300, "paid"),
    ])
    settings = Settings.from_mapping({"metrics": {"clv_method": 1,
                                                  "lifespan_source": "survival"}})
    request = MetricRequest.create("clv", start="2024-12-01", end="2024-12-31")
    before = compute(wh.ibis, settings, request).iloc[0]
    assert before.value != before.value and "run 'csmetrics survival'" in before.null_reason
    survival(wh, settings, None, AS_OF)
    row = compute(wh.ibis, settings, request).iloc[0]
    summary = survival_curves(wh.ibis, settings, as_of=AS_OF).summary.iloc[0]
    years = summary["expected_lifespan_months"] / 12
    assert row.lifespan_years == pytest.approx(years)
    assert row.value == pytest.approx(row.average_purchase_value * row.purchase_frequency * years)
