"""Revenue and retention metrics against figures computed by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from csmetrics.config import Settings
from csmetrics.metrics.engine import data_end
from tests.metrics.revenue_fixtures import (
    data_through,
    insert,
    memory_warehouse,
    query,
    subscriptions,
    values,
)

MOVEMENTS = ["mrr", "net_new_mrr", "mrr_new", "mrr_expansion", "mrr_contraction",
             "mrr_churned", "mrr_reactivation"]

# A: upgrades mid-February; B: annual plan, cancels 5 March; C: joins in February;
# D: joins and leaves in January, returns in March.
STORY = [
    ("S1", "A", "pro", 100, "month", "2024-01-01", "2024-02-15"),
    ("S2", "A", "biz", 200, "month", "2024-02-15", None),
    ("S3", "B", "pro", 1200, "year", "2024-01-10", "2024-03-05"),
    ("S4", "C", "pro", 100, "month", "2024-02-01", None),
    ("S5", "D", "pro", 50, "month", "2024-01-01", "2024-01-20"),
    ("S6", "D", "pro", 50, "month", "2024-03-01", None),
]


@pytest.fixture
def story():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, STORY)
        data_through(warehouse, "2024-06-30")  # the last start is 1 March
        yield warehouse


def test_mrr_and_movements_month_by_month(story):
    got = query(story, MOVEMENTS, start="2024-01-01", end="2024-04-30")
    # Jan end: A 100 + B 1200/12 = 200 (D left on the 20th). Feb: A 200 + B 100 + C 100.
    # Mar: A 200 + C 100 + D 50 (B ended 5 March). Apr: unchanged.
    assert values(got, "mrr") == [200, 400, 350, 350]
    assert values(got, "mrr_new") == [200, 100, 0, 0]            # A+B in Jan, C in Feb
    assert values(got, "mrr_expansion") == [0, 100, 0, 0]        # A 100 -> 200
    assert values(got, "mrr_contraction") == [0, 0, 0, 0]
    assert values(got, "mrr_churned") == [0, 0, 100, 0]          # B
    assert values(got, "mrr_reactivation") == [0, 0, 50, 0]      # D had paid in January
    assert values(got, "net_new_mrr") == [200, 200, -50, 0]


def test_retention_rates_by_hand(story):
    got = query(story, ["nrr", "grr", "customer_churn_rate", "customer_retention_rate",
                        "gross_mrr_churn_rate", "net_mrr_churn_rate", "quick_ratio", "arpa",
                        "arr"], start="2024-01-01", end="2024-03-31")
    # January: nobody paid at the start -> every start-based rate is empty, with a reason
    jan = got[got.period_start.astype(str) == "2024-01-01"].set_index("metric")
    assert jan.loc["nrr", "null_reason"] == "no MRR at period start"
    assert jan.loc["customer_churn_rate", "null_reason"] == "no customers at period start"
    assert jan.loc["customer_churn_rate", "churned_within_period"] == 1   # D
    # February: cohort A+B = 200 -> 300 (A expanded): NRR 1.5, GRR 1.0
    assert values(got, "nrr")[1:] == [1.5, 0.75]   # March: A,B,C 400 -> 300
    assert values(got, "grr")[1:] == [1.0, 0.75]
    assert values(got, "customer_churn_rate")[1:] == [0.0, round(1 / 3, 6)]
    # March: CS 3 (A,B,C), CE 3 (A,C,D), CN 1 (D returned) -> (3 - 1) / 3
    assert values(got, "customer_retention_rate")[1:] == [1.0, round(2 / 3, 6)]
    assert values(got, "gross_mrr_churn_rate")[1:] == [0.0, 0.25]
    assert values(got, "net_mrr_churn_rate")[1:] == [-0.5, 0.25]
    assert values(got, "quick_ratio") == [None, None, 0.5]   # Mar: 50 reactivated / 100 lost
    assert values(got, "arpa") == [100, round(400 / 3, 6), round(350 / 3, 6)]
    assert values(got, "arr") == [2400, 4800, 4200]


def test_article_nrr_example_is_110_percent():
    # start 100,000; expansion 20,000; contraction 5,000; churn 5,000 -> 110 %
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("A1", "A", "p", 40_000, "month", "2023-06-01", "2024-01-15"),
            ("A2", "A", "p", 60_000, "month", "2024-01-15", None),
            ("B1", "B", "p", 30_000, "month", "2023-06-01", "2024-01-10"),
            ("B2", "B", "p", 25_000, "month", "2024-01-10", None),
            ("C1", "C", "p", 5_000, "month", "2023-06-01", "2024-01-20"),
            ("D1", "D", "p", 25_000, "month", "2023-06-01", None),
        ])
        got = query(warehouse, ["nrr", "mrr_expansion", "mrr_contraction", "mrr_churned"],
                    start="2024-01-01", end="2024-01-31")
    assert values(got, "mrr_expansion") == [20_000]
    assert values(got, "mrr_contraction") == [5_000]
    assert values(got, "mrr_churned") == [5_000]
    assert values(got, "nrr") == [1.1]


def test_article_churn_example_50_of_1000_is_5_percent():
    rows = [(f"S{i}", f"C{i}", "p", 10, "month", "2023-01-01",
             "2024-01-15" if i < 50 else None) for i in range(1000)]
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, rows)
        data_through(warehouse, "2024-01-31")
        got = query(warehouse, ["customer_churn_rate", "customer_retention_rate"],
                    start="2024-01-01", end="2024-01-31")
    churn = got[got.metric == "customer_churn_rate"].iloc[0]
    assert (churn.value, churn.n, churn.churned) == (0.05, 1000, 50)
    assert churn.annualised == pytest.approx(1 - 0.95 ** 12)
    assert values(got, "customer_retention_rate") == [0.95]


def test_article_retention_formula_ce_minus_cn_over_cs():
    # CS = 20, 4 leave, 6 new -> CE = 22, CN = 6: (22 - 6) / 20 = 80 %
    rows = [(f"S{i}", f"C{i}", "p", 10, "month", "2023-01-01",
             "2024-01-10" if i < 4 else None) for i in range(20)]
    rows += [(f"N{i}", f"N{i}", "p", 10, "month", "2024-01-05", None) for i in range(6)]
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, rows)
        got = query(warehouse, "customer_retention_rate", start="2024-01-01", end="2024-01-31")
    row = got.iloc[0]
    assert ((row.customers_start, row.customers_end, row.customers_new, row.value)
            == (20, 22, 6, 0.8))


def test_annual_quarterly_and_weekly_plans_are_normalised_to_monthly():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("Y", "A", "p", 1200, "year", "2024-01-01", None),      # 100
            ("Q", "B", "p", 300, "quarter", "2024-01-01", None),    # 100
            ("W", "C", "p", 120, "week", "2024-01-01", None),       # 120 x 52 / 12 = 520
        ])
        assert values(query(warehouse, "mrr", start="2024-01-01", end="2024-01-31"),
                      "mrr") == [720]


def test_upgrade_and_cancel_on_the_same_day_is_churn_of_the_starting_mrr():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "basic", 100, "month", "2023-12-01", "2024-01-10"),
            ("S2", "A", "pro", 300, "month", "2024-01-10", "2024-01-10"),  # never served
        ])
        got = query(warehouse, MOVEMENTS, start="2024-01-01", end="2024-01-31")
    assert values(got, "mrr_churned") == [100]
    assert values(got, "mrr_expansion") == [0]
    assert values(got, "mrr") == [0]


def test_mixed_currencies_convert_at_the_rate_in_force():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "p", 100, "month", "2024-01-01", None, "EUR"),
            ("S2", "B", "p", 100, "month", "2024-01-01", None, None),
        ], columns=(*("subscription_id", "customer_id", "plan", "amount", "billing_interval",
                      "start_date", "end_date"), "currency"))
        insert(warehouse, "exchange_rates", ("date", "currency", "rate_to_reporting"),
               [("2023-12-01", "EUR", 1.10), ("2024-02-10", "EUR", 1.20)])
        data_through(warehouse, "2024-02-29")
        got = query(warehouse, "mrr", start="2024-01-01", end="2024-02-29")
        assert values(got, "mrr") == [210, 220]
        at_start = Settings.from_mapping({"policy": {"currency_rate_at": "service_start"}})
        fixed = query(warehouse, "mrr", at_start, start="2024-01-01", end="2024-02-29")
        assert values(fixed, "mrr") == [210, 210]


def test_a_missing_rate_is_an_error_naming_currency_and_date():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [("S1", "A", "p", 100, "month", "2024-01-05", None, "GBP")],
                      columns=(*("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), "currency"))
        with pytest.raises(ValueError, match="GBP on 2024-01-05"):
            query(warehouse, "mrr", start="2024-01-01", end="2024-01-31")


def test_segments_filters_and_one_customer(story):
    insert(story, "customers", ("customer_id", "name", "started_at", "region"),
           [("E", "E", "2024-01-01", "EMEA")])
    story.sql.execute("UPDATE customers SET region = 'NA' WHERE customer_id IN ('A', 'C')")
    by_region = query(story, "mrr", start="2024-02-01", end="2024-02-29", by="region")
    assert {r.region: r.value for r in by_region.itertuples()} == {"NA": 300, "(none)": 100}
    na_only = query(story, "mrr", start="2024-02-01", end="2024-02-29", where={"region": "NA"})
    assert values(na_only, "mrr") == [300]
    one = query(story, "mrr", start="2024-02-01", end="2024-02-29", customer="A")
    assert values(one, "mrr") == [200]


def test_unknown_segment_is_refused_with_a_suggestion(story):
    with pytest.raises(ValueError, match="Did you mean 'region'"):
        query(story, "mrr", by="regoin")


def test_quarter_and_year_grains(story):
    got = query(story, ["mrr", "net_new_mrr"], period="quarter", start="2024-01-01",
                end="2024-06-30")
    assert values(got, "mrr") == [350, 350]
    assert values(got, "net_new_mrr") == [350, 0]


def test_empty_period_gives_zero_mrr_and_null_rates(story):
    got = query(story, ["mrr", "nrr"], start="2023-06-01", end="2023-06-30")  # before A-D
    assert values(got, "mrr") == [0]
    nrr = got[got.metric == "nrr"].iloc[0]
    assert nrr.n == 0 and nrr.null_reason == "no MRR at period start"


def test_without_subscriptions_mrr_is_unknown_not_zero():
    with memory_warehouse() as warehouse:
        got = query(warehouse, ["mrr", "nrr"], start="2024-01-01", end="2024-01-31")
    assert values(got, "mrr") == [None]
    assert got.set_index("metric").null_reason.to_dict() == {
        "mrr": "no subscriptions loaded: load subscriptions to see MRR",
        "nrr": "no subscriptions loaded: load subscriptions to see Net revenue retention"}


class TestPolicies:
    COLUMNS = ("subscription_id", "customer_id", "plan", "amount", "billing_interval",
               "start_date", "end_date", "canceled_at", "discount", "past_due_since")

    @pytest.fixture
    def warehouse(self):
        with memory_warehouse() as warehouse:
            subscriptions(warehouse, [
                # annual, asked to cancel in February, service runs to the term's end
                ("S1", "A", "p", 1200, "year", "2023-07-01", "2024-07-01", "2024-02-10", None,
                 None),
                # 20 a month off the list price
                ("S2", "B", "p", 100, "month", "2023-07-01", None, None, 20, None),
                # payment overdue since 10 January
                ("S3", "C", "p", 100, "month", "2023-07-01", None, None, None, "2024-01-10"),
                # a free plan
                ("S4", "D", "free", 0, "month", "2023-07-01", None, None, None, None),
            ], columns=self.COLUMNS)
            data_through(warehouse, "2024-03-31")
            yield warehouse

    def run(self, warehouse, policy):
        settings = Settings.from_mapping({"policy": policy})
        return query(warehouse, ["mrr", "customer_churn_rate"], settings,
                     start="2024-01-01", end="2024-03-31")

    def test_default(self, warehouse):
        got = self.run(warehouse, {})
        assert values(got, "mrr") == [280, 280, 280]   # 100 + 80 + 100
        assert values(got, "customer_churn_rate") == [0, 0, 0]

    def test_churn_at_cancellation(self, warehouse):
        got = self.run(warehouse, {"churn_recognition": "cancellation"})
        assert values(got, "mrr") == [280, 180, 180]
        assert values(got, "customer_churn_rate") == [0, round(1 / 3, 6), 0]

    def test_discounts_ignored(self, warehouse):
        assert values(self.run(warehouse, {"discounts": "ignore"}), "mrr") == [300, 300, 300]

    def test_delinquent_accounts_churn_after_30_days(self, warehouse):
        got = self.run(warehouse, {"delinquent_churn_days": 30})
        assert values(got, "mrr") == [280, 180, 180]   # C stops counting on 9 February

    def test_free_plans_as_customers(self, warehouse):
        paying = self.run(warehouse, {})
        free = self.run(warehouse, {"free_plans_are_customers": True})
        assert paying[paying.metric == "customer_churn_rate"].n.tolist() == [3, 3, 3]
        assert free[free.metric == "customer_churn_rate"].n.tolist() == [4, 4, 4]

    def test_stripe_preset(self, warehouse):
        got = self.run(warehouse, {"preset": "stripe"})
        # at cancellation (A gone in Feb) and C churned 30 days after falling due
        assert values(got, "mrr") == [280, 80, 80]


def test_within_period_churn_is_separate_by_default_and_counted_when_included():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "p", 10, "month", "2023-01-01", "2024-01-15"),
            ("S2", "B", "p", 10, "month", "2023-01-01", None),
            ("S3", "C", "p", 10, "month", "2024-01-05", "2024-01-25"),  # in and out in January
        ])
        default = query(warehouse, "customer_churn_rate", start="2024-01-01", end="2024-01-31")
        row = default.iloc[0]
        assert (row.value, row.churned, row.churned_within_period) == (0.5, 1, 1)
        included = query(warehouse, "customer_churn_rate",
                         Settings.from_mapping({"policy": {"within_period_churn": "include"}}),
                         start="2024-01-01", end="2024-01-31")
        assert included.iloc[0].value == 1.0


def test_short_gaps_are_not_churn_when_the_reactivation_window_says_so():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "p", 10, "month", "2023-01-01", "2024-01-25"),
            ("S2", "A", "p", 10, "month", "2024-02-05", None),   # back after 11 days
        ])
        plain = query(warehouse, ["mrr_churned", "mrr_reactivation"],
                      start="2024-01-01", end="2024-02-29")
        assert values(plain, "mrr_churned") == [10, 0]
        assert values(plain, "mrr_reactivation") == [0, 10]
        bridged = query(warehouse, ["mrr_churned", "mrr_reactivation"],
                        Settings.from_mapping({"policy": {"reactivation_min_gap_days": 14}}),
                        start="2024-01-01", end="2024-02-29")
        assert values(bridged, "mrr_churned") == [0, 0]
        assert values(bridged, "mrr_reactivation") == [0, 0]


def test_arpu_counts_paid_orders_and_ignores_refunds():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [("S1", "A", "p", 310, "month", "2023-01-01", None)])
        insert(warehouse, "customers", ("customer_id", "name", "started_at"),
               [("B", "B", "2023-01-01")])
        insert(warehouse, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
            ("O1", "B", "2024-01-31 23:30:00", 100, "paid"),
            ("O2", "B", "2024-01-12 10:00:00", 500, "refunded"),
            ("O3", "A", "2024-02-01 00:10:00", 50, "paid"),
        ])
        got = query(warehouse, "arpu", start="2024-01-01", end="2024-01-31")
    # A: 310 x 12 / 365 x 31 days = 315.8904; B: 100 -> (315.8904 + 100) / 2
    assert got.iloc[0].n == 2
    assert got.iloc[0].value == pytest.approx((310 * 12 / 365 * 31 + 100) / 2)


def test_renewal_rate_of_annual_contracts():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "p", 1200, "year", "2023-03-10", None),             # renews
            ("S2", "B", "p", 1200, "year", "2023-03-20", "2024-03-20"),     # does not
            ("S3", "C", "p", 1200, "year", "2023-03-01", "2024-03-01"),     # renews on a
            ("S4", "C", "p", 1500, "year", "2024-03-01", None),             # new contract
            ("S5", "D", "p", 100, "month", "2023-03-01", None),             # not a contract
        ])
        # the data speaks for March as a whole (ends scheduled later would be the future)
        got = query(warehouse, "renewal_rate", start="2024-02-01", end="2024-03-31",
                    as_of="2024-03-31")
    assert values(got, "renewal_rate") == [None, round(2 / 3, 6)]
    assert got.n.tolist() == [0, 3]


def test_downgrade_rate_counts_contractions_that_change_the_main_plan():
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            # A: pro 300 -> basic 100 on 10 Feb: a downgrade in February
            ("A1", "A", "pro", 300, "month", "2024-01-01", "2024-02-10"),
            ("A2", "A", "basic", 100, "month", "2024-02-10", None),
            # B: pro 300 -> pro 200 (fewer seats): contraction, same plan, no downgrade
            ("B1", "B", "pro", 300, "month", "2024-01-01", "2024-02-20"),
            ("B2", "B", "pro", 200, "month", "2024-02-20", None),
            # C: main line pro 300 plus add-on basic 50; drops the add-on: same main plan
            ("C1", "C", "pro", 300, "month", "2024-01-01", None),
            ("C2", "C", "basic", 50, "month", "2024-01-01", "2024-02-05"),
            # D: basic 100 -> pro 300: an upgrade; E: pro 300, churns in February
            ("D1", "D", "basic", 100, "month", "2024-01-01", "2024-02-01"),
            ("D2", "D", "pro", 300, "month", "2024-02-01", None),
            ("E1", "E", "pro", 300, "month", "2024-01-01", "2024-02-15"),
            # F: joins in February on basic (not a starting customer)
            ("F1", "F", "basic", 100, "month", "2024-02-01", None),
        ])
        warehouse.sql.execute("UPDATE customers SET region = CASE WHEN customer_id IN "
                              "('A', 'B', 'C') THEN 'EU' ELSE 'US' END")
        data_through(warehouse, "2024-03-31")
        got = query(warehouse, ["downgrade_rate", "mrr_contraction"], start="2024-02-01",
                    end="2024-03-31")
        by_region = query(warehouse, "downgrade_rate", start="2024-02-01", end="2024-02-29",
                          by="region")
    # February: 5 customers at its start (A-E); A, B and C contracted, only A changed its
    # main plan -> 1 / 5. March: nothing moves -> 0 of 5 starting customers (A-D, F).
    assert values(got, "downgrade_rate") == [0.2, 0.0]
    assert values(got, "mrr_contraction") == [200 + 100 + 50, 0]
    assert list(got[got.metric == "downgrade_rate"].n) == [5, 5]
    eu = by_region[by_region.region == "EU"].iloc[0]
    us = by_region[by_region.region == "US"].iloc[0]
    assert (eu.value, eu.n) == (pytest.approx(1 / 3), 3)
    assert (us.value, us.n) == (0.0, 2)


def test_the_data_end_is_the_latest_day_up_to_today():
    """A renewal booked for next year does not move the default end past today; a table whose
    every row lies ahead counts for nothing; timestamps count by their calendar day; CSM
    activities count as recorded data."""
    today = date(2024, 6, 10)
    ahead = (today + timedelta(days=400)).isoformat()
    with memory_warehouse() as warehouse:
        subscriptions(warehouse, [
            ("S1", "A", "pro", 100, "month", "2024-01-01", None),
            ("S2", "A", "pro", 100, "month", "2024-03-02", None),
            ("S3", "A", "pro", 100, "month", ahead, None),
        ])
        insert(warehouse, "tickets", ("ticket_id", "customer_id", "opened_at"),
               [("T1", "A", f"{ahead} 10:00:00")])
        assert data_end(warehouse.ibis, today) == date(2024, 3, 2)
        insert(warehouse, "tickets", ("ticket_id", "customer_id", "opened_at"),
               [("T2", "A", "2024-05-06 23:30:00")])
        assert data_end(warehouse.ibis, today) == date(2024, 5, 6)
        insert(warehouse, "activities", ("activity_id", "customer_id", "occurred_at", "kind"),
               [("A1", "A", "2024-05-20 09:00:00", "call")])
        assert data_end(warehouse.ibis, today) == date(2024, 5, 20)
        # the same data read on a later day: the booked renewal is now in the past
        assert data_end(warehouse.ibis, date(2025, 8, 1)) == date(2025, 7, 15)


def test_the_data_end_of_an_empty_warehouse_is_today():
    with memory_warehouse() as warehouse:
        assert data_end(warehouse.ibis, date(2030, 2, 28)) == date(2030, 2, 28)
