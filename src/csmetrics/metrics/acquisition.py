"""Acquisition: how well leads and visitors turn into customers.

A conversion is a lead whose ``converted_at`` is set: the moment it became what your
funnel calls a customer (a signup, a trial or a first purchase -- whichever your leads
export records). Visitors come from the ``traffic`` table (visitors per day and channel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.result import finish, ratio, reason_if

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

#: Columns of ``traffic`` that visitors can be segmented and filtered by.
TRAFFIC_SEGMENTS = ("channel", "date")
NO_LEADS = "no leads created in the period"
NO_VISITORS = "no visitors in the period"


def _visitors_available(ctx: MetricContext) -> bool:
    """Whether visitors can be counted: they carry a day and a channel only, so other
    segments and filters can't split them (stacked, see ``_with_visitors``)."""
    if ctx.customer is not None or any(c not in TRAFFIC_SEGMENTS for c, _ in ctx.where):
        return False
    return bool(ctx.stack) or all(b in TRAFFIC_SEGMENTS for b in ctx.by)


def _visitor_segmentations(ctx: MetricContext) -> list[str]:
    """Stacked: the segmentations visitors can be split by ("" is the total)."""
    return [b for b in ctx.stack if not b or b in TRAFFIC_SEGMENTS]


def _with_visitors(ctx: MetricContext, g: ir.Table) -> ir.BooleanValue:
    """Whether a row of the aggregated funnel has visitors."""
    if not ctx.stack or not _visitors_available(ctx):
        return ibis.literal(_visitors_available(ctx))
    return g.segment_by.isin(_visitor_segmentations(ctx))


def _counts(ctx: MetricContext, t: ir.Table, **measures: ir.Value) -> ir.Table:
    """``t``'s group keys with the four counts of the funnel (0 where not given)."""
    zero = ibis.literal(0).cast("int64")
    columns = {name: measures.get(name, zero).cast("int64")
               for name in ("created", "converted", "cohort", "visitors")}
    return t.select(*ctx.group_keys, **columns)


@metric("conversion_rate", title="Conversion rate", section=Section.ACQUISITION,
        unit=Unit.RATE, direction=Direction.UP,
        formula="leads converted in the period / leads created in the period (or / visitors "
        "in the period, option conversion_denominator = \"visitors\")",
        tables=("leads", "traffic"),
        edge_cases="Numerator and denominator are both flows of the period, so a month with "
        "few new leads and many conversions of older ones can exceed 100 %; cohort_rate "
        "(leads created in the period that have converted by now) is the cohort view. "
        "Visitors can only be split by channel: with other segments or filters visitors are "
        "empty. Segments by customer attributes only know converted leads; the others are "
        "'(none)'.", empty_reason="no leads or visitors in the period",
        extra_columns=("conversions", "leads", "visitors", "lead_rate", "visitor_rate",
                       "cohort_rate"))
def conversion_rate(ctx: MetricContext) -> ir.Table:
    """How effectively prospects become customers: the leads that converted in the period
    divided by the leads created in it (per channel with ``--by channel``). With
    ``[metrics] conversion_denominator = "visitors"`` it is the articles' e-commerce form,
    conversions divided by the visitors of the period from the traffic table. Both variants
    are always given as extra columns (``lead_rate``, ``visitor_rate``), with
    ``cohort_rate``, the share of the period's new leads that have converted by the query's
    as-of date. n is the denominator: leads created, or visitors."""
    leads = ctx.table("leads")
    created = ctx.segment(ctx.in_period(leads, "created_at"))
    parts = [_counts(ctx, created, created=ibis.literal(1),
                     cohort=created.converted_at.notnull().cast("int64"))]
    won = ctx.segment(ctx.in_period(leads.filter(leads.converted_at.notnull()), "converted_at"))
    parts.append(_counts(ctx, won, converted=ibis.literal(1)))
    if _visitors_available(ctx):
        traffic = ctx.segment(ctx.in_period(ctx.table("traffic"), "date"))
        if ctx.stack:
            traffic = traffic.filter(traffic.segment_by.isin(_visitor_segmentations(ctx)))
        parts.append(_counts(ctx, traffic, visitors=traffic.visitors))
    rows = parts[0].union(parts[1])
    for part in parts[2:]:
        rows = rows.union(part)
    g = rows.group_by(ctx.group_keys).aggregate(
        leads=rows.created.sum(), conversions=rows.converted.sum(),
        cohort=rows.cohort.sum(), visitors=rows.visitors.sum())
    with_visitors = _with_visitors(ctx, g)
    visitors = ibis.ifelse(with_visitors, g.visitors, ibis.null("int64"))
    lead_rate = ratio(g.conversions, g.leads)
    visitor_rate = ratio(g.conversions, visitors)
    if ctx.options.conversion_denominator == "visitors":
        value, n = visitor_rate, visitors
        reason = ibis.ifelse(with_visitors, reason_if(visitors == 0, NO_VISITORS), ibis.literal(
            "visitors can only be split by channel (the traffic table has no other segment)"))
    else:
        value, n, reason = lead_rate, g.leads, reason_if(g.leads == 0, NO_LEADS)
    return finish(ctx, g, value=value, n=n.fill_null(0), null_reason=reason,
                  conversions=g.conversions, leads=g.leads, visitors=visitors,
                  lead_rate=lead_rate, visitor_rate=visitor_rate,
                  cohort_rate=ratio(g.cohort, g.leads))
