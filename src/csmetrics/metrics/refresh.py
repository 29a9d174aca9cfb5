"""Refresh: compute every metric for every period and the default segments, and store them
so the API and dashboard read precomputed tables."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from datetime import date

import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.metrics.definition import all_metrics
from csmetrics.metrics.engine import MetricRequest, compute, data_end
from csmetrics.metrics.result import STANDARD

DEFAULT_GRAINS = ("month", "quarter")


def data_start(con: BaseBackend) -> date:
    """The first day of the data: the earliest customer start or subscription start."""
    firsts = []
    for table, column in (("customers", "started_at"), ("subscriptions", "start_date")):
        t = con.table(table)
        value = con.execute(t[column].min())
        if value is not None and not pd.isna(value):
            firsts.append(pd.Timestamp(value).date())
    return min(firsts) if firsts else data_end(con)


def compute_all(
    con: BaseBackend,
    settings: Settings,
    *,
    grains: Sequence[str] = DEFAULT_GRAINS,
    segments: Sequence[str] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Every metric x grain x (total + each default segment), as rows of ``_metric_values``.

    Metrics that allow it are computed for the total and every segment in one stacked pass;
    the others (costs and traffic have no customers to segment) one segmentation at a time.
    """
    started = time.perf_counter()
    step = on_step or (lambda _m: None)
    segments = list(settings.metrics.default_segments if segments is None else segments)
    stackable = [m.name for m in all_metrics() if m.stackable]
    separate = [m.name for m in all_metrics() if not m.stackable]
    first, last = data_start(con), data_end(con)
    frames = []
    for grain in grains:
        step(f"{grain}: total and {len(segments)} segments")
        request = MetricRequest.create(stackable, period=grain, start=first, end=last)
        stacked = compute(con, settings, request, stack=("", *segments))
        frames.append(_long(stacked, grain, stacked["segment_by"], stacked["segment_value"]))
        for segment in ["", *segments]:
            step(f"{grain}: cost-based metrics {'in total' if not segment else 'by ' + segment}")
            request = MetricRequest.create(separate, period=grain, start=first, end=last,
                                           by=segment or None)
            frame = compute(con, settings, request)
            frames.append(_long(frame, grain, pd.Series(segment, index=frame.index),
                                frame[segment] if segment else pd.Series("", index=frame.index)))
    rows = pd.concat(frames, ignore_index=True)
    run = {"grains": list(grains), "segments": segments, "first": first, "last": last,
           "rows": len(rows), "seconds": time.perf_counter() - started}
    return rows, run


def _long(frame: pd.DataFrame, grain: str, segment_by: pd.Series,
          segment_value: pd.Series) -> pd.DataFrame:
    """The engine's rows as ``_metric_values`` rows: the segment (and a metric's natural
    dimension, such as the feature) as a JSON object, the extra columns as JSON details."""
    dimensions = {m.dimension for m in all_metrics() if m.dimension}
    known = {"metric", "period_start", "segment_by", "segment_value", *STANDARD, "target",
             "benchmark", *set(segment_by)}
    extras = [c for c in frame.columns if c not in known and c not in dimensions]
    dims = [c for c in frame.columns if c in dimensions]
    records = frame.to_dict("records")
    segment = []
    for by, value, record in zip(segment_by, segment_value, records, strict=True):
        key = {by: value} if by else {}
        key |= {d: record[d] for d in dims if _present(record[d])}
        segment.append(json.dumps(key, default=str, sort_keys=True))
    return pd.DataFrame({
        "metric": frame["metric"],
        "grain": grain,
        "period_start": frame["period_start"],
        "segment_by": segment_by.values,
        "segment": segment,
        "value": frame["value"].astype("float64"),
        "n": frame["n"].astype("int64"),
        "ci_low": frame["ci_low"].astype("float64"),
        "ci_high": frame["ci_high"].astype("float64"),
        "null_reason": frame["null_reason"].where(frame["null_reason"].notna(), None),
        "target": pd.to_numeric(frame["target"], errors="coerce").astype("float64"),
        "details": [json.dumps({k: _clean(r[k]) for k in extras if _present(r[k])},
                               default=str, sort_keys=True) for r in records],
    })


def _present(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def _clean(value: object) -> object:
    return float(value) if isinstance(value, int | float) else value
