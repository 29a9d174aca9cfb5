"""Purchase metrics against figures computed by hand on small literal fixtures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csmetrics import Workspace
from tests.conftest import write_csv
from tests.metrics.revenue_fixtures import data_through

CUSTOMERS = ["customer_id", "name", "started_at", "region"]
ORDERS = ["order_id", "customer_id", "ordered_at", "amount", "status", "currency"]
SUBS = ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "end_date"]
Y = 365.25

# A buys twice in January and once in February; B once (a second order is refunded, a
# third failed); C in February and at 23:59 on the last day of March; D never buys.
SHOP_CUSTOMERS = [
    ["A", "A", "2024-01-01", "NA"],
    ["B", "B", "2024-01-15", "EMEA"],
    ["C", "C", "2024-02-10", "NA"],
    ["D", "D", "2024-03-01", "NA"],
]
SHOP_ORDERS = [
    ["O1", "A", "2024-01-05 10:00:00", 100, "paid", None],
    ["O2", "A", "2024-01-20 09:00:00", 200, "paid", None],
    ["O3", "B", "2024-01-15 12:00:00", 50, "paid", None],
    ["O4", "B", "2024-02-03 12:00:00", 150, "refunded", None],
    ["O5", "C", "2024-02-10 08:00:00", 300, "paid", None],
    ["O6", "A", "2024-02-14 23:30:00", 60, "paid", None],
    ["O7", "C", "2024-03-31 23:59:00", 90, None, None],  # empty status = paid
    ["O8", "B", "2024-03-05 12:00:00", 40, "failed", None],
]


def load(ws: Workspace, tmp: Path, customers=(), orders=(), subs=(), rates=()) -> Workspace:
    ws.ingest("customers", [write_csv(tmp / "c.csv", CUSTOMERS, customers)])
    if rates:
        ws.ingest("exchange_rates", [write_csv(
            tmp / "r.csv", ["date", "currency", "rate_to_reporting"], rates)])
    if orders:
        ws.ingest("orders", [write_csv(tmp / "o.csv", ORDERS, orders)])
    if subs:
        ws.ingest("subscriptions", [write_csv(tmp / "s.csv", SUBS, subs)])
    return ws


def rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    return frame[frame.metric == metric].sort_values("period_start").reset_index(drop=True)


def values(frame: pd.DataFrame, metric: str, column: str = "value") -> list[float | None]:
    return [None if pd.isna(v) else round(float(v), 6) for v in rows(frame, metric)[column]]


@pytest.fixture
def shop(ws: Workspace, tmp_path: Path) -> Workspace:
    return load(ws, tmp_path, SHOP_CUSTOMERS, SHOP_ORDERS)


def test_repeat_purchase_rate_counts_paid_orders_up_to_the_period_end(shop):
    got = shop.query("repeat_purchase_rate", start="2024-01-01", end="2024-03-31")
    # Jan: A 2 orders, B 1 -> 1/2. Feb: A 3, B 1 (O4 refunded), C 1 -> 1/3.
    # Mar: A 3, B 1 (O8 failed), C 2 (O7 at 23:59 on 31 March is a March order) -> 2/3.
    assert values(got, "repeat_purchase_rate") == [0.5, round(1 / 3, 6), round(2 / 3, 6)]
    assert values(got, "repeat_purchase_rate", "n") == [2, 3, 3]
    assert values(got, "repeat_purchase_rate", "tier_1") == [0.5, round(2 / 3, 6),
                                                             round(1 / 3, 6)]
    assert values(got, "repeat_purchase_rate", "tier_2_5") == [0.5, round(1 / 3, 6),
                                                               round(2 / 3, 6)]
    assert values(got, "repeat_purchase_rate", "tier_6_10") == [0, 0, 0]
    # in the period only: Jan A 2 + B 1 -> 1/2; Feb A 1, C 1 -> 0; Mar C 1 -> 0
    assert values(got, "repeat_purchase_rate", "in_period") == [0.5, 0.0, 0.0]


def test_repeat_purchase_tiers_6_10_and_11_plus(ws, tmp_path):
    orders = [[f"E{i}", "E", f"2024-01-{i + 1:02d} 10:00:00", 10, "paid", None]
              for i in range(12)]
    orders += [[f"F{i}", "F", f"2024-01-{i + 1:02d} 10:00:00", 10, "paid", None]
               for i in range(7)]
    orders += [["G0", "G", "2024-01-02 10:00:00", 10, "paid", None]]
    load(ws, tmp_path, [["E", "E", "2024-01-01", "NA"], ["F", "F", "2024-01-01", "NA"],
                        ["G", "G", "2024-01-01", "NA"]], orders)
    got = ws.query("repeat_purchase_rate", start="2024-01-01", end="2024-01-31").iloc[0]
    third = pytest.approx(1 / 3)
    assert (got.tier_1, got.tier_2_5, got.tier_6_10, got.tier_11_plus) == (third, 0, third, third)
    assert got.value == pytest.approx(2 / 3)


def test_repeat_purchase_rate_without_buyers_is_null_with_a_reason(ws, tmp_path):
    load(ws, tmp_path, SHOP_CUSTOMERS, [["O1", "A", "2024-02-05 10:00:00", 100, "refunded",
                                         None]])
    got = rows(ws.query("repeat_purchase_rate", start="2024-01-01", end="2024-02-29"),
               "repeat_purchase_rate")
    assert got.value.isna().all() and (got.n == 0).all()
    assert set(got.null_reason) == {"no customer had a paid order"}


def test_average_purchase_value_leaves_refunds_and_failures_out(shop):
    data_through(shop, "2024-04-30")
    got = shop.query("average_purchase_value", start="2024-01-01", end="2024-04-30")
    # Jan (100 + 200 + 50) / 3; Feb (300 + 60) / 2, refunded O4 out; Mar 90 / 1, failed O8
    # out; April: no order -> null with a reason
    assert values(got, "average_purchase_value") == [round(350 / 3, 6), 180, 90, None]
    assert values(got, "average_purchase_value", "n") == [3, 2, 1, 0]
    assert values(got, "average_purchase_value", "customers")[:3] == [2, 2, 1]
    assert rows(got, "average_purchase_value").null_reason[3] == "no paid orders in the period"


def test_average_purchase_value_converts_currencies(ws, tmp_path):
    load(ws, tmp_path, SHOP_CUSTOMERS[:1], [
        ["O1", "A", "2024-01-05 10:00:00", 100, "paid", "EUR"],   # 100 x 1.10 = 110
        ["O2", "A", "2024-01-25 10:00:00", 100, "paid", "EUR"],   # 100 x 1.20 = 120
        ["O3", "A", "2024-01-26 10:00:00", 70, "paid", "USD"],
    ], rates=[["2023-12-01", "EUR", 1.1], ["2024-01-20", "EUR", 1.2]])
    got = ws.query("average_purchase_value", start="2024-01-01", end="2024-01-31")
    assert values(got, "average_purchase_value") == [100]   # (110 + 120 + 70) / 3


def test_average_purchase_value_by_segment_and_for_one_customer(shop):
    got = shop.query("average_purchase_value", start="2024-01-01", end="2024-01-31",
                     by="region")
    by = rows(got, "average_purchase_value").set_index("region")
    assert by.loc["NA", "value"] == 150 and by.loc["EMEA", "value"] == 50
    one = shop.query("average_purchase_value", start="2024-01-01", end="2024-01-31",
                     customer="B")
    assert values(one, "average_purchase_value") == [50]


def test_purchase_frequency_is_per_year_over_the_trailing_twelve_months(shop):
    got = shop.query("purchase_frequency", start="2024-01-01", end="2024-03-31")
    # 12 months to end Jan: 3 orders / 2 buyers; Feb: 5 / 3; Mar: 6 / 3
    assert values(got, "purchase_frequency") == [1.5, round(5 / 3, 6), 2]
    assert values(got, "purchase_frequency", "orders") == [3, 5, 6]
    # a year later: the window of February 2025 (1 Mar 2024 - 28 Feb 2025) holds only O7
    # (31 Mar 2024); the window of March 2025 starts on 1 Apr 2024 and holds nothing
    data_through(shop, "2025-03-31")
    later = shop.query("purchase_frequency", start="2025-02-01", end="2025-03-31")
    assert values(later, "purchase_frequency") == [1, None]


def test_customer_lifespan_of_buyers_is_first_day_to_last_order(shop):
    got = shop.query("customer_lifespan", start="2024-01-01", end="2024-02-29")
    # Jan: A 1 Jan -> last order 20 Jan (20 days), B 15 Jan -> 15 Jan (1 day)
    # Feb: A to 14 Feb (45 days), B 1 day (O4 refunded), C 10 Feb (1 day); D never bought
    assert values(got, "customer_lifespan") == [round(21 / 2 / Y, 6), round(47 / 3 / Y, 6)]
    assert values(got, "customer_lifespan", "n") == [2, 3]
    assert values(got, "customer_lifespan", "active") == [0, 0]


@pytest.fixture
def mixed(ws: Workspace, tmp_path: Path) -> Workspace:
    # P: monthly 100 through 2023, churned (end_date = first day without service).
    # Q: yearly 1,200 since 1 Jul 2023, still active; a refunded order in January.
    # R: one order of 500 on 10 Jan 2024, no subscription.
    return load(
        ws, tmp_path,
        [["P", "P", "2023-01-01", "NA"], ["Q", "Q", "2023-07-01", "NA"],
         ["R", "R", "2024-01-10", "EMEA"]],
        [["OQ", "Q", "2024-01-20 10:00:00", 300, "refunded", None],
         ["OR", "R", "2024-01-10 10:00:00", 500, "paid", None]],
        [["S1", "P", "basic", 100, "month", "2023-01-01", "2024-01-01"],
         ["S2", "Q", "pro", 1200, "year", "2023-07-01", None]],
    )


def test_customer_lifespan_censors_active_customers_at_the_period_end(mixed):
    got = rows(mixed.query("customer_lifespan", start="2024-01-01", end="2024-01-31"),
               "customer_lifespan").iloc[0]
    # P 1 Jan 2023 -> 31 Dec 2023 = 365 days; Q 1 Jul 2023 -> 31 Jan 2024 (still paying)
    # = 184 + 31 = 215 days; R 1 day
    assert got.value == pytest.approx((365 + 215 + 1) / 3 / Y)
    assert (got.n, got.active, got.churned) == (3, 1, 2)
    assert got.churned_mean == pytest.approx((365 + 1) / 2 / Y)


def test_total_cost_of_ownership_adds_recurring_and_one_time(mixed):
    got = rows(mixed.query("total_cost_of_ownership", start="2024-01-01", end="2024-01-31",
                           by="region"), "total_cost_of_ownership").set_index("region")
    # P: 100 x 12 x 365 / 365 = 1,200; Q: 1,200 / year x 215 / 365; R: 500 (the refunded
    # order of Q counts for nothing)
    p_paid, q_paid = 1200.0, 1200 * 215 / 365
    assert got.loc["NA", "value"] == pytest.approx((p_paid + q_paid) / 2)
    assert got.loc["NA", "per_year"] == pytest.approx((p_paid + q_paid) / ((365 + 215) / Y))
    assert got.loc["EMEA", "value"] == pytest.approx(500)
    assert got.loc["EMEA", "per_year"] == pytest.approx(500 * Y)
    total = rows(mixed.query("total_cost_of_ownership", start="2024-01-01", end="2024-01-31"),
                 "total_cost_of_ownership").iloc[0]
    assert total.value == pytest.approx((p_paid + q_paid + 500) / 3) and total.n == 3


def test_total_cost_of_ownership_before_anyone_paid_is_null(mixed):
    got = rows(mixed.query("total_cost_of_ownership", start="2022-01-01", end="2022-01-31"),
               "total_cost_of_ownership").iloc[0]
    assert pd.isna(got.value) and got.n == 0
    assert got.null_reason == "no customer had paid for anything by the period's end"


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(min_value=0, max_value=13), min_size=1, max_size=6))
def test_tiers_add_up_to_one_and_rate_matches_a_plain_count(tmp_path_factory, counts):
    tmp = tmp_path_factory.mktemp("tiers")
    customers = [[f"K{i}", f"K{i}", "2024-01-01", "NA"] for i in range(len(counts))]
    orders = [[f"K{i}-{j}", f"K{i}", f"2024-01-{j + 1:02d} 10:00:00", 5, "paid", None]
              for i, n in enumerate(counts) for j in range(n)]
    with Workspace.init(tmp / "ws") as ws:
        load(ws, tmp, customers, orders)
        got = ws.query("repeat_purchase_rate", start="2024-01-01", end="2024-01-31").iloc[0]
    buyers = [n for n in counts if n > 0]
    if not buyers:
        assert pd.isna(got.value) and got.n == 0
        return
    assert got.n == len(buyers)
    assert got.value == pytest.approx(sum(n > 1 for n in buyers) / len(buyers))
    tiers = got.tier_1 + got.tier_2_5 + got.tier_6_10 + got.tier_11_plus
    assert tiers == pytest.approx(1.0)
    assert got.tier_1 == pytest.approx(1 - got.value)
