"""How a metric value reads to a person: money with its currency and thousands separators,
rates as percentages, ratios as multiples, days as dates, periods as "Jan 2026" or "2026 Q1",
column names as headers, and benchmarks in the period of the page that shows them."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from csmetrics.metrics.definition import Benchmark, MetricDefinition, Unit

#: Periods a benchmark or a page can be about, as periods per year.
PER_YEAR = {"week": 52.0, "month": 12.0, "quarter": 4.0, "year": 1.0}
#: "a month", "a quarter": how a period reads after a value ("5 % a year").
_A_PERIOD = {"week": "a week", "month": "a month", "quarter": "a quarter", "year": "a year"}

#: Headers of well-known columns; other snake_case names read as "Top terms", "Mrr share".
_HEADERS = {"customer_id": "Customer", "customer": "Customer", "mrr": "MRR", "arr": "ARR",
            "nps": "NPS", "csat": "CSAT", "ces": "CES", "id": "ID", "n": "n",
            "period_start": "Period", "cohort": "Cohort", "customers": "Customers"}
#: Words that are acronyms inside longer names (``mrr_at_risk`` -> "MRR at risk").
_ACRONYMS = {"mrr": "MRR", "arr": "ARR", "nps": "NPS", "csat": "CSAT", "ces": "CES",
             "id": "ID", "ltv": "LTV", "cac": "CAC", "clv": "CLV", "csm": "CSM", "url": "URL"}
#: Column-name words that mark an amount of money or a share (a fraction shown as %).
_MONEY_WORDS = {"mrr", "arr", "amount", "revenue", "spend", "cac", "clv", "ltv", "arpa"}
_SHARE_WORDS = {"share", "rate", "ratio_pct", "pct", "percent"}


def is_empty(value: Any) -> bool:
    """Whether a cell holds nothing: None, NaN or pandas' NaT/NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT and pd.NA are not equal to themselves
    except (TypeError, ValueError):
        return False


def format_value(value: float | None, unit: Unit, currency: str = "USD") -> str:
    """One value in its unit: ``0.053`` (rate) as ``5.3 %``, ``12500`` (money) as
    ``12,500.00 USD``, ``1234`` (count) as ``1,234``, ``3.2`` (ratio) as ``3.2×``,
    ``36.5`` (hours) as ``36.5 h``; an empty value as ``—``."""
    if value is None or is_empty(value) or (isinstance(value, float) and math.isinf(value)):
        return "—"
    value = float(value)
    if unit is Unit.RATE:
        return f"{value * 100:.1f} %"
    if unit is Unit.MONEY:
        return f"{value:,.2f} {currency}"
    if unit is Unit.COUNT:
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    if unit is Unit.RATIO:
        return f"{value:,.1f}×"
    if unit is Unit.SCORE:
        return f"{value:.1f}"
    if unit is Unit.HOURS:
        return f"{value:,.1f} h"
    if unit is Unit.DAYS:
        return f"{value:,.1f} days"
    if unit is Unit.MONTHS:
        return f"{value:.1f} months"
    if unit is Unit.YEARS:
        return f"{value:.2f} years"
    return f"{value:,.2f}"


def format_change(change: float | None, unit: Unit, currency: str = "USD") -> str:
    """A change between two periods with its sign: rates in percentage points
    (``+2.9 pts``), money with its currency (``-1,200.00 USD``), counts as integers."""
    if change is None or is_empty(change):
        return ""
    if unit is Unit.RATE:
        return f"{change * 100:+.1f} pts"
    shown = format_value(abs(change), unit, currency)
    return ("-" if change < 0 else "+") + shown


def format_date(value: date | datetime | str) -> str:
    """A day as ``6 Jan 2026``; a time of day other than midnight is kept:
    ``6 Jan 2026 14:05``."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):  # a pandas Timestamp
        value = value.to_pydatetime()
    day = f"{value.day} {value:%b %Y}"
    if isinstance(value, datetime) and (value.hour, value.minute, value.second) != (0, 0, 0):
        return f"{day} {value:%H:%M}"
    return day


def period_label(start: date | datetime | str, period: str) -> str:
    """The period that starts on ``start``, as people say it: ``Jan 2026`` (month),
    ``2026 Q1`` (quarter of the calendar year), ``Week of 6 Jan`` (week), ``2026`` (year),
    ``6 Jan 2026`` (day)."""
    if isinstance(start, str):
        start = date.fromisoformat(start[:10])
    if period == "month":
        return f"{start:%b %Y}"
    if period == "quarter":
        return f"{start.year} Q{(start.month - 1) // 3 + 1}"
    if period == "week":
        return f"Week of {start.day} {start:%b}"
    if period == "year":
        return f"{start.year}"
    return format_date(start)


def column_label(name: str) -> str:
    """A column's header for people: ``customer_id`` -> ``Customer``, ``mrr`` -> ``MRR``,
    ``negative_share`` -> ``Negative share``, ``mrr_at_risk`` -> ``MRR at risk``."""
    if name in _HEADERS:
        return _HEADERS[name]
    words = [w for w in str(name).split("_") if w]
    if not words:
        return str(name)
    shown = [_ACRONYMS.get(w.lower(), w.lower()) for w in words]
    first = shown[0]
    shown[0] = first if first in _ACRONYMS.values() else first[:1].upper() + first[1:]
    return " ".join(shown)


def column_unit(name: str) -> Unit | None:
    """The unit a column's name implies: money for ``mrr``, ``arr_at_risk``, ``amount``;
    a rate for ``*_share`` and ``*_rate``; None when the name says nothing."""
    words = set(str(name).lower().split("_"))
    if words & _SHARE_WORDS:
        return Unit.RATE
    if words & _MONEY_WORDS:
        return Unit.MONEY
    return None


def format_cell(column: str, value: Any, currency: str = "USD") -> str:
    """One table cell for people: money and shares by the column's name (see
    ``column_unit``), dates as ``6 Jan 2026``, whole numbers with thousands separators,
    other numbers with two decimals, lists joined with commas, nothing as an empty cell."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if is_empty(value):
        return ""
    if isinstance(value, date | datetime) or hasattr(value, "to_pydatetime"):
        return format_date(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    unit = column_unit(column)
    if unit is not None:
        return format_value(value, unit, currency)
    number = float(value)
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.2f}"


def convert_rate(rate: float, how: str, periods: float) -> float:
    """A per-period rate carried to a period ``periods`` times as long, assuming the same
    rate every period: churn ``1 - (1 - c)^k``, retention ``r^k``."""
    if how == "churn":
        return 1 - (1 - rate) ** periods
    if how == "retention":
        return rate ** periods
    raise ValueError(f"unknown conversion {how!r}; use 'churn' or 'retention'")


def benchmark_text(definition: MetricDefinition, period: str, currency: str = "USD") -> str:
    """A metric's benchmark as a tile shows it on a page of ``period``s: a range in the
    page's period when it converts exactly (a yearly churn range on a monthly page),
    otherwise labelled with its own period (``5.0–7.0 % a year``); the free text when the
    metric has no structured benchmark; empty when it has none at all."""
    bench = definition.benchmark_range
    if bench is None:
        return definition.benchmark or ""
    unit = definition.unit
    own = _range_text(bench.low, bench.high, unit, currency)
    if bench.per is None or bench.per == period:
        text = own + (f" {_A_PERIOD[bench.per]}" if bench.per else "")
    elif bench.convert and period in PER_YEAR:
        k = PER_YEAR[bench.per] / PER_YEAR[period]
        low, high = (None if v is None else convert_rate(v, bench.convert, k)
                     for v in (bench.low, bench.high))
        shown = _range_text(low, high, unit, currency)
        text = f"{shown} {_A_PERIOD[period]} (= {own} {_A_PERIOD[bench.per]})"
    else:
        text = f"{own} {_A_PERIOD[bench.per]}"
    return f"{text}; {bench.note}" if bench.note else text


def _range_text(low: float | None, high: float | None, unit: Unit, currency: str) -> str:
    """``5–7 %``, ``0.43–0.60 %``, ``at least 3.0×``, ``at most 2 %``; rates keep two
    significant digits of their smaller end, so converted ranges stay distinct."""
    ends = [v for v in (low, high) if v is not None]
    if not ends:
        return ""
    if unit is Unit.RATE:
        smallest = min(abs(v) for v in ends) * 100
        places = 0 if smallest == 0 else max(0, 1 - math.floor(math.log10(smallest)))
        if all(round(v * 100, 9).is_integer() for v in ends):
            places = 0
        left, right = (None if v is None else f"{v * 100:.{places}f}" for v in (low, high))
        tail = " %"
    else:
        left, right = (None if v is None else format_value(v, unit, currency)
                       for v in (low, high))
        tail = ""
        if left and right and unit is Unit.MONEY:
            left, tail = left.removesuffix(f" {currency}"), ""
    if left is not None and right is not None:
        return f"{left}–{right}{tail}"
    if left is not None:
        return f"at least {left}{tail}"
    return f"at most {right}{tail}"


__all__ = ["Benchmark", "benchmark_text", "column_label", "column_unit", "convert_rate",
           "format_cell", "format_change", "format_date", "format_value", "is_empty",
           "period_label"]
