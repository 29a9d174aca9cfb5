"""Honest time and missing data: partial periods flagged, periods after the data end empty
with their reason, metrics of tables without rows empty with what to load (not zero).

Every expected value is worked out by hand from the few rows each test loads; the clock is
pinned (``today``, ``CSMETRICS_NOW``)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.config import Settings
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.engine import unloaded_sources
from csmetrics.store import Warehouse
from tests.conftest import run_cli, write_csv
from tests.metrics.revenue_fixtures import insert, memory_warehouse, subscriptions

TODAY = date(2026, 7, 15)
#: The last subscription starts on 2026-05-20: the data ends there, inside May and Q2.
END = "2026-05-20"
ROWS = [
    ("s-a", "A", "pro", 100, "month", "2026-01-01", None),
    ("s-b", "B", "pro", 50, "month", "2026-02-01", "2026-12-31"),  # a scheduled end
    ("s-c", "C", "pro", 30, "month", END, None),
]


@pytest.fixture
def wh() -> Warehouse:
    warehouse = memory_warehouse()
    subscriptions(warehouse, ROWS)
    return warehouse


def run(wh: Warehouse, metrics: str | list[str], **request: object) -> pd.DataFrame:
    return compute(wh.ibis, Settings(), MetricRequest.create(metrics, **request),  # type: ignore[arg-type]
                   today=TODAY)


def rows(frame: pd.DataFrame, metric: str) -> list[tuple[str, float | None, bool, str | None]]:
    """(period start, value, partial, null_reason) of one metric, in period order."""
    part = frame[frame.metric == metric].sort_values("period_start")
    return [(str(r.period_start), None if pd.isna(r.value) else round(float(r.value), 6),
             bool(r.partial), None if pd.isna(r.null_reason) else r.null_reason)
            for r in part.itertuples()]


def test_a_quarter_the_data_ends_inside_is_partial_and_the_next_is_empty(wh: Warehouse) -> None:
    frame = run(wh, ["mrr", "nrr"], period="quarter", start="2026-01-01", end="2026-09-30")
    after = "after the data end 2026-05-20"
    # MRR at each quarter's last day: Q1 A + B = 150; Q2 (data ends 05-20) A + B + C = 180
    assert rows(frame, "mrr") == [("2026-01-01", 150.0, False, None),
                                  ("2026-04-01", 180.0, True, None),
                                  ("2026-07-01", None, False, after)]
    # NRR of Q2: MRR kept from the customers paying at its start (A, B): 150 / 150
    nrr = rows(frame, "nrr")
    assert nrr[1] == ("2026-04-01", 1.0, True, None)
    assert nrr[2] == ("2026-07-01", None, False, after)
    assert frame[frame.period_start == date(2026, 7, 1)]["n"].tolist() == [0, 0]


def test_asking_years_ahead_gives_no_value_instead_of_the_last_state(wh: Warehouse) -> None:
    frame = run(wh, ["mrr", "nrr"], start="2030-01-01", end="2030-12-31")
    assert len(frame) == 24
    assert frame["value"].isna().all()
    assert set(frame["null_reason"]) == {"after the data end 2026-05-20"}
    assert not frame["partial"].any()


def test_as_of_day_cuts_like_the_data_end(wh: Warehouse) -> None:
    frame = run(wh, "mrr", start="2026-02-01", end="2026-04-30", as_of="2026-03-15")
    # on 03-15 A and B pay (C starts later): February whole, March partial, April after it
    assert rows(frame, "mrr") == [("2026-02-01", 150.0, False, None),
                                  ("2026-03-01", 150.0, True, None),
                                  ("2026-04-01", None, False, "after the as-of day 2026-03-15")]


def test_a_metric_of_an_empty_table_says_what_to_load(wh: Warehouse) -> None:
    frame = run(wh, ["mau", "nps", "negative_comment_share", "arpu"], start="2026-01-01",
                end="2026-03-31")
    mau = rows(frame, "mau")
    reason = ("no usage_events loaded: load usage_events to see Monthly active users (MAU)")
    assert mau == [(day, None, False, reason) for day in ("2026-01-01", "2026-02-01",
                                                           "2026-03-01")]
    assert set(frame[frame.metric == "nps"]["null_reason"]) == {
        "no survey_responses loaded: load survey_responses to see Net Promoter Score"}
    assert set(frame[frame.metric == "negative_comment_share"]["null_reason"]) == {
        "no survey_responses or activities or feedback loaded: load survey_responses or "
        "activities or feedback to see Share of negative comments"}
    # ARPU reads subscriptions or orders: subscriptions alone are enough. March: A and B
    # earn 150 a month, 150 x 12 / 365 a day, over 31 days, per each of the 2 customers
    assert rows(frame, "arpu")[2][1] == round(150 * 12 / 365 * 31 / 2, 6)
    assert unloaded_sources(wh.ibis, ["mau", "arpu", "mrr"]) == {"mau": [("usage_events",)]}


def test_once_loaded_a_quiet_month_is_a_real_zero(wh: Warehouse) -> None:
    insert(wh, "usage_events", ("customer_id", "user_id", "occurred_at", "event"),
           [("A", "u1", "2026-03-10 09:00:00", "login")])
    frame = run(wh, "mau", start="2026-01-01", end="2026-03-31")
    mau = rows(frame, "mau")
    assert mau[0] == ("2026-01-01", 0.0, False, None)  # no one active in January: zero
    march = frame[frame.period_start == date(2026, 3, 1)].iloc[0]
    assert march["active_in_period"] == 1  # u1, once
    # u1 counts on each day from 03-10 to 03-31 (22 of 31 days) in the trailing 30 days
    assert round(float(march["value"]), 6) == round(22 / 31, 6)


SUB_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
              "start_date", "end_date"]


def company(folder: Path) -> Workspace:
    """A workspace loaded from files as a user would: three customers, their subscriptions,
    data ending on 2026-05-20."""
    folder.mkdir(parents=True, exist_ok=True)
    ws = Workspace.init(folder / "ws", name="Honest Co")
    ws.ingest("customers", [write_csv(folder / "customers.csv", ["customer_id", "name",
                                                                 "started_at"],
                                      [(c, c, "2026-01-01") for c in ("A", "B", "C")])])
    ws.ingest("subscriptions", [write_csv(folder / "subscriptions.csv", SUB_HEADER, ROWS)])
    return ws


def test_stored_results_carry_the_partial_flag_and_loading_a_table_recomputes(
        tmp_path: Path) -> None:
    ws = company(tmp_path)
    try:
        ws.refresh(grains=["quarter"])
        stored = ws.query(["mrr", "mau"], period="quarter", start="2026-01-01",
                          end="2026-05-20", stored=True)
        computed = ws.query(["mrr", "mau"], period="quarter", start="2026-01-01",
                            end="2026-05-20")
        assert stored["partial"].tolist() == computed["partial"].tolist() == [
            False, True, False, True]
        assert stored["null_reason"].tolist()[2:] == [
            "no usage_events loaded: load usage_events to see Monthly active users (MAU)"] * 2
        events = write_csv(tmp_path / "usage.csv", ["customer_id", "user_id", "occurred_at",
                                                    "event"],
                           [("A", "u1", "2026-03-10T09:00:00", "login")])
        ws.ingest("usage_events", [events])
        run_ = ws.refresh(grains=["quarter"])
        assert run_["mode"] == "full"
        assert "without rows got some" in str(run_["reason"])
        after = ws.query("mau", period="quarter", start="2026-01-01", end="2026-05-20",
                         stored=True)
        assert after["null_reason"].isna().all()
        assert after["value"].notna().all()
    finally:
        ws.close()


def test_cli_says_how_current_the_numbers_are_and_leaves_2030_empty(tmp_path: Path) -> None:
    ws = company(tmp_path)
    ws.close()
    folder = str(tmp_path / "ws")
    shown = run_cli("metrics", "show", "mrr", "nrr", "--from", "2030-01-01", "--to",
                    "2030-12-31", "-w", folder).stdout
    assert "after the data end 2026-05-20" in shown
    assert "100.0 %" not in shown and "180" not in shown
    assert "data through 2026-05-20 · never refreshed" in shown
    quarter = run_cli("metrics", "show", "mrr", "--period", "quarter", "--from", "2026-04-01",
                      "-w", folder).stdout
    assert "partial quarter: data through 2026-05-20" in quarter
    run_cli("refresh", "--period", "month", "-w", folder)
    kpis = run_cli("kpis", "-w", folder).stdout
    # CSMETRICS_NOW (tests/conftest.py) is 2026-07-15T10:00Z; the workspace's zone is UTC
    assert "data through 2026-05-20 · refreshed at 2026-07-15 10:00 UTC" in kpis
    assert "April 2026" in kpis  # the last month complete in the data
