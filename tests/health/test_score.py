"""Scores, raw values and explanations on the hand-made company of ``fixtures.py``."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from csmetrics.config import Settings
from csmetrics.health import Scorecard, default_scorecard, score_accounts
from csmetrics.health.explain import explain
from csmetrics.health.score import to_points
from csmetrics.store import Warehouse
from tests.health.fixtures import D, add_later_data, load_company
from tests.metrics.revenue_fixtures import memory_warehouse

# Three components, worked by hand below. B has data for 1 + 1 of the 5 weights: coverage 0.4,
# just enough for a band here.
HAND = """
[bands]
red_below = 40
green_from = 70
min_coverage = 0.4

[components.usage_trend]
weight = 3
linear = [[-1, 0], [0, 100]]
missing = "skip"

[components.csm_sentiment]
weight = 1
thresholds = [[-1, 0], [0, 50], [1, 100]]

[components.support_load]
weight = 1
thresholds = [[0, 100], [2, 50], [5, 0]]
"""


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    with memory_warehouse() as w:
        load_company(w)
        yield w


def _by(frame: pd.DataFrame, column: str) -> dict[str, float]:
    return {k: (None if pd.isna(v) else round(float(v), 6))
            for k, v in zip(frame["customer_id"], frame[column], strict=True)}


def test_only_accounts_paying_on_the_day_are_scored(warehouse: Warehouse) -> None:
    health = score_accounts(warehouse.ibis, Settings(), default_scorecard(), D)
    assert health.scores["customer_id"].tolist() == ["A", "B"]
    assert _by(health.scores, "mrr") == {"A": 120.0, "B": 50.0}
    assert health.scores["owner"].tolist() == ["Ann", "Bob"]


def test_every_builtin_signal_matches_the_hand_computed_raw_value(warehouse: Warehouse) -> None:
    names = ["usage_trend", "active_users", "seat_utilisation", "feature_breadth",
             "support_load", "first_contact_resolution", "nps_latest", "csat_latest",
             "csm_sentiment", "payment_problems", "renewal_history", "csm_engagement"]
    text = "\n".join(f"[components.{n}]\nweight = 1\nlinear = [[0, 0], [1, 100]]\n"
                     for n in names)
    health = score_accounts(warehouse.ibis, Settings(), Scorecard.from_text(text, "t"), D)
    comps = health.components
    raw = {n: _by(comps[comps["component"] == n], "raw") for n in names}
    assert raw == {
        # 5 units in the last 60 days (4 + 1) against 10 in the 60 before; B had none before
        "usage_trend": {"A": -0.5, "B": None},
        # 30-day window starts 2025-03-02: A's u1 on 03-01 is out, u2 is in
        "active_users": {"A": 1.0, "B": 1.0},
        "seat_utilisation": {"A": 0.25, "B": 0.5},
        # features seen in 90 days: login, report
        "feature_breadth": {"A": 1.0, "B": 0.5},
        # T1, T2, T3 opened in 90 days; B has no ticket, and tickets exist: 0, not missing
        "support_load": {"A": 3.0, "B": 0.0},
        # T3 was resolved after D, so on D only T1 (1 contact) and T2 (3) were resolved
        "first_contact_resolution": {"A": 0.5, "B": None},
        "nps_latest": {"A": 4.0, "B": None},
        "csat_latest": {"A": None, "B": 4.0},  # 8 of 10 is 4 of 5
        "csm_sentiment": {"A": -1.0, "B": 1.0},
        "payment_problems": {"A": 1.0, "B": 1.0},  # A: a failed order; B: past due
        "renewal_history": {"A": 1.0, "B": None},
        "csm_engagement": {"A": 2.0, "B": 0.0},
    }


def test_hand_computed_scores_bands_and_explanation(warehouse: Warehouse) -> None:
    scorecard = Scorecard.from_text(HAND, "hand")
    health = score_accounts(warehouse.ibis, Settings(), scorecard, D)
    # A: usage -0.5 -> 50 points x 3, sentiment -1 -> 0 x 1, 3 tickets -> 50 x 1:
    #    (150 + 0 + 50) / 5 = 40 -> yellow (red is below 40)
    # B: usage missing and skipped; sentiment 1 -> 100, 0 tickets -> 100: (100 + 100) / 2
    assert _by(health.scores, "score") == {"A": 40.0, "B": 100.0}
    assert health.scores["band"].tolist() == ["yellow", "green"]

    e = explain(health, scorecard, "A")
    assert e.score == 40.0 and e.band == "yellow"
    parts = e.components
    # pulls down: usage (100-50) x 3/5 = 30, sentiment 100 x 1/5 = 20, support 50 x 1/5 = 10
    assert parts["component"].tolist() == ["usage_trend", "csm_sentiment", "support_load"]
    assert parts["lost"].round(6).tolist() == [30.0, 20.0, 10.0]
    assert parts["contribution"].round(6).tolist() == [30.0, 0.0, 10.0]
    assert parts["points"].tolist() == [50.0, 0.0, 50.0]
    assert parts["effective_weight"].round(6).tolist() == [0.6, 0.2, 0.2]
    assert parts["shown"].tolist() == ["-50 %", "negative", "3"]
    assert parts["why"][0] == ("usage_trend was -50 %, worth 50 of 100 points; at 60 % of the "
                               "score it adds 30.0 and costs 30.0 points.")
    assert e.summary == ("A scores 40 of 100 as of 2025-03-31 (yellow); the biggest pulls down "
                         "are usage_trend and csm_sentiment.")

    b = explain(health, scorecard, "B").components.set_index("component")
    assert math.isnan(b.loc["usage_trend", "points"])
    assert b.loc["usage_trend", "why"].startswith("usage_trend: no data, left out")


def test_missing_data_can_count_as_neutral_or_fixed_points(warehouse: Warehouse) -> None:
    neutral = HAND.replace('missing = "skip"', 'missing = "neutral"')
    health = score_accounts(warehouse.ibis, Settings(), Scorecard.from_text(neutral, "n"), D)
    # B: (50 x 3 + 100 + 100) / 5 = 70 -> green (green from 70)
    assert _by(health.scores, "score")["B"] == 70.0
    assert health.scores["band"].tolist() == ["yellow", "green"]
    fixed = HAND.replace('missing = "skip"', "missing = 0")
    health = score_accounts(warehouse.ibis, Settings(), Scorecard.from_text(fixed, "f"), D)
    assert _by(health.scores, "score")["B"] == 40.0  # (0 + 100 + 100) / 5


def test_adding_data_after_the_day_does_not_change_the_score(warehouse: Warehouse) -> None:
    before = score_accounts(warehouse.ibis, Settings(), default_scorecard(), D)
    add_later_data(warehouse)
    after = score_accounts(warehouse.ibis, Settings(), default_scorecard(), D)
    pd.testing.assert_frame_equal(before.scores, after.scores)
    pd.testing.assert_frame_equal(before.components, after.components)
    # and the later data does count for a later day
    later = score_accounts(warehouse.ibis, Settings(), default_scorecard(),
                           pd.Timestamp("2025-04-30").date())
    assert "E" in later.scores["customer_id"].tolist()


def test_metric_components_read_the_registry_per_customer(warehouse: Warehouse) -> None:
    text = ('[components.mrr]\nsignal = "metric:mrr"\nweight = 1\n'
            "linear = [[0, 0], [200, 100]]\n")
    health = score_accounts(warehouse.ibis, Settings(), Scorecard.from_text(text, "m"), D)
    assert _by(health.components, "raw") == {"A": 120.0, "B": 50.0}
    assert _by(health.scores, "score") == {"A": 60.0, "B": 25.0}


def test_threshold_and_linear_mappings() -> None:
    steps = Scorecard.from_text(
        "[components.x]\nsignal = 'support_load'\nweight = 1\nbelow = 5\n"
        "thresholds = [[0, 100], [3, 50]]\nmissing = 'neutral'\n", "t").components["x"]
    raw = np.array([-1.0, 0.0, 2.9, 3.0, 99.0, np.nan])
    assert to_points(steps, raw).tolist() == [5.0, 100.0, 100.0, 50.0, 50.0, 50.0]
    line = Scorecard.from_text(
        "[components.x]\nsignal = 'usage_trend'\nweight = 1\n"
        "linear = [[-1, 0], [0, 60], [1, 100]]\n", "l").components["x"]
    points = to_points(line, np.array([-2.0, -0.5, 0.0, 0.5, 3.0, np.nan]))
    assert points[:5].tolist() == [0.0, 30.0, 60.0, 80.0, 100.0]
    assert math.isnan(points[5])  # missing = "skip" by default


def test_comment_sentiment_from_the_voice_module_is_a_component(warehouse: Warehouse) -> None:
    """Scored texts feed the health score: mean compound sentiment in the window, by date."""
    from csmetrics.enrich.sentiment import score_texts

    warehouse.sql.execute("DELETE FROM survey_responses")
    warehouse.sql.execute("DELETE FROM activities")
    warehouse.sql.execute("DELETE FROM feedback")
    warehouse.sql.executemany(
        "INSERT INTO feedback (feedback_id, customer_id, submitted_at, kind, text) VALUES "
        "(?, ?, ?, 'complaint', ?)",
        [("F1", "A", D - pd.Timedelta(days=5), "Terrible outage, we lost a whole day of work."),
         ("F2", "B", D - pd.Timedelta(days=3), "Great product, the team loves it!"),
         ("F3", "B", D + pd.Timedelta(days=3), "Awful, awful, awful.")])
    score_texts(warehouse.sql)
    card = Scorecard.from_text(
        "[components.comment_sentiment]\nweight = 1\nlinear = [[-1, 0], [1, 100]]\n", "t")
    health = score_accounts(warehouse.ibis, Settings(), card, D)
    raw = _by(health.components, "raw")
    assert raw["A"] < -0.3 < 0.3 < raw["B"]   # B's later complaint is not known on D
    assert _by(health.scores, "score")["B"] > 60 > 40 > _by(health.scores, "score")["A"]
