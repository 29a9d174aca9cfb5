"""The backtest on a company whose answer is worked out by hand; history snapshots."""

from __future__ import annotations

from datetime import date

import pytest

from csmetrics import Workspace
from csmetrics.errors import UserInputError
from csmetrics.health.history import schedule
from tests.metrics.revenue_fixtures import insert

D1, D2 = date(2025, 1, 31), date(2025, 3, 31)
# One component: the last CSM activity's sentiment. Positive -> 100 (green), negative -> 0 (red).
SENTIMENT_ONLY = """
[components.csm_sentiment]
weight = 1
thresholds = [[-1, 0], [0, 50], [1, 100]]
"""
ACCOUNTS = [  # customer, sentiment, end of service (None = still paying)
    ("P1", "positive", None), ("P2", "positive", None), ("P3", "positive", None),
    ("P4", "positive", "2025-04-20"),  # churns within 30 days of D2
    ("N1", "negative", "2025-02-15"),  # churns within 30 days of D1
    ("N2", "negative", "2025-04-10"),  # churns within 30 days of D2 (not of D1)
    ("N3", "negative", None),
]


@pytest.fixture
def company(ws: Workspace) -> Workspace:
    (ws.root / "health.toml").write_text(SENTIMENT_ONLY, encoding="utf-8")
    w = ws.warehouse
    insert(w, "customers", ("customer_id", "name", "started_at"),
           [(c, c, "2024-01-01") for c, _, _ in ACCOUNTS])
    insert(w, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                "billing_interval", "start_date", "end_date"),
           [(f"S{c}", c, "pro", 100, "month", "2024-01-01", end) for c, _, end in ACCOUNTS])
    insert(w, "activities", ("activity_id", "customer_id", "occurred_at", "kind", "sentiment"),
           [(f"A{c}", c, "2024-12-01 10:00:00", "call", s) for c, s, _ in ACCOUNTS])
    # the data runs to 2025-05-31, so both snapshots' 30-day outcomes are known
    insert(w, "usage_events", ("customer_id", "user_id", "occurred_at", "event"),
           [("P1", "u1", "2025-05-31 10:00:00", "login")])
    return ws


def test_backtest_matches_the_hand_computed_answer(company: Workspace) -> None:
    company.health_snapshot(D1)
    company.health_snapshot(D2)
    b = company.health_backtest(horizon_days=30)
    assert b.dates == [D1, D2]
    # D1: P1-P4 (100), N1, N2, N3 (0); N1 churned.  D2: P1-P4 (100), N2, N3 (0); P4, N2 churned.
    assert (b.observations, b.churned) == (13, 3)
    # Pairs churner x stayer = 3 x 10. The two churners at 0 beat the seven stayers at 100 and
    # tie the three at 0 (14 + 3); the churner at 100 ties seven (3.5): 20.5 / 30.
    assert b.auc == pytest.approx(20.5 / 30)
    bands = b.bands.set_index("band")
    assert bands.loc["red", ["accounts", "churned"]].tolist() == [5, 2]
    assert bands.loc["green", ["accounts", "churned"]].tolist() == [8, 1]
    assert b.lift == pytest.approx((2 / 5) / (1 / 8))
    rw = b.reweighting
    assert rw is not None
    assert (rw.train_dates, rw.test_dates) == ([D1], [D2])
    assert rw.weights == {"csm_sentiment": 100.0}
    # D2 alone: churners N2 (0), P4 (100) x stayers P1-P3 (100), N3 (0): (3 + .5 + 1.5) / 8
    assert rw.auc_current_test == pytest.approx(5 / 8)
    assert rw.auc_suggested_test == pytest.approx(5 / 8)


def test_snapshots_whose_outcome_is_not_known_yet_are_left_out(company: Workspace) -> None:
    company.health_snapshot(D2)
    company.health_snapshot(date(2025, 5, 15))
    b = company.health_backtest(horizon_days=30)
    assert b.dates == [D2] and b.skipped_dates == [date(2025, 5, 15)]
    assert b.reweighting is None
    assert any("not in the data yet" in n for n in b.notes)
    assert any("at least two snapshot dates" in n for n in b.notes)


def test_backtest_without_snapshots_says_how_to_make_them(company: Workspace) -> None:
    with pytest.raises(UserInputError, match="health history --rebuild"):
        company.health_backtest()


def test_a_snapshot_replaces_its_date_and_keeps_the_others(company: Workspace) -> None:
    company.health_snapshot(D1)
    company.health_snapshot(D2)
    company.health_snapshot(D2)
    history = company.health_history()
    assert history.groupby("as_of").size().tolist() == [7, 6]
    assert company.health_history("N1")["score"].tolist() == [0.0]
    # the change since the last snapshot before the day
    listed = company.health(D2).scores.set_index("customer_id")
    assert listed.loc["P1", "change"] == 0.0
    assert listed.loc["P1", "previous_as_of"] == D1


def test_rebuild_scores_each_date_from_the_data_known_then(company: Workspace) -> None:
    dates = company.health_rebuild("2025-01-01", "2025-03-31")
    assert dates == [D1, date(2025, 2, 28), D2]
    history = company.health_history()
    assert sorted(history.loc[history["as_of"] == "2025-02-28", "customer_id"]) == [
        "N2", "N3", "P1", "P2", "P3", "P4"]


def test_schedule() -> None:
    assert schedule(date(2025, 1, 15), date(2025, 3, 20), "month") == [
        date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 20)]
    assert schedule(date(2025, 1, 1), date(2025, 1, 15), "week") == [
        date(2025, 1, 1), date(2025, 1, 8), date(2025, 1, 15)]
    with pytest.raises(UserInputError, match="--every 'year' must be day, week or month"):
        schedule(date(2025, 1, 1), date(2025, 2, 1), "year")
    with pytest.raises(UserInputError, match="swap them"):
        schedule(date(2025, 2, 1), date(2025, 1, 1), "day")
