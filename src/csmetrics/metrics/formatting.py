"""How a metric value reads to a person: money with its currency, rates as percentages."""

from __future__ import annotations

import math

from csmetrics.metrics.definition import Unit


def format_value(value: float | None, unit: Unit, currency: str = "USD") -> str:
    """``0.053`` as ``5.3 %``, ``12500`` as ``12,500.00 USD``, an empty value as ``—``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if unit is Unit.RATE:
        return f"{value * 100:.1f} %"
    if unit is Unit.MONEY:
        return f"{value:,.2f} {currency}"
    if unit is Unit.COUNT:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    if unit is Unit.RATIO:
        return f"{value:.2f}x"
    if unit is Unit.SCORE:
        return f"{value:.1f}"
    if unit is Unit.DAYS:
        return f"{value:.1f} days"
    if unit is Unit.MONTHS:
        return f"{value:.1f} months"
    if unit is Unit.YEARS:
        return f"{value:.2f} years"
    return f"{value:,.2f}"
