"""Running metric definitions: a request in, one tidy DataFrame out.

This is the only place that executes metric expressions; the CLI, the API, refresh and the
dashboard all come through ``compute``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.clock import Clock, default_clock, parse_day
from csmetrics.config import Settings
from csmetrics.errors import FieldError, UnknownNameError, UserInputError, closest
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import MetricDefinition, all_metrics, get_metric
from csmetrics.metrics.money import check_rates
from csmetrics.metrics.periods import Calendar, Grain, next_start, period_start, period_starts
from csmetrics.metrics.policy import Policy
from csmetrics.metrics.result import STANDARD
from csmetrics.schema import TABLES, DType
from csmetrics.store.engines import compile_ahead, run_compiled

if TYPE_CHECKING:
    import ibis
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


DEFAULT_PERIODS = 12


@dataclass(frozen=True)
class MetricRequest:
    """What to compute: metrics, period grain and range, segments and filters."""

    metrics: tuple[str, ...]
    grain: Grain = Grain.MONTH
    start: date | None = None
    end: date | None = None
    by: tuple[str, ...] = ()
    customer: str | None = None
    where: tuple[tuple[str, str], ...] = field(default=())
    as_of: date | None = None

    @classmethod
    def create(
        cls,
        metrics: str | Iterable[str],
        *,
        period: str | Grain = "month",
        start: date | str | None = None,
        end: date | str | None = None,
        by: str | Iterable[str] | None = None,
        customer: str | None = None,
        where: dict[str, str] | Iterable[str] | None = None,
        as_of: date | str | None = None,
    ) -> MetricRequest:
        """A request from loose user input, checked: unknown names get a suggestion."""
        names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        if not names:
            raise UserInputError("Name at least one metric (see 'csmetrics metrics list').")
        for name in names:
            get_metric(name)
        try:
            grain = period if isinstance(period, Grain) else Grain(period)
        except ValueError:
            raise UserInputError(
                f"--period {period!r} is not one of day, week, month, quarter, year."
            ) from None
        segments = _segments(by)
        return cls(
            metrics=names, grain=grain, start=parse_day(start, "--from"),
            end=parse_day(end, "--to"),
            by=segments, customer=customer, where=_filters(where),
            as_of=parse_day(as_of, "--as-of"),
        )


def _split(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]


#: Columns every result row has: a segment of the same name would overwrite them.
RESULT_COLUMNS = frozenset({"metric", "period_start", *STANDARD, "target", "benchmark",
                            "segment_by", "segment_value", "partial"})
#: Number columns of the canonical tables: what metrics add up, never a segment (segmenting
#: turns the column into text, and a metric summing it would fail).
NUMBER_COLUMNS = frozenset(c.name for t in TABLES.values() for c in t.columns
                           if c.dtype in (DType.INTEGER, DType.NUMBER, DType.MONEY))


def _segments(by: str | Iterable[str] | None) -> tuple[str, ...]:
    """The segment columns asked for, each once, none a result column or a number."""
    segments = _split(by)
    for i, name in enumerate(segments):
        if name in segments[:i]:
            raise FieldError("by", f"--by names {name!r} twice; name each segment once.")
        if name in RESULT_COLUMNS:
            raise FieldError("by", f"--by {name!r} is a column of every result, not a "
                             "segment; segment by a customer column or attribute, e.g. plan.")
        if name in NUMBER_COLUMNS:
            raise FieldError("by", f"--by {name!r} is a number, not a category; segment by a "
                             "text column or customer attribute, e.g. size_tier or plan.")
    return tuple(segments)


def _filters(where: dict[str, str] | Iterable[str] | None) -> tuple[tuple[str, str], ...]:
    if where is None:
        return ()
    if isinstance(where, dict):
        return tuple((str(k), str(v)) for k, v in where.items())
    pairs = []
    for item in where:
        column, sep, value = item.partition("=")
        if not sep or not column.strip():
            raise UserInputError(f"--where {item!r} must look like COLUMN=VALUE, e.g. region=EMEA.")
        pairs.append((column.strip(), value.strip()))
    return tuple(pairs)


STACKED_BY = ("segment_by", "segment_value")


def compute(
    con: BaseBackend, settings: Settings, request: MetricRequest, *, stack: tuple[str, ...] = (),
    data_ends: date | None = None, periods: Sequence[date] | None = None,
    today: date | None = None,
) -> pd.DataFrame:
    """Every requested metric for every period and segment, as one long table (see
    ``result.py`` for the columns), with targets and benchmarks.

    ``stack`` (used by refresh) computes several segmentations in one pass: the rows then
    carry ``segment_by`` ("" for the total) and ``segment_value`` instead of ``by``.
    ``data_ends``: ``data_end(con, today)`` when the caller knows it already (refresh runs
    many passes over the same data). ``today``: the day data past which is not yet known
    (default: today in the workspace's time zone, by the process clock). ``periods``: the
    starts of the periods to compute, in order, instead of the request's range (refresh
    recomputes only the periods that new data changed).
    """
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    day = today or workspace_today(settings)
    known_until = request.as_of or data_ends or data_end(con, day)
    end = request.end or known_until
    start = request.start or default_start(end, request.grain, calendar)
    starts = list(periods) if periods else period_starts(start, end, request.grain, calendar)
    check_segments(con, (*request.by, *(s for s in stack if s)), request.where)
    ctx = MetricContext(
        con=con, grain=request.grain, starts=starts, by=STACKED_BY if stack else request.by,
        stack=stack, customer=request.customer,
        where=request.where, policy=Policy.from_settings(settings.policy),
        options=settings.metrics, currency=settings.workspace.currency,
        as_of=request.as_of, known_until=known_until,
    )
    definitions = [get_metric(name) for name in request.metrics]
    check_rates(ctx, tuple({t for d in definitions for t in d.tables}))
    try:
        frames = _run_all(ctx, definitions, settings)
    finally:
        ctx.close()
    # what the data speaks for: until the as-of day the user gives, else the data end; never
    # after today
    limit = min(known_until, day)
    after = (f"after today {day}" if limit == day and known_until > day
             else f"after the as-of day {limit}" if request.as_of is not None
             else f"after the data end {limit}")
    unloaded = unloaded_reasons(con, [d.name for d in definitions])
    return pd.concat([honest(frame, d, request.grain, limit, after, unloaded.get(d.name))
                      for frame, d in zip(frames, definitions, strict=True)],
                     ignore_index=True)


def honest(frame: pd.DataFrame, definition: MetricDefinition, grain: Grain, limit: date,
           after: str, unloaded: str | None = None) -> pd.DataFrame:
    """One metric's rows as they may be shown, given that the data speaks only until
    ``limit`` (the as-of day asked for, else the data end; never after today):

    - ``partial`` is True for a period that ends after ``limit`` (still running when the
      data stops: its value is not comparable with a whole period's);
    - a period that starts after ``limit`` has no value, with the reason ``after`` (its
      value would only repeat the last state of the data as if nothing happened since);
    - ``unloaded`` (a metric whose source tables are empty, see ``unloaded_reasons``): no
      value in any period, with that reason, instead of zeros.
    """
    frame = frame.copy()
    starts = pd.to_datetime(frame["period_start"]).dt.date
    ends = starts.map(lambda s: next_start(s, grain) - timedelta(days=1))
    future = starts > limit
    frame["partial"] = ((ends > limit) & ~future).astype(bool)
    blank = pd.Series(True, index=frame.index) if unloaded else future
    if blank.any():
        nulled = ["value", "ci_low", "ci_high",
                  *(c for c in definition.extra_columns if c in frame.columns)]
        frame[nulled] = frame[nulled].astype("float64")
        frame.loc[blank, nulled] = float("nan")
        frame.loc[blank, "n"] = 0
        frame["null_reason"] = frame["null_reason"].astype(object)
        frame.loc[blank, "null_reason"] = unloaded or after
    return frame


#: The tables a metric never needs to have rows: exchange rates matter only where there are
#: several currencies.
OPTIONAL_SOURCES = frozenset({"exchange_rates"})
#: Tables of which one is enough: revenue comes from subscriptions, orders or both.
REVENUE_SOURCES = ("subscriptions", "orders")
#: Metrics that rest on any one of several tables, beyond the rule of ``sources``.
ALTERNATIVE_SOURCES: dict[str, tuple[tuple[str, ...], ...]] = {
    "conversion_rate": (("leads", "traffic"),),
    "negative_comment_share": (("survey_responses", "activities", "feedback"),),
    "referrals": (("customers",), REVENUE_SOURCES),
    "introducer_share": (("customers",), REVENUE_SOURCES),
    # seats: customers.seats, else the quantity of the subscriptions in force
    "seat_utilisation": (("customers", "subscriptions"), ("usage_events",)),
}


def sources(definition: MetricDefinition) -> tuple[tuple[str, ...], ...]:
    """The groups of tables a metric measures: in each group at least one table must have
    rows, else there is nothing to measure (and its value is unknown, not zero). Every table
    it reads is a group of its own, except exchange rates (optional), and subscriptions and
    orders, which form one group (revenue from either)."""
    if definition.name in ALTERNATIVE_SOURCES:
        return ALTERNATIVE_SOURCES[definition.name]
    groups: list[tuple[str, ...]] = []
    revenue = tuple(t for t in REVENUE_SOURCES if t in definition.tables)
    for table in definition.tables:
        if table in REVENUE_SOURCES and table == revenue[0]:
            groups.append(revenue)
        elif table not in OPTIONAL_SOURCES and table not in REVENUE_SOURCES:
            groups.append((table,))
    return tuple(groups)


def unloaded_sources(con: BaseBackend, metrics: Sequence[str]
                     ) -> dict[str, list[tuple[str, ...]]]:
    """For each of ``metrics`` that has nothing to measure, the groups of its source tables
    (see ``sources``) whose tables all have no rows: what to load to see it."""
    definitions = [get_metric(name) for name in metrics]
    needed = sorted({t for d in definitions for group in sources(d) for t in group})
    empty = empty_tables(con, needed)
    missing = {d.name: [g for g in sources(d) if set(g) <= empty] for d in definitions}
    return {name: groups for name, groups in missing.items() if groups}


def unloaded_reasons(con: BaseBackend, metrics: Sequence[str]) -> dict[str, str]:
    """For each of ``metrics`` whose source tables have no rows (``unloaded_sources``), why
    it has no value and what to load to see it, e.g. "no usage_events loaded: load
    usage_events to see Daily active users (DAU)"."""
    reasons = {}
    for name, groups in unloaded_sources(con, metrics).items():
        what = ", ".join(" or ".join(group) for group in groups)
        reasons[name] = f"no {what} loaded: load {what} to see {get_metric(name).title}"
    return reasons


def empty_tables(con: BaseBackend, tables: Sequence[str]) -> frozenset[str]:
    """Those of ``tables`` without a single row, in one query (each reads at most a row)."""
    if not tables:
        return frozenset()
    counts = [con.table(name).limit(1).aggregate(source=ibis.literal(name), rows=ibis._.count())
              for name in tables]
    frame = con.execute(ibis.union(*counts))
    present = set(frame.loc[frame["rows"] > 0, "source"])
    return frozenset(t for t in tables if t not in present)


@dataclass
class _Prepared:
    """A metric ready to run: the context it runs in (``own``: made for it, closed after
    it), its expression, and its SQL being compiled."""

    ctx: MetricContext
    own: bool
    definition: MetricDefinition
    expr: Any
    sql: Future[str | None]


def _run_all(ctx: MetricContext, definitions: Sequence[MetricDefinition], settings: Settings
             ) -> list[pd.DataFrame]:
    """Each definition's rows, in order. Each metric is built, then compiled in a second
    thread while the engine runs the metric before it: compiling is Python, running is
    the engine's, so the two overlap."""
    frames: list[pd.DataFrame] = []
    with ThreadPoolExecutor(max_workers=1) as compiler:
        pending: _Prepared | None = None
        try:
            for definition in [*definitions, None]:
                ready = pending
                pending = None if definition is None else _prepare(ctx, definition, compiler)
                if ready is not None:
                    frames.append(_run(ready, settings))
        finally:
            if pending is not None and pending.own:
                pending.ctx.close()
    return frames


def _prepare(ctx: MetricContext, definition: MetricDefinition, compiler: ThreadPoolExecutor
             ) -> _Prepared:
    own = bool(definition.dimension) and definition.dimension not in ctx.by
    if own:
        # its own context (and cache): shared intermediates carry the segment columns
        ctx = replace(ctx, by=(*ctx.by, definition.dimension), _cache={}, _temporary=[])
    expr = definition.build(ctx)
    return _Prepared(ctx, own, definition, expr, compiler.submit(compile_ahead, ctx.con, expr))


def _run(prepared: _Prepared, settings: Settings) -> pd.DataFrame:
    ctx, definition = prepared.ctx, prepared.definition
    try:
        frame = run_compiled(ctx.con, prepared.expr, prepared.sql.result())
    finally:
        if prepared.own:
            ctx.close()
    frame = _complete(frame, ctx, definition)
    frame.insert(0, "metric", definition.name)
    frame["target"] = _targets(settings, definition.name, frame, ctx.by)
    frame["benchmark"] = definition.benchmark
    return frame


def _complete(frame: pd.DataFrame, ctx: MetricContext, definition: MetricDefinition
              ) -> pd.DataFrame:
    """Give every period (for every segment seen) a row, and every empty value a reason."""
    frame = frame.copy()
    frame["period_start"] = pd.to_datetime(frame["period_start"]).dt.date
    segments = frame[list(ctx.by)].drop_duplicates() if ctx.by else pd.DataFrame(index=[0])
    if ctx.by and segments.empty:
        return frame
    grid = pd.DataFrame({"period_start": ctx.starts}).merge(segments, how="cross")
    grid = grid.drop(columns=[c for c in grid.columns if c not in ["period_start", *ctx.by]])
    merged = grid.merge(frame, on=["period_start", *ctx.by], how="left", indicator=True)
    missing = merged["_merge"] == "left_only"
    merged = merged.drop(columns="_merge")
    merged.loc[missing, "n"] = 0
    if definition.empty_value is not None:
        merged.loc[missing, "value"] = definition.empty_value
    empty = merged["value"].isna() & merged["null_reason"].isna()
    merged.loc[empty, "null_reason"] = definition.empty_reason
    merged["n"] = merged["n"].fillna(0).astype("int64")
    columns = ["period_start", *ctx.by, *STANDARD]
    extras = [c for c in merged.columns if c not in columns]
    merged = merged[columns + extras]
    return merged.sort_values(["period_start", *ctx.by], kind="stable").reset_index(drop=True)


def _targets(settings: Settings, metric: str, frame: pd.DataFrame, by: Sequence[str]) -> pd.Series:
    """The target of every row: the segment's own where one is set, else the default."""
    if metric not in settings.targets or frame.empty:
        return pd.Series([None] * len(frame), index=frame.index, dtype="object")
    if tuple(by) == STACKED_BY:
        segments = [{} if not b else {b: v} for b, v in
                    zip(frame["segment_by"], frame["segment_value"], strict=True)]
    else:
        segments = frame[list(by)].astype(str).to_dict("records") if by else [{}] * len(frame)
    return pd.Series([target_for(settings, metric, s) for s in segments], index=frame.index,
                     dtype="object")


def target_for(settings: Settings, metric: str, segment: dict[str, object]) -> float | None:
    """The user's target for a metric, for this segment if one is set for it."""
    target = settings.targets.get(metric)
    if target is None or isinstance(target, int | float):
        return None if target is None else float(target)
    for column, value in segment.items():
        if f"{column}={value}" in target:
            return float(target[f"{column}={value}"])
    default = target.get("default")
    return None if default is None else float(default)


def default_start(end: date, grain: Grain, calendar: Calendar) -> date:
    start = period_start(end, grain, calendar)
    for _ in range(DEFAULT_PERIODS - 1):
        start = period_start(start - pd.Timedelta(days=1), grain, calendar)
    return start


#: The dates that say how far the recorded data runs. Scheduled subscription ends do not:
#: they would stretch the data into the future and make recent activity look like a decline.
RECORDED = (
    ("subscriptions", "start_date"), ("orders", "ordered_at"),
    ("usage_events", "occurred_at"), ("survey_responses", "responded_at"),
    ("tickets", "opened_at"), ("activities", "occurred_at"), ("customers", "started_at"),
    ("leads", "created_at"), ("traffic", "date"), ("feedback", "submitted_at"),
)

#: Rows that users write in csmetrics itself (a note logged on a customer's page, dated when it
#: was written): real touches, but not data from the company's systems, so they do not move
#: the data end. Table -> (column, value) of those rows.
WRITTEN_HERE = {"activities": ("kind", "note")}


def data_end(con: BaseBackend, today: date) -> date:
    """The last day anything was recorded, never after ``today`` (an empty warehouse: today).
    The default end of a query, the default scoring day, and the last day a backtest may
    read outcomes from."""
    latest = _latest_days(con, RECORDED)
    # a date in the future (a renewal already booked): the latest day up to today instead
    future = [key for key, day in latest.items() if day > today]
    for key in future:
        del latest[key]
    latest.update(_latest_days(con, future, until=today))
    return max(latest.values(), default=today)


def recorded_between(sql: Any, after: date, until: date) -> bool:
    """Whether a DuckDB warehouse (``sql``, its connection) records a day (``RECORDED``,
    without ``WRITTEN_HERE``) after ``after`` and up to ``until``: when not, ``data_end``
    on ``until`` is still ``after`` for data whose end was ``after``. The same question as
    ``data_end`` asks, in SQL on the raw columns (their zone maps skip most row groups), to
    answer from stored results without starting the engine."""
    if until <= after:
        return False
    checks = []
    for table, column in RECORDED:
        timestamp = TABLES[table].column(column).dtype is DType.TIMESTAMP
        low, high = (("CAST($after AS TIMESTAMP) + INTERVAL 1 DAY",
                      "CAST($until AS TIMESTAMP) + INTERVAL 1 DAY") if timestamp
                     else ("$after + INTERVAL 1 DAY", "$until + INTERVAL 1 DAY"))
        where = f"{column} >= {low} AND {column} < {high}"
        if table in WRITTEN_HERE:
            marker, value = WRITTEN_HERE[table]
            where += f" AND ({marker} IS NULL OR {marker} <> '{value}')"
        checks.append(f"SELECT 1 FROM {table} WHERE {where}")
    found = sql.execute(f"SELECT EXISTS ({' UNION ALL '.join(checks)})",
                        {"after": after, "until": until}).fetchall()
    return bool(found[0][0])


def workspace_today(settings: Settings, clock: Clock | None = None) -> date:
    """Today's calendar day in the workspace's time zone, by ``clock`` (default: the
    process clock)."""
    return (clock or default_clock()).today(settings.workspace.timezone)


def _latest_days(con: BaseBackend, columns: Sequence[tuple[str, str]], until: date | None = None
                 ) -> dict[tuple[str, str], date]:
    """The latest day in each (table, column) that has one (up to ``until``), in one query.
    Without ``until`` the engine can answer from its statistics, without a scan."""
    if not columns:
        return {}
    ends = []
    for table, column in columns:
        t = con.table(table)
        if table in WRITTEN_HERE:
            marker, value = WRITTEN_HERE[table]
            t = t.filter(t[marker].isnull() | (t[marker] != value))
        day = t[column].cast("date") if until else t[column]
        ends.append(t.aggregate(source=ibis.literal(table), column=ibis.literal(column),
                                latest=day.max(where=day <= until) if until else day.max()))
    frame = con.execute(ibis.union(*(e.mutate(latest=e.latest.cast("date")) for e in ends)))
    return {(r.source, r.column): pd.Timestamp(r.latest).date()
            for r in frame.itertuples() if r.latest is not None and not pd.isna(r.latest)}


def check_segments(con: BaseBackend, by: Sequence[str], where: Sequence[tuple[str, str]]) -> None:
    """Refuse a segment or filter column that no table or customer attribute has."""
    names = [*by, *(column for column, _ in where)]
    if not names:
        return
    known = {c for t in TABLES.values() for c in t.column_names}
    unknown = [n for n in names if n not in known]
    if not unknown:
        return
    c = con.table("customers")
    keys = c.select(key=c.attributes.keys().unnest()).distinct()
    attribute_keys = set(con.execute(keys)["key"].dropna())
    for name in unknown:
        if name not in attribute_keys:
            choices = sorted(known | attribute_keys)
            raise UnknownNameError(
                f"No column or customer attribute {name!r} to segment or filter by."
                f"{closest(name, choices)} Customer columns: "
                f"{', '.join(TABLES['customers'].column_names)}."
            )


def catalogue() -> list[MetricDefinition]:
    """Every metric, in catalogue order."""
    return all_metrics()




__all__ = ["MetricRequest", "catalogue", "compute", "data_end", "empty_tables", "honest",
           "recorded_between", "sources", "unloaded_reasons", "unloaded_sources",
           "workspace_today"]
