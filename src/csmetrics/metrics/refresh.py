"""Refresh: compute every metric for every period and the default segments, and store them
so the API and dashboard read precomputed tables."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import queue
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import duckdb
import numpy as np
import pandas as pd

from csmetrics._version import __version__
from csmetrics.config import Settings
from csmetrics.metrics.definition import MetricDefinition, all_metrics
from csmetrics.metrics.engine import (
    MetricRequest,
    compute,
    data_end,
    empty_tables,
    recorded_between,
)
from csmetrics.metrics.periods import Calendar, Grain, next_start, period_start, period_starts
from csmetrics.metrics.result import STANDARD
from csmetrics.schema import TABLES
from csmetrics.store.engines import side_connection
from csmetrics.store.materialize import read_basis

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


DEFAULT_GRAINS = ("month", "quarter")
T = TypeVar("T")

#: Metrics whose value for a period can change with data dated after the period (outcomes
#: known later, windows after the period): an incremental refresh recomputes them further
#: back than the change. Found by reading the definitions and checked by comparing every
#: other metric with its as-of value (``tests/metrics/test_refresh_incremental.py``).
LOOKS_AHEAD = frozenset({"conversion_rate", "time_to_value", "value_unlock", "renewal_rate"})


def looks_ahead(settings: Settings) -> dict[str, pd.DateOffset | None]:
    """How far before the earliest change each look-ahead metric must be recomputed from
    (None: every period): conversions of a period's leads (its cohort rate) and a period's
    new customers' first value can come any time later; value unlock follows a period's
    customers ``value_unlock_window_months``, renewals accept a successor within
    ``renewal_grace_days``. CLV method 1 rests on the customer lifespan and, with
    ``lifespan_source = "survival"``, on a survival curve of all the data."""
    reach: dict[str, pd.DateOffset | None] = {
        "conversion_rate": None, "time_to_value": None,
        "value_unlock": pd.DateOffset(months=settings.metrics.value_unlock_window_months),
        "renewal_rate": pd.DateOffset(days=settings.metrics.renewal_grace_days),
    }
    if settings.metrics.clv_method == 1:
        reach |= {"clv": None, "ltv_cac_ratio": None}
    return reach


#: Look-ahead metrics whose row for a period moves with later data only once the period's
#: window has closed (ended by the data end): while it runs past the end, the row rests on
#: the period's own data (value unlock's cohort and adopters; retention is left empty).
CLOSING_WINDOWS = frozenset({"value_unlock"})


def recompute_periods(settings: Settings, grain: Grain, calendar: Calendar, first: date,
                      last: date, since: Mapping[str, date] | None,
                      days: Mapping[str, Collection[date]] | None = None,
                      ) -> dict[str, tuple[date, ...]]:
    """The periods of ``grain`` (their starts) each metric is recomputed for: every one in a
    full refresh (``since`` None); else those from the one containing the metric's ``since``
    day (the earliest day the new data changed in what it reads) on, and for the metrics
    that look ahead every period, or the ones whose window after the period reaches that
    day (for ``CLOSING_WINDOWS``, only windows that end by ``last``); and the periods
    containing the metric's ``days`` (of rows whose later facts alone changed, for the
    ``period_local`` metrics). A metric in neither is not recomputed."""
    starts = period_starts(first, last, grain, calendar)
    if since is None:
        return {m.name: tuple(starts) for m in all_metrics()}
    days = days or {}
    reach = looks_ahead(settings)
    chosen = {}
    for m in all_metrics():
        touched = {period_start(d, grain, calendar) for d in days.get(m.name, ())}
        picked = {s for s in starts if s in touched}
        day = since.get(m.name)
        if day is not None and m.name in reach and reach[m.name] is None:
            picked = set(starts)
        elif day is not None:
            picked |= {s for s in starts if s >= period_start(day, grain, calendar)}
            if m.name in CLOSING_WINDOWS:
                picked |= {s for s in starts
                           if day <= _window_end(s, grain, reach[m.name]) <= last}
            elif m.name in reach:
                back = period_start((pd.Timestamp(day) - reach[m.name]).date(), grain,
                                    calendar)
                picked |= {s for s in starts if s >= back}
        if picked:
            chosen[m.name] = tuple(sorted(picked))
    return chosen


def _window_end(start: date, grain: Grain, window: pd.DateOffset) -> date:
    """The last day of the ``window`` after the period of ``grain`` starting on ``start``."""
    return (pd.Timestamp(next_start(start, grain)) + window).date() - timedelta(days=1)


def data_start(con: BaseBackend, today: date) -> date:
    """The first day of the data: the earliest customer start or subscription start (an
    empty warehouse: the data's end)."""
    firsts = []
    for table, column in (("customers", "started_at"), ("subscriptions", "start_date")):
        t = con.table(table)
        value = con.execute(t[column].min())
        if value is not None and not pd.isna(value):
            firsts.append(pd.Timestamp(value).date())
    return min(firsts) if firsts else data_end(con, today)


def compute_all(
    con: BaseBackend,
    settings: Settings,
    *,
    grains: Sequence[str] = DEFAULT_GRAINS,
    segments: Sequence[str] | None = None,
    on_step: Callable[[str], None] | None = None,
    since: Mapping[str, date] | None = None,
    days: Mapping[str, Collection[date]] | None = None,
    previous: pd.DataFrame | None = None,
    today: date,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Every metric x grain x (total + each default segment), as rows of ``_metric_values``.

    Each metric is computed for the total and every segment in one stacked pass (one marked
    not ``stackable``: one segmentation at a time), one pass per grain and set of periods;
    an incremental refresh runs its passes two at a time where the engine allows it.

    Incrementally (``since``, each metric's earliest changed day, ``days``, the days of rows
    whose later facts alone changed for the metrics that take them, and the ``previous``
    rows given): each metric is recomputed for the periods ``recompute_periods`` gives (from
    the one containing its day on, for the metrics that only look back) and keeps its other
    rows; a metric without a day keeps all its rows. Data after ``today`` is not yet known.
    """
    started = time.perf_counter()
    step = on_step or (lambda _m: None)
    segments = list(settings.metrics.default_segments if segments is None else segments)
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    first, last = data_start(con, today), data_end(con, today)
    chosen = {grain: recompute_periods(settings, Grain(grain), calendar, first, last, since,
                                       days)
              for grain in grains}
    passes = [(grain, periods, [m for m in all_metrics() if chosen[grain].get(m.name) == periods])
              for grain in grains for periods in sorted(set(chosen[grain].values()))]
    jobs = [functools.partial(_compute_grain, settings=settings, grain=grain, metrics=metrics,
                              periods=periods, last=last, segments=segments, step=step)
            for grain, periods, metrics in passes]
    # a full refresh's passes each run the heaviest queries over all the history: two side
    # by side ran out of DuckDB's memory limit at the benchmark's scale
    computed = (_side_by_side(con, jobs, sizes=[len(p[2]) for p in passes]) if since is not None
                else [job(con) for job in jobs])
    frames = []
    for grain in grains:
        mine = [frame for (g, _, _), result in zip(passes, computed, strict=True)
                if g == grain for frame in result]
        every = period_starts(first, last, Grain(grain), calendar)
        partly = {m.name: chosen[grain].get(m.name, ()) for m in all_metrics()
                  if len(chosen[grain].get(m.name, ())) < len(every)}
        if partly and previous is not None:
            mine = _with_earlier(previous, mine, grain, partly, every)
        frames += mine
    rows = pd.concat(frames, ignore_index=True)
    run = {"grains": list(grains), "segments": segments, "first": first, "last": last,
           "rows": len(rows), "seconds": time.perf_counter() - started,
           "incremental_from": min([*since.values(), *(d for ds in (days or {}).values()
                                                         for d in ds)], default=None)
           if since is not None else None,
           "metric_since": dict(since or {}),
           "metric_days": {name: sorted(d) for name, d in (days or {}).items()}}
    return rows, run


def _side_by_side(con: BaseBackend, jobs: Sequence[Callable[[BaseBackend], T]],
                  sizes: Sequence[int]) -> list[T]:
    """Each job's result, in order. Two jobs run at a time, the largest (``sizes``) first,
    each on a connection of its own, when the engine offers a second one
    (``side_connection``); else one after another on ``con``. An incremental refresh's pass
    is many small queries with Python building and compiling between them: two passes side
    by side keep both the engine and Python busy."""
    side = side_connection(con) if len(jobs) > 1 else None
    if side is None:
        return [job(con) for job in jobs]
    free: queue.SimpleQueue[BaseBackend] = queue.SimpleQueue()
    free.put(con)
    free.put(side)

    def run(job: Callable[[BaseBackend], T]) -> T:
        mine = free.get()
        try:
            return job(mine)
        finally:
            free.put(mine)

    order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            done = dict(zip(order, pool.map(run, [jobs[i] for i in order]), strict=True))
    finally:
        side.disconnect()
    return [done[i] for i in range(len(jobs))]


def _compute_grain(
    con: BaseBackend, *, settings: Settings, grain: str, metrics: Sequence[MetricDefinition],
    periods: Sequence[date], last: date, segments: Sequence[str], step: Callable[[str], None],
) -> list[pd.DataFrame]:
    """``metrics`` for the ``periods`` of ``grain`` (data until ``last``), for the total
    and every segment, as ``_metric_values`` rows."""
    frames = []
    stackable = [m.name for m in metrics if m.stackable]
    separate = [m.name for m in metrics if not m.stackable]
    which = f"{grain}, {len(periods)} period{'s' * (len(periods) != 1)} from {periods[0]}"
    if stackable:
        step(f"{which}: {len(stackable)} metrics, total and {len(segments)} segments")
        request = MetricRequest.create(stackable, period=grain)
        stacked = compute(con, settings, request, stack=("", *segments), data_ends=last,
                          periods=periods)
        frames.append(_long(stacked, grain, stacked["segment_by"], stacked["segment_value"]))
    for segment in ["", *segments] if separate else []:
        step(f"{which}: {', '.join(separate)} {'in total' if not segment else 'by ' + segment}")
        request = MetricRequest.create(separate, period=grain, by=segment or None)
        frame = compute(con, settings, request, data_ends=last, periods=periods)
        frames.append(_long(frame, grain, pd.Series(segment, index=frame.index),
                            frame[segment] if segment else pd.Series("", index=frame.index)))
    return frames


KEY = ["metric", "segment_by", "segment"]


def _with_earlier(
    previous: pd.DataFrame, computed: list[pd.DataFrame], grain: str,
    recomputed: dict[str, tuple[date, ...]], starts: list[date],
) -> list[pd.DataFrame]:
    """The recomputed rows of one grain, plus the stored rows of each metric recomputed for
    only some periods (``recomputed``) for its other periods, plus the empty rows a full
    refresh would have made: every metric and segment seen in any period gets a row in every
    period (see ``_complete``)."""
    kept = previous[(previous["grain"] == grain) & previous["metric"].isin(recomputed)].copy()
    kept["period_start"] = pd.to_datetime(kept["period_start"]).dt.date
    done = pd.DataFrame([(name, day) for name, days in recomputed.items() for day in days],
                        columns=["metric", "period_start"], dtype=object)
    kept = kept.merge(done.assign(_done=True), on=["metric", "period_start"], how="left")
    kept = kept[kept["_done"].isna()].drop(columns="_done")
    local = set(recomputed)
    rows = pd.concat([kept, *computed], ignore_index=True)
    mine = rows[rows["metric"].isin(local)]
    keys = mine[[*KEY, "target"]].groupby(KEY, sort=False, dropna=False)["target"].agg(
        ["first", "size"]).reset_index().rename(columns={"first": "target"})
    # a (metric, segment) with a row in every period needs nothing
    keys = keys[keys.pop("size") < len(starts)]
    grid = keys.merge(pd.DataFrame({"period_start": starts}), how="cross")
    have = mine[[*KEY, "period_start"]].merge(keys[KEY], on=KEY).assign(_have=True)
    grid = grid.merge(have, on=[*KEY, "period_start"], how="left")
    missing = grid[grid["_have"].isna()].drop(columns="_have")
    if missing.empty:
        return [rows]
    empty_value = {m.name: m.empty_value for m in all_metrics()}
    empty_reason = {m.name: m.empty_reason for m in all_metrics()}
    value = missing["metric"].map(empty_value).astype("float64")
    filler = pd.DataFrame({
        "metric": missing["metric"].values,
        "grain": grain,
        "period_start": missing["period_start"].values,
        "segment_by": missing["segment_by"].values,
        "segment": missing["segment"].values,
        "value": value.values,
        "n": 0,
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "null_reason": [None if v == v else empty_reason[m]
                        for m, v in zip(missing["metric"], value, strict=True)],
        "target": missing["target"].astype("float64").values,
        "details": "{}",
    })
    return [rows, filler]


def _long(frame: pd.DataFrame, grain: str, segment_by: pd.Series,
          segment_value: pd.Series) -> pd.DataFrame:
    """The engine's rows as ``_metric_values`` rows: the segment (and a metric's natural
    dimension, such as the feature) as a JSON object, the extra columns as JSON details."""
    dimensions = {m.dimension for m in all_metrics() if m.dimension}
    known = {"metric", "period_start", "segment_by", "segment_value", *STANDARD, "target",
             "benchmark", "partial", *set(segment_by)}  # partial: judged when read
    extras = [c for c in frame.columns if c not in known and c not in dimensions]
    dims = [c for c in frame.columns if c in dimensions]
    size = len(frame)
    by_column = [(by, value) for by, value in zip(segment_by.tolist(), segment_value.tolist(),
                                                  strict=True)]
    segment_parts = [[(by, _json(value))] if by else [] for by, value in by_column]
    for name, items in _json_cells(frame, dims):
        for row, text in items:
            segment_parts[row].append((name, text))
    detail_parts: list[list[tuple[str, str]]] = [[] for _ in range(size)]
    for name, items in _json_cells(frame, extras, clean=True):
        for row, text in items:
            detail_parts[row].append((name, text))
    return pd.DataFrame({
        "metric": frame["metric"],
        "grain": grain,
        "period_start": frame["period_start"],
        "segment_by": segment_by.values,
        "segment": [_object(parts) for parts in segment_parts],
        "value": frame["value"].astype("float64"),
        "n": frame["n"].astype("int64"),
        "ci_low": frame["ci_low"].astype("float64"),
        "ci_high": frame["ci_high"].astype("float64"),
        "null_reason": frame["null_reason"].where(frame["null_reason"].notna(), None),
        "target": pd.to_numeric(frame["target"], errors="coerce").astype("float64"),
        "details": [_object(parts) for parts in detail_parts],
    })


def _json_cells(frame: pd.DataFrame, columns: Sequence[str], *, clean: bool = False
                ) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """For each column, the rows where it has a value and that value as JSON text (numbers
    as floats when ``clean``): only present cells are serialised, column by column."""
    for name in columns:
        series = frame[name]
        candidates = np.flatnonzero(~series.isna().to_numpy()) if series.dtype.kind == "f" \
            else np.arange(len(series))
        values = series.tolist()
        items = []
        for row in candidates.tolist():
            value = values[row]
            if isinstance(value, np.generic):
                value = value.item()
            if _present(value):
                items.append((row, _json(_clean(value) if clean else value)))
        yield name, items


def _json(value: object) -> str:
    return json.dumps(value, default=str)


def _object(parts: list[tuple[str, str]]) -> str:
    """A JSON object from (key, JSON text) pairs, keys sorted as ``json.dumps(sort_keys=True)``."""
    if not parts:
        return "{}"
    parts.sort(key=lambda part: part[0])
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in parts) + "}"


def _present(value: object) -> bool:
    return not (value is None or (isinstance(value, float) and math.isnan(value)))


def _clean(value: object) -> object:
    return float(value) if isinstance(value, int | float) else value


#: Tables every metric reads, whatever it declares: segments are customer attributes.
READ_BY_EVERY_METRIC = ("customers",)


@dataclass(frozen=True)
class RefreshPlan:
    """What a refresh must do: everything (``full``, with the ``reason``), nothing (neither
    ``full`` nor ``since``), or, for each metric, the periods from the one containing the
    earliest day changed in the tables it reads (``tables``; ``beyond_facts`` leaves out
    updates of later facts only, see ``ingest/changes.py``, and ``fact_days`` are the days
    of the rows they touched), or since the day after the old data end when the data now
    runs past it (``past_end``); ``since`` is the earliest of them all."""

    full: bool
    reason: str
    since: date | None = None
    last_batch: int = 0
    config: str = ""
    tables: Mapping[str, date] = field(default_factory=dict)
    past_end: date | None = None
    beyond_facts: Mapping[str, date] = field(default_factory=dict)
    fact_days: Mapping[str, frozenset[date]] = field(default_factory=dict)

    def metric_since(self) -> dict[str, date]:
        """Each metric's earliest changed day: the earliest change among the tables it
        declares (and ``READ_BY_EVERY_METRIC``; of the tables whose later facts it ignores,
        or whose updated rows it takes by their days (``metric_days``), the earliest change
        beyond those facts) and ``past_end``; a metric whose tables did not change, with the
        data ending where it did, is missing."""
        since = {}
        for m in all_metrics():
            days = []
            for table in (*m.tables, *READ_BY_EVERY_METRIC):
                beyond = table in m.ignores_later_facts or (m.period_local and table in
                                                            self.fact_days)
                changed = self.beyond_facts if beyond else self.tables
                if table in changed:
                    days.append(changed[table])
            if self.past_end is not None:
                days.append(self.past_end)
            if days:
                since[m.name] = min(days)
        return since

    def metric_days(self) -> dict[str, frozenset[date]]:
        """For each ``period_local`` metric, the days of the rows of its tables whose later
        facts alone changed: it is recomputed for their periods, besides those from its
        ``metric_since`` day on."""
        return {m.name: frozenset().union(*(self.fact_days.get(t, ()) for t in m.tables))
                for m in all_metrics()
                if m.period_local and any(t in self.fact_days for t in m.tables)}


def config_fingerprint(settings: Settings, grains: Sequence[str], segments: Sequence[str]
                       ) -> str:
    """A digest of everything refresh results depend on besides the data: the settings,
    grains and segments, and the code of the metric definitions."""
    digest = hashlib.sha256()
    digest.update(json.dumps([settings.model_dump(mode="json"), list(grains), list(segments),
                              _code_digest()], sort_keys=True, default=str).encode())
    return digest.hexdigest()


@functools.cache
def _code_digest() -> str:
    """The version and the source of the metric and text-sentiment modules, read once per
    process (the code this process runs)."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).parents[1]
    for folder in ("metrics", "enrich"):
        for path in sorted((package / folder).glob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def current_basis(sql: duckdb.DuckDBPyConnection, settings: Settings, *, today: date
                  ) -> dict[str, object] | None:
    """What the last refresh's results rest on, when the ledger alone shows they are still
    current on ``today``: the same settings and metric code (for its grains and segments),
    no batch loaded since (so no table gained or lost its rows), and no day recorded after
    its data end up to ``today`` (so the data end has not moved). Only for a DuckDB
    warehouse, whose tables ``sql`` reads; it never starts the engine. None means "not
    known here": ``plan_refresh`` then reads the data."""
    last = sql.execute("SELECT grains, segments FROM _refreshes "
                       "ORDER BY refreshed_at DESC LIMIT 1").fetchall()
    basis = read_basis(sql)
    if not last or basis is None:
        return None
    settled = config_fingerprint(settings, list(last[0][0]), list(last[0][1]))
    newest = sql.execute("SELECT coalesce(max(batch_id), 0) FROM _batches").fetchall()[0][0]
    known_until = basis["known_until"]
    if (str(basis["config"]).split(" ")[0] != settled or newest != basis["last_batch"]
            or not isinstance(known_until, date) or known_until > today
            or recorded_between(sql, known_until, today)):
        return None
    return basis


def plan_refresh(
    sql: duckdb.DuckDBPyConnection, con: BaseBackend, settings: Settings,
    grains: Sequence[str], segments: Sequence[str], *, today: date,
) -> RefreshPlan:
    """Compare the data and settings with what the stored results rest on (the ingest
    ledger's batches since the last refresh, and the earliest day each of them changed)."""
    # which tables are empty is part of the basis: loading the first rows of a table turns
    # its metrics from "load it" into values in every period (see ``engine.sources``)
    settled = config_fingerprint(settings, grains, segments)
    config = f"{settled} empty:{','.join(sorted(empty_tables(con, list(TABLES))))}"
    newest = sql.execute("SELECT coalesce(max(batch_id), 0) FROM _batches").fetchall()[0][0]

    def full(reason: str) -> RefreshPlan:
        return RefreshPlan(True, reason, None, newest, config)

    basis = read_basis(sql)
    if basis is None:
        return full("no earlier refresh to build on")
    if basis["config"] != config:
        if str(basis["config"]).split(" ")[0] == settled:
            return full("a table without rows got some, or lost all of them")
        return full("the settings, grains, segments or metric definitions changed")
    batches = sql.execute(
        "SELECT b.batch_id, b.table_name, c.batch_id IS NOT NULL, c.earliest, c.everything, "
        "c.earliest_beyond_facts, c.fact_days FROM _batches b "
        "LEFT JOIN _batch_changes c USING (batch_id) "
        "WHERE b.batch_id > ? ORDER BY b.batch_id", [basis["last_batch"]]).fetchall()
    tables: dict[str, date] = {}
    beyond_facts: dict[str, date] = {}
    fact_days: dict[str, frozenset[date]] = {}
    for batch_id, table, recorded, earliest, everything, beyond, days in batches:
        if not recorded:
            return full(f"batch {batch_id} ({table}) predates change tracking")
        if everything:
            return full(f"batch {batch_id} changed {table} in a way every period depends on")
        if earliest is not None:
            tables[table] = min(tables.get(table, earliest), earliest)
        if beyond is not None:
            beyond_facts[table] = min(beyond_facts.get(table, beyond), beyond)
        if days:
            fact_days[table] = fact_days.get(table, frozenset()).union(days)
    first, last = data_start(con, today), data_end(con, today)
    if first != basis["first_day"]:
        return full("the data now starts on another day")
    if last < basis["known_until"]:
        return full("the data now ends earlier")
    # the data now runs past the old end: every metric changes from the day after it (a
    # period that ended on the old end keeps the values of the metrics that only look back;
    # the ones that look ahead reach back from here)
    past_end = basis["known_until"] + timedelta(days=1) if last != basis["known_until"] \
        else None
    since = min([*tables.values(), *([past_end] if past_end else [])], default=None)
    if since is None:
        return RefreshPlan(False, "nothing changed since the last refresh", None, newest,
                           config)
    where = [f"{table} from {day}" + (
        f" (from {beyond_facts[table]} besides later facts)"
        if beyond_facts.get(table, day) != day else "") for table, day in sorted(tables.items())]
    where += [f"new days from {past_end}"] if past_end else []
    return RefreshPlan(False, f"data changed from {since} on ({', '.join(where)})", since,
                       newest, config, tables, past_end, beyond_facts, fact_days)
