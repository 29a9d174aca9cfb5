"""CLV, CAC, LTV : CAC, CAC payback and retention cost against figures computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.metrics import get_metric
from csmetrics.metrics.engine import MetricRequest, compute
from tests.conftest import write_csv
from tests.metrics.revenue_fixtures import data_through
from tests.metrics.test_purchases import SHOP_CUSTOMERS, SHOP_ORDERS, Y, rows, values
from tests.metrics.test_purchases import load as load_shop

CUSTOMERS = ["customer_id", "name", "started_at", "region", "acquisition_channel"]
SUBS = ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "end_date"]
COSTS = ["period_start", "period_end", "category", "amount", "channel", "currency"]


def load(ws: Workspace, tmp: Path, customers=(), subs=(), costs=(), rates=()) -> Workspace:
    ws.ingest("customers", [write_csv(tmp / "c.csv", CUSTOMERS, customers)])
    if rates:
        ws.ingest("exchange_rates", [write_csv(
            tmp / "r.csv", ["date", "currency", "rate_to_reporting"], rates)])
    if subs:
        ws.ingest("subscriptions", [write_csv(tmp / "s.csv", SUBS, subs)])
    if costs:
        ws.ingest("costs", [write_csv(tmp / "k.csv", COSTS, costs)])
    return ws


def with_metrics(ws: Workspace, **options: object) -> Workspace:
    ws.settings = ws.settings.model_copy(
        update={"metrics": ws.settings.metrics.model_copy(update=options)})
    return ws


# Ten customers pay 100 a month since 2023; two of them (K8, K9) leave on 10 February.
# Two new customers (N1, N2, channel paid) start on 1 February at 100 a month.
# Costs: 200 of marketing in February; 800 of support and 400 of customer success in
# February; nothing in January.
BOOK_CUSTOMERS = (
    [[f"K{i}", f"K{i}", "2023-01-01", "NA", "organic"] for i in range(10)]
    + [["N1", "N1", "2024-02-01", "EMEA", "paid"], ["N2", "N2", "2024-02-01", "EMEA", "paid"]]
)
BOOK_SUBS = (
    [[f"S{i}", f"K{i}", "basic", 100, "month", "2023-01-01", "2024-02-10" if i >= 8 else None]
     for i in range(10)]
    + [["SN1", "N1", "basic", 100, "month", "2024-02-01", None],
       ["SN2", "N2", "basic", 100, "month", "2024-02-01", None]]
)
BOOK_COSTS = [
    ["2024-02-01", "2024-02-29", "marketing", 200, None, None],
    ["2024-02-01", "2024-02-29", "support", 800, None, None],
    ["2024-02-01", "2024-02-29", "customer_success", 400, None, None],
]


@pytest.fixture
def book(ws: Workspace, tmp_path: Path) -> Workspace:
    return load(ws, tmp_path, BOOK_CUSTOMERS, BOOK_SUBS, BOOK_COSTS)


# -- CLV ------------------------------------------------------------------------------------


def test_clv_subscription_method_is_arpa_times_margin_over_churn(book):
    got = rows(book.query("clv", start="2024-01-01", end="2024-02-29"), "clv")
    # January: 10 customers at the start, nobody left -> null, never infinity
    assert pd.isna(got.value[0])
    assert got.null_reason[0] == ("no customer churned in the period, so the expected "
                                  "lifetime is unbounded")
    # February: churn 2 / 10 = 0.2; ARPA = 1,000 MRR / 10 customers = 100; margin 0.8
    # -> 100 x 0.8 / 0.2 = 400
    feb = got.iloc[1]
    assert (feb.value, feb.n, feb.method) == (pytest.approx(400), 10, 2)
    assert (feb.arpa, feb.gross_margin, feb.monthly_churn_rate) == (100, 0.8, 0.2)
    assert pd.isna(feb.average_purchase_value)


def test_clv_converts_a_quarterly_churn_rate_to_monthly(book):
    got = rows(book.query("clv", period="quarter", start="2024-01-01", end="2024-03-31"),
               "clv").iloc[0]
    # Q1: 10 at the start, 2 lost -> 0.2 per quarter -> 1 - 0.8^(1/3) per month
    monthly = 1 - 0.8 ** (1 / 3)
    assert got.monthly_churn_rate == pytest.approx(monthly)
    assert got.value == pytest.approx(100 * 0.8 / monthly)   # about 1,116


def test_clv_follows_the_gross_margin_setting(book):
    with_metrics(book, gross_margin=0.5)
    got = rows(book.query("clv", start="2024-02-01", end="2024-02-29"), "clv").iloc[0]
    assert got.value == pytest.approx(100 * 0.5 / 0.2)


def test_clv_without_customers_at_start_is_null_with_a_reason(book):
    got = rows(book.query("clv", start="2022-01-01", end="2022-01-31"), "clv").iloc[0]
    assert pd.isna(got.value) and got.null_reason


def test_clv_articles_formula_method_1(ws, tmp_path):
    load_shop(ws, tmp_path, SHOP_CUSTOMERS, SHOP_ORDERS)
    with_metrics(ws, clv_method=1)
    got = ws.query(["clv", "average_purchase_value", "purchase_frequency",
                    "customer_lifespan"], start="2024-02-01", end="2024-02-29")
    clv = rows(got, "clv").iloc[0]
    # February: APV (300 + 60) / 2 = 180; frequency 5 orders / 3 buyers; lifespan
    # (45 + 1 + 1) / 3 days -> 180 x 5/3 x 47 / 3 / 365.25
    assert clv.value == pytest.approx(180 * 5 / 3 * (47 / 3) / Y)
    assert clv.method == 1 and clv.n == 3
    # and it is exactly the product of the three metrics shown beside it
    product = (values(got, "average_purchase_value")[0] * values(got, "purchase_frequency")[0]
               * rows(got, "customer_lifespan").value[0])
    assert clv.value == pytest.approx(product)


def test_clv_method_1_without_orders_in_the_period_is_null(ws, tmp_path):
    load_shop(ws, tmp_path, SHOP_CUSTOMERS, SHOP_ORDERS)
    with_metrics(ws, clv_method=1)
    data_through(ws, "2024-04-30")
    got = rows(ws.query("clv", start="2024-04-01", end="2024-04-30"), "clv").iloc[0]
    assert pd.isna(got.value) and got.null_reason == "no paid orders in the period"


def test_clv_docstring_names_the_methods():
    description = get_metric("clv").description
    assert "Method 2" in description and "Method 1" in description
    assert "BG/NBD" in description and "not offered" in description


# -- CAC ------------------------------------------------------------------------------------


def test_article_cac_example_100000_over_1000_is_100(ws, tmp_path):
    customers = [[f"C{i}", f"C{i}", "2024-01-15", "NA", None] for i in range(1000)]
    load(ws, tmp_path, customers, costs=[
        ["2024-01-01", "2024-01-31", "marketing", 60_000, None, None],
        ["2024-01-01", "2024-01-31", "sales", 40_000, None, None],
        ["2024-01-01", "2024-01-31", "support", 7_000, None, None],     # not acquisition
    ])
    got = rows(ws.query("cac", start="2024-01-01", end="2024-01-31"), "cac").iloc[0]
    assert (got.value, got.n, got.spend) == (100, 1000, 100_000)


@pytest.fixture
def funnel(ws: Workspace, tmp_path: Path) -> Workspace:
    # January: 2 new customers; February: 3; March: none.
    customers = [
        ["A", "A", "2024-01-05", "NA", None], ["B", "B", "2024-01-31", "EMEA", None],
        ["C", "C", "2024-02-01", "NA", None], ["D", "D", "2024-02-15", "NA", None],
        ["E", "E", "2024-02-29", "EMEA", None], ["Z", "Z", "2023-12-31", "NA", None],
    ]
    costs = [
        ["2024-01-01", "2024-03-31", "marketing", 9_100, None, None],    # 91 days, 100 a day
        ["2024-01-16", "2024-02-14", "sales", 3_000, None, None],        # 30 days: 16 + 14
        ["2024-02-01", "2024-02-29", "customer_success", 5_000, None, None],
    ]
    return load(ws, tmp_path, customers, costs=costs)


def test_cac_prorates_costs_by_day(funnel):
    data_through(funnel, "2024-03-31")
    got = rows(funnel.query("cac", start="2024-01-01", end="2024-03-31"), "cac")
    # Jan: 9,100 x 31/91 = 3,100 + 3,000 x 16/30 = 1,600 -> 4,700 / 2
    # Feb: 9,100 x 29/91 = 2,900 + 3,000 x 14/30 = 1,400 -> 4,300 / 3
    # Mar: 3,100 spent, nobody acquired -> null with a reason, the spend still shown
    assert values(got, "cac") == [2350, round(4300 / 3, 6), None]
    assert list(got.n) == [2, 3, 0]
    assert values(got, "cac", "spend") == [4700, 4300, 3100]
    assert got.null_reason[2] == "no new customers in the period"


def test_cac_by_other_segments_is_the_blended_figure(funnel):
    got = rows(funnel.query("cac", start="2024-02-01", end="2024-02-29", by="region"), "cac")
    got = got.set_index("region")
    # costs carry no region: each new customer carries 4,300 / 3
    assert got.loc["NA", "value"] == pytest.approx(4300 / 3) and got.loc["NA", "n"] == 2
    assert got.loc["EMEA", "spend"] == pytest.approx(4300 / 3)


def test_cac_without_any_costs_loaded_is_unknown_not_zero(ws, tmp_path):
    # no costs at all: CAC is not 0 (nothing spent) but unknown, with what to load
    load(ws, tmp_path, [["A", "A", "2024-01-05", "NA", None]])
    got = rows(ws.query("cac", start="2024-01-01", end="2024-01-31"), "cac").iloc[0]
    assert pd.isna(got.value)
    assert got.null_reason == "no costs loaded: load costs to see Customer acquisition cost"


def test_cac_without_spend_in_the_period_is_zero(ws, tmp_path):
    load(ws, tmp_path, [["A", "A", "2024-01-05", "NA", None]],
         costs=[["2023-06-01", "2023-06-30", "marketing", 500, None, None]])
    assert values(ws.query("cac", start="2024-01-01", end="2024-01-31"), "cac") == [0]


def test_cac_converts_cost_currencies_at_the_cost_start(ws, tmp_path):
    load(ws, tmp_path, [["A", "A", "2024-01-05", "NA", None], ["B", "B", "2024-01-06", "NA",
                                                                 None]],
         costs=[["2024-01-01", "2024-01-31", "marketing", 1_000, None, "EUR"],   # x 1.1
                ["2024-01-01", "2024-01-31", "sales", 500, None, "USD"]],
         rates=[["2023-12-01", "EUR", 1.1], ["2024-02-01", "EUR", 2.0]])
    got = rows(ws.query("cac", start="2024-01-01", end="2024-01-31"), "cac").iloc[0]
    assert got.value == pytest.approx((1_100 + 500) / 2)


def test_cac_costs_in_a_currency_without_rate_are_refused_at_load(ws, tmp_path):
    with pytest.raises(ValueError, match=r"GBP.*2024-01-01.*exchange_rates") as refused:
        load(ws, tmp_path, [["A", "A", "2024-01-05", "NA", None]],
             costs=[["2024-01-01", "2024-01-31", "marketing", 1_000, None, "GBP"]])
    assert "costs" in str(refused.value)
    assert ws.table_counts()["costs"] == 0  # nothing of the refused file was written


@pytest.fixture
def channels(ws: Workspace, tmp_path: Path) -> Workspace:
    # January: 2 new paid customers, 1 organic, 1 without channel. Paid spent 1,000, the
    # "events" channel 500 (nobody came from it), and 800 has no channel (shared).
    customers = [
        ["P1", "P1", "2024-01-03", "NA", "paid"], ["P2", "P2", "2024-01-04", "EMEA", "paid"],
        ["O1", "O1", "2024-01-05", "NA", "organic"], ["X1", "X1", "2024-01-06", "NA", None],
    ]
    costs = [
        ["2024-01-01", "2024-01-31", "marketing", 1_000, "paid", None],
        ["2024-01-01", "2024-01-31", "marketing", 500, "events", None],
        ["2024-01-01", "2024-01-31", "sales", 800, None, None],
    ]
    return load(ws, tmp_path, customers, costs=costs)


def test_cac_per_channel_charges_channel_costs_and_shares_the_rest(channels):
    got = rows(channels.query("cac", start="2024-01-01", end="2024-01-31",
                              by="acquisition_channel"), "cac").set_index("acquisition_channel")
    # shared 800 / 4 new customers = 200 each; paid: 1,000 / 2 = 500 more
    assert got.loc["paid", "value"] == 700 and got.loc["paid", "n"] == 2
    assert got.loc["organic", "value"] == 200
    assert got.loc["(none)", "value"] == 200
    # events spent 500 and acquired nobody
    assert pd.isna(got.loc["events", "value"]) and got.loc["events", "spend"] == 500
    assert got.loc["events", "null_reason"] == "no new customers in the period"
    # the blended CAC counts every cost: (1,000 + 500 + 800) / 4
    total = rows(channels.query("cac", start="2024-01-01", end="2024-01-31"), "cac").iloc[0]
    assert total.value == pytest.approx(2_300 / 4)


COST_METRICS = ["cac", "ltv_cac_ratio", "cac_payback_months", "customer_retention_cost"]


@pytest.mark.parametrize("fixture", ["channels", "book"])
def test_cost_metrics_stacked_as_refresh_does_equal_one_segmentation_at_a_time(fixture, request):
    ws = request.getfixturevalue(fixture)
    segments = ("", "acquisition_channel", "region")
    asked = MetricRequest.create(COST_METRICS, start="2024-01-01", end="2024-02-29")
    stacked = compute(ws.warehouse.ibis, ws.settings, asked, stack=segments)
    for by in segments:
        direct = ws.query(COST_METRICS, start="2024-01-01", end="2024-02-29", by=by or None)
        direct["segment_value"] = direct[by] if by else ""
        mine = stacked[stacked.segment_by == by]
        keys = ["metric", "period_start", "segment_value"]
        merged = mine.merge(direct, on=keys, how="outer", indicator=True,
                            suffixes=("_stacked", "_direct"))
        # a stacked pass makes no row for a metric without any data at all (the direct query
        # fills every period in): such rows must be empty
        only_direct = merged[merged._merge == "right_only"]
        assert (only_direct.n_direct == 0).all() and only_direct.value_direct.isna().all(), by
        assert only_direct.spend_direct.fillna(0).eq(0).all(), by
        assert not (merged._merge == "left_only").any(), by
        merged = merged[merged._merge == "both"]
        assert (merged.n_stacked == merged.n_direct).all(), by
        for column in ("value", "spend"):
            assert np.allclose(merged[f"{column}_stacked"].astype(float),
                               merged[f"{column}_direct"].astype(float), equal_nan=True), by
        assert merged.null_reason_stacked.fillna("").eq(
            merged.null_reason_direct.fillna("")).all(), by
    # the channel that spent without acquiring anyone keeps its spend, stacked too
    if fixture == "channels":
        events = stacked[(stacked.metric == "cac") & (stacked.segment_value == "events")]
        assert events.spend.max() == 500 and events.n.max() == 0


def test_cac_filtered_to_a_channel_keeps_its_share_of_shared_costs(channels):
    got = rows(channels.query("cac", start="2024-01-01", end="2024-01-31",
                              where={"acquisition_channel": "paid"}), "cac").iloc[0]
    assert (got.value, got.n) == (700, 2)
    both = rows(channels.query("cac", start="2024-01-01", end="2024-01-31",
                               by=["acquisition_channel", "region"]), "cac")
    paid = both[both.acquisition_channel == "paid"].set_index("region")
    assert paid.loc["NA", "value"] == 700 and paid.loc["EMEA", "value"] == 700


# -- LTV : CAC and payback -----------------------------------------------------------------


def test_ltv_cac_ratio_and_payback(book):
    got = book.query(["ltv_cac_ratio", "cac_payback_months", "cac"], start="2024-01-01",
                     end="2024-02-29")
    # February: CLV 400 (see above); CAC = 200 marketing / 2 new customers = 100
    assert values(got, "cac") == [None, 100]
    ratio = rows(got, "ltv_cac_ratio")
    assert ratio.value[1] == pytest.approx(4.0) and (ratio.clv[1], ratio.cac[1]) == (400, 100)
    assert ratio.benchmark[1] == "at least 3 : 1"
    # January: no churn -> no CLV -> no ratio, with CLV's reason
    assert pd.isna(ratio.value[0]) and "unbounded" in ratio.null_reason[0]
    # payback: 100 / (ARPA 100 x margin 0.8) = 1.25 months
    assert values(got, "cac_payback_months") == [None, 1.25]
    assert rows(got, "cac_payback_months").null_reason[0] == "no new customers in the period"


def test_ltv_cac_ratio_without_acquisition_spend_is_null(book, tmp_path):
    book.warehouse.sql.execute("DELETE FROM costs WHERE category = 'marketing'")
    got = rows(book.query("ltv_cac_ratio", start="2024-02-01", end="2024-02-29"),
               "ltv_cac_ratio").iloc[0]
    assert pd.isna(got.value)
    assert got.null_reason == "no sales and marketing spend in the period"


# -- retention cost -------------------------------------------------------------------------


def test_customer_retention_cost_per_retained_customer(book):
    got = rows(book.query("customer_retention_cost", start="2024-01-01", end="2024-02-29"),
               "customer_retention_cost")
    # Jan: no retention spend, 10 retained -> 0. Feb: (800 + 400) / 8 retained (K0-K7)
    assert values(got, "customer_retention_cost") == [0, 150]
    assert list(got.n) == [10, 8]


def test_customer_retention_cost_per_all_customers_option(book):
    with_metrics(book, retention_cost_per="all")
    got = book.query("customer_retention_cost", start="2024-02-01", end="2024-02-29")
    # customers at the start or the end of February: K0-K9, N1, N2 = 12 -> 1,200 / 12
    assert values(got, "customer_retention_cost") == [100]
    assert values(got, "customer_retention_cost", "n") == [12]


def test_customer_retention_cost_by_region_is_the_same_cost_per_customer(book):
    got = rows(book.query("customer_retention_cost", start="2024-02-01", end="2024-02-29",
                          by="region"), "customer_retention_cost").set_index("region")
    assert got.loc["NA", "value"] == 150 and got.loc["NA", "n"] == 8
    filtered = book.query("customer_retention_cost", start="2024-02-01", end="2024-02-29",
                          where={"region": "NA"})
    assert values(filtered, "customer_retention_cost") == [150]


def test_customer_retention_cost_without_retained_customers_is_null(ws, tmp_path):
    load(ws, tmp_path, [["A", "A", "2024-01-05", "NA", None]],
         [["S", "A", "p", 100, "month", "2024-01-05", None]],
         [["2024-01-01", "2024-01-31", "support", 300, None, None]])
    got = rows(ws.query("customer_retention_cost", start="2024-01-01", end="2024-01-31"),
               "customer_retention_cost").iloc[0]
    assert pd.isna(got.value) and got.spend == 300
    assert got.null_reason == "no customers retained in the period"
