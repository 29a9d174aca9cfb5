"""The standard shape of a metric result, and the statistics every result may carry.

Each row: ``period_start``, the segment columns, ``value``, ``n`` (the sample it rests on),
``ci_low`` / ``ci_high`` (95 % interval where it applies) and ``null_reason`` (why ``value`` is
empty: a zero denominator is never 0, never infinity, never a crash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

Z95 = 1.959963984540054
STANDARD = ("value", "n", "ci_low", "ci_high", "null_reason")


def ratio(numerator: ir.NumericValue, denominator: ir.NumericValue) -> ir.FloatingValue:
    """numerator / denominator, or NULL when the denominator is zero or missing."""
    den = denominator.cast("float64")
    return ibis.ifelse(den.fill_null(0) == 0, ibis.null("float64"),
                       numerator.cast("float64") / den)


def reason_if(condition: ir.BooleanValue, reason: str) -> ir.StringValue:
    """``reason`` where ``condition`` holds, else NULL."""
    return ibis.ifelse(condition.fill_null(True), ibis.literal(reason), ibis.null("string"))


def finish(
    ctx: MetricContext,
    t: ir.Table,
    *,
    value: ir.Value,
    n: ir.Value,
    null_reason: ir.Value | None = None,
    ci_low: ir.Value | None = None,
    ci_high: ir.Value | None = None,
    **extra: ir.Value,
) -> ir.Table:
    """Select the group keys and the standard result columns (plus named extras) from ``t``."""
    columns: dict[str, ir.Value] = {
        "value": value.cast("float64"),
        "n": n.cast("int64"),
        "ci_low": (ci_low if ci_low is not None else ibis.null("float64")).cast("float64"),
        "ci_high": (ci_high if ci_high is not None else ibis.null("float64")).cast("float64"),
        "null_reason": (null_reason if null_reason is not None else ibis.null("string")).cast(
            "string"),
    }
    columns.update({name: expr.cast("float64") for name, expr in extra.items()})
    return t.select(*[t[k] for k in ctx.group_keys], **columns)


def wilson_interval(
    successes: ir.NumericValue, n: ir.NumericValue
) -> tuple[ir.FloatingValue, ir.FloatingValue]:
    """95 % Wilson score interval of a proportion (stays inside [0, 1], fine for small n)."""
    nf = n.cast("float64")
    p = successes.cast("float64") / nf
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * nf)) / (1 + z2 / nf)
    half = (Z95 / (1 + z2 / nf)) * ((p * (1 - p) / nf + z2 / (4 * nf * nf)).sqrt())
    valid = nf > 0
    return (ibis.ifelse(valid, centre - half, ibis.null("float64")),
            ibis.ifelse(valid, centre + half, ibis.null("float64")))


def mean_interval(
    mean: ir.NumericValue, std: ir.NumericValue, n: ir.NumericValue
) -> tuple[ir.FloatingValue, ir.FloatingValue]:
    """95 % normal interval of a mean: mean +/- 1.96 s / sqrt(n) (none below two answers)."""
    nf = n.cast("float64")
    half = Z95 * std.cast("float64").fill_null(0) / nf.sqrt()
    valid = nf >= 2
    return (ibis.ifelse(valid, mean - half, ibis.null("float64")),
            ibis.ifelse(valid, mean + half, ibis.null("float64")))
