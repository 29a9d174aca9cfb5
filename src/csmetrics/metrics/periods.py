"""Calendar periods: day, week, month, quarter, year, half-open [start, end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.errors import UserInputError

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    import pandas as pd
else:
    ibis = lazy_module("ibis")
    pd = lazy_module("pandas")


class Grain(Enum):
    """Period length."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"

    @property
    def per_year(self) -> float:
        """How many periods make a year (for annualising rates)."""
        return {"day": 365.0, "week": 52.0, "month": 12.0, "quarter": 4.0, "year": 1.0}[self.value]


@dataclass(frozen=True)
class Calendar:
    """How weeks and fiscal years start."""

    week_start: str = "monday"
    year_start_month: int = 1


def period_start(day: date, grain: Grain, calendar: Calendar = Calendar()) -> date:
    """The first day of the period that contains ``day``."""
    if grain is Grain.DAY:
        return day
    if grain is Grain.WEEK:
        offset = day.weekday() if calendar.week_start == "monday" else (day.weekday() + 1) % 7
        return day - timedelta(days=offset)
    months_per = {Grain.MONTH: 1, Grain.QUARTER: 3, Grain.YEAR: 12}[grain]
    index = (day.year * 12 + day.month - 1) - (calendar.year_start_month - 1)
    index -= index % months_per
    index += calendar.year_start_month - 1
    return date(index // 12, index % 12 + 1, 1)


def next_start(start: date, grain: Grain) -> date:
    """The first day of the period after the one starting on ``start``."""
    if grain is Grain.DAY:
        return start + timedelta(days=1)
    if grain is Grain.WEEK:
        return start + timedelta(days=7)
    months = {Grain.MONTH: 1, Grain.QUARTER: 3, Grain.YEAR: 12}[grain]
    index = start.year * 12 + start.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_starts(first: date, last: date, grain: Grain, calendar: Calendar = Calendar()
                  ) -> list[date]:
    """Starts of every period that overlaps [first, last] (both inclusive)."""
    if last < first:
        raise UserInputError(f"--to {last} is before --from {first}.")
    starts = []
    current = period_start(first, grain, calendar)
    while current <= last:
        starts.append(current)
        current = next_start(current, grain)
    if len(starts) > 20_000:
        raise UserInputError(f"{len(starts)} {grain.value}s is too many periods; use a coarser "
                             "--period or a shorter range.")
    return starts


def periods_frame(starts: list[date], grain: Grain) -> pd.DataFrame:
    """One row per period: ``period_start``, ``period_end`` (exclusive), ``last_day``,
    ``prev_last_day`` (the last day of the period before) and ``period_index``."""
    ends = [next_start(s, grain) for s in starts]
    return pd.DataFrame({
        "period_index": range(len(starts)),
        "period_start": pd.to_datetime(starts).date,
        "period_end": pd.to_datetime(ends).date,
        "last_day": [e - timedelta(days=1) for e in ends],
        "prev_last_day": [s - timedelta(days=1) for s in starts],
    })


def periods_table(starts: list[date], grain: Grain) -> ir.Table:
    """The periods as an Ibis table, for joins inside metric expressions."""
    frame = periods_frame(starts, grain)
    schema = {"period_index": "int64", "period_start": "date", "period_end": "date",
              "last_day": "date", "prev_last_day": "date"}
    return ibis.memtable(frame, schema=schema)
