"""Cohort tables on a three-cohort fixture, written out in full."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.errors import UserInputError
from csmetrics.metrics.cohorts import cohort_context, cohort_expr
from tests.conftest import write_csv

SUBS = ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "end_date"]
NAN = np.nan

# January cohort: A 100 (open); B 200 until 29 Feb; C 50 from 3 to 20 January, back on
#   15 April. February cohort: D 100, 300 from 1 April; E 100 from 20 February to 9 March.
# March cohort: F 400 (open). G has paid since December 2023: before the range, no cohort.
# H only ever had a free plan: never a paying customer, no cohort.
STORY = [
    ["A1", "A", "p", 100, "month", "2024-01-05", None],
    ["B1", "B", "p", 200, "month", "2024-01-10", "2024-03-01"],
    ["C1", "C", "p", 50, "month", "2024-01-03", "2024-01-21"],
    ["C2", "C", "p", 50, "month", "2024-04-15", None],
    ["D1", "D", "p", 100, "month", "2024-02-01", "2024-04-01"],
    ["D2", "D", "p", 300, "month", "2024-04-01", None],
    ["E1", "E", "p", 1200, "year", "2024-02-20", "2024-03-10"],
    ["F1", "F", "p", 400, "month", "2024-03-01", None],
    ["G1", "G", "p", 999, "month", "2023-12-01", None],
    ["H1", "H", "free", 0, "month", "2024-01-01", None],
]


@pytest.fixture
def story(ws: Workspace, tmp_path: Path) -> Workspace:
    people = sorted({row[1] for row in STORY})
    ws.ingest("customers", [write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at"],
                                      [[c, c, "2023-12-01"] for c in people])])
    ws.ingest("subscriptions", [write_csv(tmp_path / "s.csv", SUBS, STORY)])
    return ws


def frame(rows: dict[date, list[float]]) -> pd.DataFrame:
    expected = pd.DataFrame.from_dict(rows, orient="index",
                                      columns=["customers", 0, 1, 2, 3])
    expected.index.name = "cohort"
    expected["customers"] = expected["customers"].astype("int64")
    return expected


def test_logo_retention_table(story):
    got = story.cohorts("logo", start="2024-01-01", end="2024-04-30")
    # month ends: 31 Jan, 29 Feb, 31 Mar, 30 Apr
    # Jan (A, B, C): 31 Jan A B | 29 Feb A B | 31 Mar A | 30 Apr A C (C is back)
    # Feb (D, E):    29 Feb D E | 31 Mar D   | 30 Apr D
    # Mar (F):       31 Mar F   | 30 Apr F
    expected = frame({
        date(2024, 1, 1): [3, 2 / 3, 2 / 3, 1 / 3, 2 / 3],
        date(2024, 2, 1): [2, 1.0, 0.5, 0.5, NAN],
        date(2024, 3, 1): [1, 1.0, 1.0, NAN, NAN],
    })
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_revenue_retention_table(story):
    got = story.cohorts("revenue", start="2024-01-01", end="2024-04-30")
    # Jan: month 0 = A 100 + B 200 = 300 | 300 | A 100 | A 100 + C 50 = 150
    # Feb: month 0 = D 100 + E 1,200 / 12 = 200 | D 100 | D 300 (expansion: above 100 %)
    # Mar: 400 | 400
    expected = frame({
        date(2024, 1, 1): [3, 1.0, 1.0, 1 / 3, 0.5],
        date(2024, 2, 1): [2, 1.0, 0.5, 1.5, NAN],
        date(2024, 3, 1): [1, 1.0, 1.0, NAN, NAN],
    })
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_cohorts_follow_the_range(story):
    got = story.cohorts("logo", start="2024-02-01", end="2024-03-31")
    expected = frame({date(2024, 2, 1): [2, 1.0, 0.5, NAN, NAN],
                      date(2024, 3, 1): [1, 1.0, NAN, NAN, NAN]})
    pd.testing.assert_frame_equal(got, expected[["customers", 0, 1]], check_dtype=False)


def test_cohort_long_form_carries_sizes_and_mrr(story):
    ctx = cohort_context(story.warehouse.ibis, story.settings, "2024-01-01", "2024-02-29")
    long = story.warehouse.ibis.execute(cohort_expr(ctx, "revenue").order_by(
        ["cohort", "month"]))
    assert long[["month", "customers", "paying", "mrr", "mrr_0"]].values.tolist() == [
        [0, 3, 2, 300, 300], [1, 3, 2, 300, 300], [0, 2, 2, 200, 200]]


def test_churn_policy_applies_to_cohorts(story):
    story.warehouse.sql.execute(
        "UPDATE subscriptions SET canceled_at = DATE '2024-01-25' WHERE subscription_id = 'B1'")
    settings = story.settings.model_copy(update={"policy": story.settings.policy.model_copy(
        update={"churn_recognition": "cancellation"})})
    story.settings = settings
    got = story.cohorts("logo", start="2024-01-01", end="2024-01-31")
    assert got.loc[date(2024, 1, 1), 0] == pytest.approx(1 / 3)   # only A on 31 January


def test_unknown_kind_and_empty_range(story):
    with pytest.raises(UserInputError, match="not one of logo, revenue"):
        story.cohorts("logos", start="2024-01-01", end="2024-01-31")
    empty = story.cohorts("logo", start="2022-01-01", end="2022-03-31")
    assert empty.empty and list(empty.columns) == ["customers"]
