"""Stacked segments (refresh's one query for the total and every segmentation) give the rows
that one segmentation at a time gives, for every stackable metric, on the demo company; and
the same rows whether the intermediates its metrics share are written once or not."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.metrics import all_metrics, context
from csmetrics.metrics.engine import MetricRequest, compute

SEGMENTS = ("plan", "region")
STACKABLE = [m for m in all_metrics() if m.stackable]


@pytest.fixture(scope="module")
def both(duck_ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every stackable metric by month: stacked, the total and each segmentation alone, and
    stacked again with no shared intermediate small enough to be written once."""
    con, settings = duck_ws.warehouse.ibis, duck_ws.settings
    names = [m.name for m in STACKABLE]
    stacked = compute(con, settings, MetricRequest.create(names), stack=("", *SEGMENTS))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context, "SHARED_ROWS", 0)
        unshared = compute(con, settings, MetricRequest.create(names), stack=("", *SEGMENTS))
    alone = [compute(con, settings, MetricRequest.create(names)).assign(
        segment_by="", segment_value="")]
    for segment in SEGMENTS:
        by = compute(con, settings, MetricRequest.create(names, by=segment))
        alone.append(by.rename(columns={segment: "segment_value"}).assign(segment_by=segment))
    return stacked, pd.concat(alone, ignore_index=True), unshared


def _rows(frame: pd.DataFrame, name: str, dimension: str | None) -> pd.DataFrame:
    keys = ["period_start", "segment_by", "segment_value", *([dimension] if dimension else [])]
    rows = frame[frame.metric == name].dropna(axis=1, how="all")
    return rows.sort_values(keys, kind="stable").reset_index(drop=True)


def _same(a: object, b: object) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(a) == str(b)


@pytest.mark.parametrize("definition", STACKABLE, ids=[m.name for m in STACKABLE])
def test_stacked_rows_are_those_of_one_segmentation_at_a_time(definition, both):
    stacked = _rows(both[0], definition.name, definition.dimension)
    alone = _rows(both[1], definition.name, definition.dimension)
    assert set(stacked.segment_by) == {"", *SEGMENTS}
    assert sorted(stacked.columns) == sorted(alone.columns)
    _assert_same_rows(stacked, alone, definition.name)


def _assert_same_rows(left: pd.DataFrame, right: pd.DataFrame, label: str) -> None:
    assert len(left) == len(right)
    for column in left.columns:
        differ = [(i, a, b) for i, (a, b) in enumerate(zip(left[column].tolist(),
                                                          right[column].tolist(), strict=True))
                  if not _same(a, b)]
        assert not differ, f"{label}.{column}: {len(differ)} rows, first {differ[:3]}"


def test_shared_intermediates_written_once_or_not_give_the_same_rows(both):
    """Floats to 1e-9: a sum may add up in another order."""
    stacked, _, unshared = both
    assert list(stacked.columns) == list(unshared.columns)
    _assert_same_rows(stacked, unshared, "stacked")
