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
    """Every metric x grain x (total + each default segment), as rows of ``_metric_values``."""
    started = time.perf_counter()
    step = on_step or (lambda _m: None)
    segments = list(settings.metrics.default_segments if segments is None else segments)
    names = [m.name for m in all_metrics()]
    first, last = data_start(con), data_end(con)
    frames = []
    for grain in grains:
        for segment in ["", *segments]:
            step(f"{grain} {'total' if not segment else 'by ' + segment}")
            request = MetricRequest.create(names, period=grain, start=first, end=last,
                                           by=segment or None)
            frame = compute(con, settings, request)
            frames.append(_long(frame, grain, (segment,) if segment else ()))
    rows = pd.concat(frames, ignore_index=True)
    run = {"grains": list(grains), "segments": segments, "first": first, "last": last,
           "rows": len(rows), "seconds": time.perf_counter() - started}
    return rows, run


def _long(frame: pd.DataFrame, grain: str, by: tuple[str, ...]) -> pd.DataFrame:
    """The engine's wide rows as ``_metric_values`` rows (segments and extras as JSON)."""
    fixed = {"metric", "period_start", *by, *STANDARD, "target", "benchmark"}
    extras = [c for c in frame.columns if c not in fixed]
    records = frame.to_dict("records")
    return pd.DataFrame({
        "metric": frame["metric"],
        "grain": grain,
        "period_start": frame["period_start"],
        "segment_by": ",".join(r for r in by if r not in extras) if by else "",
        "segment": [json.dumps({k: r[k] for k in by} | {k: r[k] for k in extras
                                                         if k in _dimensions() and _present(r[k])},
                               default=str)
                    for r in records],
        "value": frame["value"].astype("float64"),
        "n": frame["n"].astype("int64"),
        "ci_low": frame["ci_low"].astype("float64"),
        "ci_high": frame["ci_high"].astype("float64"),
        "null_reason": frame["null_reason"].where(frame["null_reason"].notna(), None),
        "target": frame["target"].astype("float64"),
        "details": [json.dumps({k: _clean(r[k]) for k in extras
                                if k not in _dimensions() and _present(r[k])}, default=str)
                    for r in records],
    })


def _dimensions() -> set[str]:
    return {m.dimension for m in all_metrics() if m.dimension}


def _present(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def _clean(value: object) -> object:
    return float(value) if isinstance(value, int | float) else value
