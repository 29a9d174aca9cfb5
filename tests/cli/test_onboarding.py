"""Loading real tools' exports with the shipped mapping files, through the real CLI.

Expected values are read off the sample CSV files by hand (the line quoted beside each).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_cli, write_csv
from tests.samples import SAMPLE_FILES, build_sample_workspace, mapping_for, sample

#: A wide terminal, so the preview's table is not folded.
WIDE = {**os.environ, "COLUMNS": "250"}


@pytest.fixture(scope="module")
def sample_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample company, loaded once for this module."""
    return build_sample_workspace(tmp_path_factory.mktemp("onboarding"))


def rows(ws: Path, sql: str) -> list[tuple[object, ...]]:
    """Rows of a read-only query on the workspace's warehouse."""
    with duckdb.connect(str(ws / "csmetrics.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def metric(ws: Path, *args: str) -> list[dict[str, object]]:
    """``csmetrics metrics show ... --format json`` as rows."""
    out = run_cli("metrics", "show", *args, "--format", "json", "-w", str(ws)).stdout
    return json.loads(out)


def test_every_sample_loads_with_its_mapping(sample_ws):
    # data lines of each sample (wc -l minus the header)
    counts = {"customers": 60, "subscriptions": 73, "orders": 445, "tickets": 169,
              "survey_responses": 91, "usage_events": 0}
    for table, expected in counts.items():
        assert rows(sample_ws, f"SELECT count(*) FROM {table}") == [(expected,)], table
    assert [t for t, _ in SAMPLE_FILES] == [
        "customers", "subscriptions", "orders", "tickets", "survey_responses"]


def test_a_stripe_line_gives_its_mrr_to_the_cent(sample_ws):
    # stripe_subscriptions.csv: sub_aqOxILiBqt7irj, cus_CIhWmppTBblIWa, Starter, year, 490.00,
    # active since 2025-01-04 (the customer's only subscription): 490 / 12 = 40.83 a month
    got = metric(sample_ws, "mrr", "--customer", "cus_CIhWmppTBblIWa", "--from", "2026-06-01",
                 "--to", "2026-06-30")
    assert round(got[0]["value"], 2) == 40.83
    line = rows(sample_ws, "SELECT plan, amount, billing_interval, start_date, end_date, "
                           "currency FROM subscriptions WHERE subscription_id = "
                           "'sub_aqOxILiBqt7irj'")
    assert [tuple(map(str, r)) for r in line] == [
        ("Starter", "490.0000", "year", "2025-01-04", "None", "USD")]


def test_hubspot_companies_have_no_plan_and_keep_their_properties(sample_ws):
    # hubspot_companies.csv line 2: Delta Studio, Maria Lopez, Became a Customer 09/21/2025
    got = rows(sample_ws, "SELECT name, owner, started_at, plan, country, "
                          "attributes['Record ID'] FROM customers "
                          "WHERE customer_id = 'cus_38G4O5mnjaykj1'")
    assert [tuple(map(str, r)) for r in got] == [
        ("Delta Studio", "Maria Lopez", "2025-09-21", "None", "United States", "9100000000")]


def test_nps_answers_get_the_constant_survey_and_day_first_dates(sample_ws):
    # nps_responses.csv line 2: R00001, score 1, "Support took days to reply", 16/03/2025 13:03
    got = rows(sample_ws, "SELECT survey, score, scale_max, responded_at, comment "
                          "FROM survey_responses WHERE response_id = 'R00001'")
    assert [tuple(map(str, r)) for r in got] == [
        ("nps", "1.0", "10", "2025-03-16 13:03:00", "Support took days to reply")]
    assert rows(sample_ws, "SELECT DISTINCT survey FROM survey_responses") == [("nps",)]


def test_zendesk_first_reply_minutes_give_first_response_hours(sample_ws):
    # zendesk_tickets.csv lines 2-3, both of cus_pW7x8BBgeUrTcU in January 2025: 95 and 180
    # minutes to the first reply; the median is 137.5 minutes = 2.2917 hours
    got = rows(sample_ws, "SELECT opened_at, first_response_at, priority FROM tickets "
                          "WHERE ticket_id = '1001'")
    assert [tuple(map(str, r)) for r in got] == [
        ("2025-01-20 11:52:00", "2025-01-20 13:27:00", "high")]
    hours = metric(sample_ws, "time_to_first_response", "--customer", "cus_pW7x8BBgeUrTcU",
                   "--from", "2025-01-01", "--to", "2025-01-31")
    assert round(hours[0]["value"], 4) == round(137.5 / 60, 4)


def test_stripe_invoices_keep_unpaid_ones_as_failed(sample_ws):
    statuses = dict(rows(sample_ws, "SELECT status, count(*) FROM orders GROUP BY 1"))
    text = sample("stripe_invoices.csv").read_text()
    paid = sum(1 for line in text.splitlines()[1:] if line.split(",")[9] == "paid")
    assert statuses == {"paid": paid, "failed": 445 - paid}


def test_preview_shows_the_mapping_and_writes_nothing(sample_ws):
    before = rows(sample_ws, "SELECT count(*), max(batch_id) FROM _batches")
    export = sample("stripe_subscriptions.csv")
    result = run_cli("ingest", "subscriptions", str(export), "--mapping",
                     str(mapping_for(export.name)), "--preview", "-w", str(sample_ws),
                     env=WIDE)
    out = result.stdout
    assert "Product" in out and "→ plan" in out and "→ subscription_id" in out
    assert "sub_KWjrkyiNHntRjw" in out and "Scale" in out  # the first line, as it maps
    assert "No problems: 73 rows would load" in out
    assert rows(sample_ws, "SELECT count(*), max(batch_id) FROM _batches") == before


def test_preview_lists_the_problems_and_exits_non_zero(sample_ws, tmp_path):
    before = rows(sample_ws, "SELECT count(*) FROM subscriptions")
    bad = write_csv(tmp_path / "subs.csv",
                    ["id", "Customer ID", "Product", "Amount", "Interval", "Start (UTC)"],
                    [["s1", "cus_CIhWmppTBblIWa", "Growth", "199", "Quarterly", "2026-01-01 10:00"],
                     ["s2", "cus_CIhWmppTBblIWa", "Growth", "199", "Quarterly", "2026-01-01 10:00"],
                     ["s3", "cus_CIhWmppTBblIWa", "Growth", "199", "month", "2026-01-01 10:00"]])
    result = run_cli("ingest", "subscriptions", str(bad), "--mapping",
                     str(mapping_for("stripe_subscriptions.csv")), "--preview",
                     "-w", str(sample_ws), check=False, env=WIDE)
    assert result.returncode != 0
    assert "2 problems" in result.stdout
    assert ("lines 2, 3, column 'billing_interval': got 'Quarterly'" in result.stdout
            and '[values.billing_interval] "Quarterly" = "quarter"' in result.stdout)
    assert rows(sample_ws, "SELECT count(*) FROM subscriptions") == before
