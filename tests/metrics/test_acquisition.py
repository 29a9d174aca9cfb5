"""Conversion rate against figures computed by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.metrics.engine import MetricRequest, compute
from tests.conftest import write_csv
from tests.metrics.test_purchases import rows, values
from tests.metrics.test_value import with_metrics

LEADS = ["lead_id", "created_at", "channel", "converted_at", "customer_id"]
TRAFFIC = ["date", "channel", "visitors"]

# L1 paid: created and converted in January; L2 paid: created in January, converted 2 Feb;
# L3 organic: never converts; L4 organic: created and converted on 1 Feb (23:59);
# L5 paid: created in February, open. No leads in March, only 10 visitors.
LEAD_ROWS = [
    ["L1", "2024-01-03 10:00:00", "paid", "2024-01-10 10:00:00", "C1"],
    ["L2", "2024-01-20 10:00:00", "paid", "2024-02-02 10:00:00", "C2"],
    ["L3", "2024-01-25 10:00:00", "organic", None, None],
    ["L4", "2024-02-01 09:00:00", "organic", "2024-02-01 23:59:00", "C4"],
    ["L5", "2024-02-10 10:00:00", "paid", None, None],
]
TRAFFIC_ROWS = [
    ["2024-01-01", "paid", 100], ["2024-01-15", "organic", 50],
    ["2024-02-01", "paid", 80], ["2024-02-02", "organic", 20],
    ["2024-03-05", "paid", 10],
]


@pytest.fixture
def funnel(ws: Workspace, tmp_path: Path) -> Workspace:
    ws.ingest("customers", [write_csv(
        tmp_path / "c.csv", ["customer_id", "name", "started_at", "region"],
        [["C1", "C1", "2024-01-10", "NA"], ["C2", "C2", "2024-02-02", "EMEA"],
         ["C4", "C4", "2024-02-01", "NA"]])])
    ws.ingest("leads", [write_csv(tmp_path / "l.csv", LEADS, LEAD_ROWS)])
    ws.ingest("traffic", [write_csv(tmp_path / "t.csv", TRAFFIC, TRAFFIC_ROWS)])
    return ws


def test_conversion_rate_over_leads_with_visitor_variant(funnel):
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-03-31"),
               "conversion_rate")
    # Jan: 3 leads created, 1 converted (L1); Feb: 2 created (L4, L5), 2 converted (L2, L4)
    assert values(got, "conversion_rate") == [round(1 / 3, 6), 1.0, None]
    assert list(got.n) == [3, 2, 0]
    assert list(got.conversions) == [1, 2, 0] and list(got.leads) == [3, 2, 0]
    # visitors: Jan 150, Feb 100, Mar 10 -> conversions / visitors
    assert list(got.visitors) == [150, 100, 10]
    assert values(got, "conversion_rate", "visitor_rate") == [round(1 / 150, 6), 0.02, 0.0]
    # cohort: of January's leads L1 and L2 had converted by 29 Feb (the query end); L3 not
    assert values(got, "conversion_rate", "cohort_rate")[:2] == [round(2 / 3, 6), 0.5]
    assert got.null_reason[2] == "no leads created in the period"


def test_conversion_rate_per_channel(funnel):
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-02-29",
                            by="channel"), "conversion_rate")
    jan = got[got.period_start.astype(str) == "2024-01-01"].set_index("channel")
    feb = got[got.period_start.astype(str) == "2024-02-01"].set_index("channel")
    assert (jan.loc["paid", "value"], jan.loc["paid", "visitors"]) == (0.5, 100)
    assert (jan.loc["organic", "value"], jan.loc["organic", "visitors"]) == (0.0, 50)
    assert feb.loc["paid", "value"] == 1.0       # L5 created, L2 converted
    assert feb.loc["organic", "value"] == 1.0    # L4 both, on 1 February at 23:59
    assert feb.loc["organic", "visitor_rate"] == pytest.approx(1 / 20)


def test_conversion_rate_over_visitors_option(funnel):
    with_metrics(funnel, conversion_denominator="visitors")
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-02-29"),
               "conversion_rate")
    assert values(got, "conversion_rate") == [round(1 / 150, 6), 0.02]
    assert list(got.n) == [150, 100]
    paid = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-01-31",
                             where={"channel": "paid"}), "conversion_rate").iloc[0]
    assert (paid.value, paid.n) == (0.01, 100)


def test_visitors_cannot_be_split_by_customer_attributes(funnel):
    with_metrics(funnel, conversion_denominator="visitors")
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-01-31",
                            by="region"), "conversion_rate")
    assert got.value.isna().all() and got.visitors.isna().all()
    assert got.null_reason.str.contains("only be split by channel").all()


def test_conversion_rate_by_region_knows_only_converted_leads(funnel):
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-01-31",
                            by="region", as_of="2024-01-31"), "conversion_rate").set_index("region")
    # January: L1 converted as C1 (NA). L2 becomes C2 (EMEA) only on 2 February, after the
    # query's as-of date (31 January), and L3 never converts: both are "(none)"
    assert got.loc["NA", "value"] == 1.0 and got.loc["NA", "n"] == 1
    assert got.loc["(none)", "value"] == 0.0 and got.loc["(none)", "n"] == 2
    assert "EMEA" not in got.index
    # seen from the end of February, L2's region is known
    later = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-02-29",
                              by="region"), "conversion_rate")
    later = later[later.period_start.astype(str) == "2024-01-01"].set_index("region")
    assert later.loc["EMEA", "n"] == 1 and later.loc["EMEA", "conversions"] == 0
    assert later.loc["(none)", "n"] == 1


def test_conversion_rate_as_of_ignores_later_conversions(funnel):
    got = rows(funnel.query("conversion_rate", start="2024-01-01", end="2024-01-31",
                            as_of="2024-01-31"), "conversion_rate").iloc[0]
    # L2 converts on 2 February: unknown on 31 January
    assert got.cohort_rate == pytest.approx(1 / 3)


def test_conversion_rate_on_an_empty_workspace_is_null(ws):
    got = rows(ws.query("conversion_rate", start="2024-01-01", end="2024-01-31"),
               "conversion_rate").iloc[0]
    assert pd.isna(got.value) and got.n == 0 and got.null_reason


@pytest.mark.parametrize("denominator", ["leads", "visitors"])
def test_conversion_stacked_as_refresh_does_equals_one_segmentation_at_a_time(funnel,
                                                                               denominator):
    with_metrics(funnel, conversion_denominator=denominator)
    segments = ("", "channel", "region")
    asked = MetricRequest.create("conversion_rate", start="2024-01-01", end="2024-03-31")
    stacked = compute(funnel.warehouse.ibis, funnel.settings, asked, stack=segments)
    columns = ["value", "n", "conversions", "leads", "visitors", "cohort_rate", "null_reason"]
    for by in segments:
        direct = funnel.query("conversion_rate", start="2024-01-01", end="2024-03-31",
                              by=by or None)
        direct["segment_value"] = direct[by] if by else ""
        mine = stacked[stacked.segment_by == by]
        keys = ["period_start", "segment_value"]
        merged = mine.merge(direct, on=keys, how="outer", indicator=True,
                            suffixes=("_stacked", "_direct"))
        assert (merged._merge == "both").all(), (by, merged[keys + ["_merge"]])
        for column in columns:
            left = merged[f"{column}_stacked"].astype(object).where(
                merged[f"{column}_stacked"].notna(), None)
            right = merged[f"{column}_direct"].astype(object).where(
                merged[f"{column}_direct"].notna(), None)
            assert left.tolist() == right.tolist(), (by, column)
    # visitors for the total and by channel only
    assert stacked[stacked.segment_by == "region"].visitors.isna().all()
    assert stacked[stacked.segment_by == "channel"].visitors.notna().any()
