"""A query answered from the last refresh's stored results, when they are still current.

A refresh stores every metric for every period (``_metric_values``); reading them back takes
milliseconds where computing takes seconds on a large company. The stored rows answer a
query only when nothing they rest on has changed since (no new batch, the same settings,
grains, segments and metric code: ``plan_refresh`` says "nothing changed") and the query
asks for what was stored: totals (no segment, customer or filter, no as-of date) of a
refreshed grain, over periods the refresh covered, of metrics without a dimension of their
own. Anything else is computed. The rows are the ones ``compute`` gives for the same request,
since a metric's value for a period does not depend on the other periods asked for (which
the incremental refresh relies on, and its tests check).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from csmetrics.config import Settings
from csmetrics.metrics.definition import get_metric
from csmetrics.metrics.engine import MetricRequest, default_start, honest
from csmetrics.metrics.periods import Calendar, period_starts
from csmetrics.metrics.refresh import current_basis, plan_refresh
from csmetrics.metrics.result import STANDARD
from csmetrics.store.materialize import read_basis

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


def stored_answer(sql: duckdb.DuckDBPyConnection, engine: Callable[[], BaseBackend],
                  settings: Settings, request: MetricRequest, *, today: date
                  ) -> pd.DataFrame | None:
    """``compute``'s answer to ``request`` read from the stored results, or None when they
    cannot give it (not current as of ``today``, or not what was stored). ``engine`` gives
    the warehouse's Ibis connection, started only when the ledger alone cannot tell that
    the results are current (``current_basis``)."""
    definitions = [get_metric(name) for name in request.metrics]
    if (request.by or request.customer or request.where or request.as_of is not None
            or any(d.dimension for d in definitions)):
        return None
    last = sql.execute("SELECT grains, segments FROM _refreshes "
                       "ORDER BY refreshed_at DESC LIMIT 1").fetchall()
    basis = read_basis(sql)
    if not last or basis is None or request.grain.value not in last[0][0]:
        return None
    grains, segments = list(last[0][0]), list(last[0][1])
    if current_basis(sql, settings, today=today) is None:
        plan = plan_refresh(sql, engine(), settings, grains, segments, today=today)
        if plan.full or plan.since is not None:
            return None
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    end = request.end or basis["known_until"]
    start = request.start or default_start(end, request.grain, calendar)
    starts = period_starts(start, end, request.grain, calendar)
    rows = sql.execute(
        "SELECT metric, period_start, value, n, ci_low, ci_high, null_reason, target, details "
        "FROM _metric_values WHERE grain = $grain AND segment_by = '' "
        "AND metric IN (SELECT unnest($metrics)) AND period_start IN (SELECT unnest($starts)) "
        "ORDER BY metric, period_start",
        {"grain": request.grain.value, "metrics": list(request.metrics), "starts": starts},
    ).df()
    frames = []
    for definition in definitions:
        mine = rows[rows["metric"] == definition.name].reset_index(drop=True)
        if len(mine) != len(starts):  # a period the refresh did not cover
            return None
        frames.append(honest(_as_computed(mine, definition.benchmark, definition.extra_columns),
                             definition, request.grain, basis["known_until"],
                             f"after the data end {basis['known_until']}"))
    return pd.concat(frames, ignore_index=True)


def _as_computed(rows: pd.DataFrame, benchmark: str | None, extra_columns: tuple[str, ...]
                 ) -> pd.DataFrame:
    """Stored rows of one metric in ``compute``'s columns: the standard ones, its target
    and benchmark, then its extra columns (from the stored details, which leave out the
    empty cells)."""
    frame = rows[["metric", "period_start", *STANDARD]].copy()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    frame["null_reason"] = frame["null_reason"].astype(object).where(
        frame["null_reason"].notna(), None)
    frame["target"] = rows["target"].astype(object).where(rows["target"].notna(), None)
    frame["benchmark"] = benchmark
    extras = pd.DataFrame([json.loads(text) for text in rows["details"]], index=frame.index)
    extras = extras.reindex(columns=list(dict.fromkeys([*extra_columns, *extras.columns])))
    return pd.concat([frame, extras], axis=1)
