"""``negative_comment_share``: the share of negative texts per period and segment."""

from __future__ import annotations

import math

import pytest

from csmetrics.enrich.sentiment import score_texts
from csmetrics.metrics import get_metric
from csmetrics.metrics.definition import Section
from tests.insights.fixtures import company
from tests.metrics.revenue_fixtures import query

PERIODS = {"start": "2024-03-01", "end": "2024-04-30"}


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Reference Wilson score interval, written out from the textbook formula."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def rows(frame):
    return {str(r.period_start): r for r in frame.itertuples()}


def test_registered_in_the_satisfaction_section():
    assert get_metric("negative_comment_share").section is Section.SATISFACTION


def test_share_of_negative_texts_per_month_with_wilson_interval():
    w = company()
    score_texts(w.sql)
    got = rows(query(w, "negative_comment_share", **PERIODS))
    # March: R1 negative, R2, A1, F1 not -> 1 of 4; April: R3, A2 negative of 5 texts
    march, april = got["2024-03-01"], got["2024-04-01"]
    assert (march.value, march.n, march.negative) == (0.25, 4, 1)
    assert (april.value, april.n, april.negative) == (0.4, 5, 2)
    assert (march.ci_low, march.ci_high) == pytest.approx(wilson(1, 4))
    assert (april.ci_low, april.ci_high) == pytest.approx(wilson(2, 5))


def test_by_segment_filter_and_as_of():
    w = company()
    score_texts(w.sql)
    by = query(w, "negative_comment_share", by="region", **PERIODS)
    cells = {(str(r.period_start), r.region): (r.value, r.n) for r in by.itertuples()}
    assert cells[("2024-03-01", "EMEA")] == (0.25, 4)
    assert cells[("2024-04-01", "NA")] == (0.4, 5)
    assert cells[("2024-04-01", "EMEA")][1] == 0
    by_source = query(w, "negative_comment_share", by="source", **PERIODS)
    cell = by_source[(by_source.source == "activities")
                     & (by_source.period_start.astype(str) == "2024-04-01")].iloc[0]
    assert (cell.value, cell.n) == (1.0, 1)  # A2
    emea = rows(query(w, "negative_comment_share", where=["region=EMEA"], **PERIODS))
    assert emea["2024-03-01"].n == 4 and emea["2024-04-01"].n == 0
    # as of April 3rd only R3 (negative) and F2 of April are known
    early = rows(query(w, "negative_comment_share", as_of="2024-04-03", **PERIODS))
    assert (early["2024-04-01"].value, early["2024-04-01"].n) == (0.5, 2)
    one = rows(query(w, "negative_comment_share", customer="C3", **PERIODS))
    assert (one["2024-04-01"].value, one["2024-04-01"].n) == (0.5, 2)


def test_before_texts_are_scored_every_period_is_empty_with_a_reason():
    w = company()
    got = query(w, "negative_comment_share", **PERIODS)
    assert list(got.n) == [0, 0]
    assert got.value.isna().all()
    assert set(got.null_reason) == {"no scored texts in the period"}
