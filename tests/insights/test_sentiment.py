"""Sentiment of texts: labels, the incremental ``_text_sentiment`` table, recent sentiment
per customer, and accuracy on the labelled set."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from csmetrics.enrich.sentiment import (
    SENTIMENT_TABLE,
    label,
    polarity,
    recent_sentiment,
    score_texts,
)
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.periods import Grain
from tests.insights.fixtures import LABELS, company

LABELLED = Path(__file__).parents[1] / "data" / "voice_labelled.csv"


def stored(con) -> dict[str, tuple[float, str]]:
    rows = con.execute(f"SELECT key, compound, label FROM {SENTIMENT_TABLE}").fetchall()
    return {key: (compound, lab) for key, compound, lab in rows}


def test_labels_follow_vaders_thresholds():
    assert label(0.05) == "positive"
    assert label(0.0499) == "neutral"
    assert label(-0.0499) == "neutral"
    assert label(-0.05) == "negative"
    assert polarity("Great support, thank you!") > 0.5
    assert polarity("Another outage this week, terrible.") < -0.5
    # domain words: "slow" is negative, "support" and "excel" are no praise
    assert label(polarity("Support is slow to reply.")) == "negative"
    assert label(polarity("Export reports to Excel")) == "neutral"


def test_every_non_empty_text_is_scored_once_and_rescored_when_it_changes():
    w = company()
    first = score_texts(w.sql)
    # R4 has no comment and R5 only blanks: 9 texts, not 11
    assert (first.scored, first.unchanged, first.removed) == (9, 0, 0)
    assert {k: v[1] for k, v in stored(w.sql).items()} == LABELS
    row = w.sql.execute(f"SELECT source, customer_id, kind, written_at FROM {SENTIMENT_TABLE} "
                        "WHERE key = 'A2'").fetchone()
    assert row == ("activities", "C3", "qbr", pd.Timestamp("2024-04-15 09:00").to_pydatetime())

    again = score_texts(w.sql)
    assert (again.scored, again.unchanged, again.removed) == (0, 9, 0)

    w.sql.execute("UPDATE feedback SET text = 'Awful, broken and useless.' "
                  "WHERE feedback_id = 'F4'")
    w.sql.execute("UPDATE survey_responses SET comment = NULL WHERE response_id = 'R2'")
    w.sql.execute("UPDATE activities SET customer_id = 'C2' WHERE activity_id = 'A1'")
    changed = score_texts(w.sql)
    assert (changed.scored, changed.unchanged, changed.removed) == (1, 7, 1)
    now = stored(w.sql)
    assert "R2" not in now and now["F4"][1] == "negative"
    owner = w.sql.execute(f"SELECT customer_id FROM {SENTIMENT_TABLE} WHERE key = 'A1'")
    assert owner.fetchone() == ("C2",)


def test_recent_sentiment_per_customer_reads_only_the_window_before_as_of():
    w = company()
    score_texts(w.sql)
    ctx = MetricContext(con=w.ibis, grain=Grain.MONTH, starts=[date(2024, 4, 1)])
    got = w.ibis.execute(recent_sentiment(ctx, date(2024, 4, 10), 30)).set_index("customer_id")
    # window 2024-03-12 .. 2024-04-10: C1 R2 (0.784) + F1 (0); C2 R3 (-0.507) + F2 (0) +
    # F4 (0.6369); C3 F3 (0). A2 (04-15) is after as_of, R1 and A1 before the window.
    assert got.loc["C1", "raw"] == pytest.approx((0.784 + 0.0) / 2)
    assert got.loc["C2", "raw"] == pytest.approx((-0.507 + 0.0 + 0.6369) / 3)
    assert got.loc["C2", "negative_share"] == pytest.approx(1 / 3)
    assert got.loc["C3", "raw"] == 0.0 and got.loc["C3", "texts"] == 1
    everything = w.ibis.execute(recent_sentiment(ctx, date(2024, 12, 31), None))
    assert everything["texts"].sum() == 9


def test_recent_sentiment_is_empty_before_texts_are_scored():
    w = company()
    ctx = MetricContext(con=w.ibis, grain=Grain.MONTH, starts=[date(2024, 4, 1)])
    assert w.ibis.execute(recent_sentiment(ctx, date(2024, 4, 10))).empty


def test_sentiment_beats_the_majority_label_on_the_labelled_set_by_a_margin():
    """Agreement with the 288 hand-labelled texts must beat always answering the most common
    label (neutral: 117 / 288 = 40.6 %) by 20 points, i.e. at least 60.6 %: above plain
    VADER (58.7 %), so the domain words must keep helping, and far above chance (3 labels).
    Measured 68.4 %, so the threshold leaves about 23 texts of room for harmless changes."""
    data = pd.read_csv(LABELLED)
    got = [label(polarity(t)) for t in data["text"]]
    accuracy = (pd.Series(got) == data["sentiment"]).mean()
    majority = data["sentiment"].value_counts(normalize=True).iloc[0]
    assert majority == pytest.approx(117 / 288)  # the labelled set is the one described
    assert accuracy >= majority + 0.20, (accuracy, majority)


def test_texts_scored_by_another_analyser_version_are_scored_again():
    w = company()
    score_texts(w.sql)
    w.sql.execute(f"UPDATE {SENTIMENT_TABLE} SET scorer = 'vader-0.0', compound = 0 "
                  "WHERE key IN ('R1', 'R2')")
    run = score_texts(w.sql)
    assert (run.scored, run.unchanged) == (2, 7)
    assert stored(w.sql)["R1"] == (-0.743, "negative")
