"""Support: first contact resolution, ticket load, response and resolution times.

A ticket's own columns (agent, channel, category, priority) are segments as they are
(``--by agent``); any other segment is the customer's attribute. Durations are in hours,
from ``opened_at`` to ``first_response_at`` / ``resolved_at`` (timestamps in the workspace's
time zone). Churn by owner is ``customer_churn_rate --by owner`` (revenue module).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.result import finish, ratio, reason_if, wilson_interval
from csmetrics.metrics.surveys import active_customers
from csmetrics.schema import TABLES

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

#: Segments a ticket carries itself; every other segment is a customer attribute.
TICKET_SEGMENTS = tuple(c for c in TABLES["tickets"].column_names if c != "customer_id")

NO_RESOLVED = "no tickets resolved in the period"


def _hours(later: ir.TimestampValue, earlier: ir.TimestampValue) -> ir.FloatingValue:
    """Hours from ``earlier`` to ``later`` (to the second)."""
    seconds = later.epoch_seconds() - earlier.epoch_seconds()
    return seconds.cast("float64") / 3600.0


@metric("first_contact_resolution_rate", title="First contact resolution rate",
        section=Section.SUPPORT, unit=Unit.RATE, direction=Direction.UP,
        formula="tickets resolved in one contact (contacts = 1) / tickets resolved, by the "
        "period of resolution",
        tables=("tickets",), period_local=True,
        edge_cases="Resolved tickets without a contact count are left out of both sides and "
        "counted in unknown_contacts; a period whose resolved tickets all lack it is empty "
        "with a reason. Open tickets never count.",
        extra_columns=("resolved_first_contact", "unknown_contacts"),
        empty_reason=NO_RESOLVED)
def first_contact_resolution_rate(ctx: MetricContext) -> ir.Table:
    """First contact resolution (FCR): of the tickets resolved in the period (by
    ``resolved_at``), the share resolved in a single contact (``contacts`` = 1); higher is
    better. n is the resolved tickets with a known contact count; the interval is the 95 %
    Wilson interval. Break it down by agent, channel or category with --by (the ticket's own
    columns)."""
    t = ctx.table("tickets")
    t = t.filter(t.resolved_at.notnull())
    t = ctx.segment(ctx.in_period(t, "resolved_at"))
    g = t.group_by(ctx.group_keys).aggregate(
        n=t.contacts.notnull().sum(), first=(t.contacts == 1).sum(),
        unknown=t.contacts.isnull().sum())
    first = g.first.fill_null(0)
    low, high = wilson_interval(first, g.n)
    return finish(ctx, g, value=ratio(first, g.n), n=g.n, ci_low=low, ci_high=high,
                  null_reason=reason_if(g.n == 0, "no resolved ticket in the period has a "
                                                  "contact count"),
                  resolved_first_contact=first, unknown_contacts=g.unknown)


@metric("tickets_per_customer", title="Tickets per customer", section=Section.SUPPORT,
        unit=Unit.RATIO, direction=Direction.DOWN,
        formula="tickets opened in the period / customers active in the period",
        tables=("tickets", "subscriptions", "orders"), ignores_later_facts=("tickets",),
        edge_cases="Active = service on at least one day of the period or a paid order in it. "
        "Tickets from customers not active in the period still count. By (or filtered on) a "
        "ticket column (agent, channel...) the denominator is all active customers of the "
        "customer segments, and an agent seen in any period shows 0 where it had no ticket.",
        extra_columns=("tickets",), empty_reason="no active customers in the period")
def tickets_per_customer(ctx: MetricContext) -> ir.Table:
    """Support load: tickets opened in the period (by ``opened_at``) divided by the customers
    active in it (a subscription giving service on at least one of its days, or a paid order
    in it); lower is lighter. n is the number of active customers, ``tickets`` the number of
    tickets. By agent or channel it answers "tickets this agent took per customer we have"."""
    keys = ctx.group_keys
    t = ctx.table("tickets")
    t = ctx.segment(ctx.in_period(t, "opened_at"))
    g = t.group_by(keys).aggregate(tickets=t.count())
    customer_by = tuple(b for b in ctx.by if b not in TICKET_SEGMENTS)
    # the denominator ignores segments and filters on ticket columns (--where agent=...)
    where = tuple((c, v) for c, v in ctx.where if c not in TICKET_SEGMENTS)
    base = replace(ctx, by=customer_by, where=where, _cache={})
    a = base.segment(active_customers(base))
    base_keys = base.group_keys
    a = a.group_by(base_keys).aggregate(active=a.count())
    if customer_by == ctx.by:
        j = a.outer_join(g, [a[k] == g[k] for k in keys])
        j = j.select(**{k: ibis.coalesce(j[k], j[f"{k}_right"]) for k in keys},
                     tickets=j.tickets.fill_null(0), active=j.active.fill_null(0))
    else:
        # a ticket segment (agent...) seen in any period gets every period, with 0 tickets
        # where it had none, over all active customers of its customer segments
        seen = g.select(*[b for b in ctx.by if b in TICKET_SEGMENTS]).distinct()
        grid = a.cross_join(seen)
        j = grid.left_join(g, [grid[k] == g[k] for k in keys])
        j = j.select(*[j[k] for k in keys], tickets=j.tickets.fill_null(0), active=j.active)
    return finish(ctx, j, value=ratio(j.tickets, j.active), n=j.active,
                  null_reason=reason_if(j.active == 0, "no active customers in the period"),
                  tickets=j.tickets)


def _durations(ctx: MetricContext, t: ir.Table, hours: ir.FloatingValue,
               **extra: ir.Value) -> ir.Table:
    g = t.group_by(ctx.group_keys).aggregate(
        n=hours.count(), median=hours.median(), p90=hours.quantile(0.9), mean=hours.mean(),
        **extra)
    return g


@metric("time_to_first_response", title="Time to first response", section=Section.SUPPORT,
        unit=Unit.HOURS, direction=Direction.DOWN,
        formula="median hours from opened_at to first_response_at over tickets opened in "
        "the period; p90 and mean beside it",
        tables=("tickets",), period_local=True,
        edge_cases="By the period the ticket was opened. Tickets not answered yet (as of "
        "the query's date) are left out of the statistics and counted in unanswered, so a "
        "recent period can still improve or worsen as they get answers. Calendar hours, not "
        "business hours.",
        extra_columns=("p90", "mean", "unanswered"),
        empty_reason="no tickets opened in the period")
def time_to_first_response(ctx: MetricContext) -> ir.Table:
    """How long customers wait for a first reply: the median number of hours from a
    ticket's opening to the first response from support, over the tickets opened in the
    period; lower is better. ``p90`` is the 90th percentile (linear interpolation), ``mean``
    the average, n the answered tickets and ``unanswered`` the tickets opened in the period
    still without a response."""
    t = ctx.table("tickets")
    t = t.mutate(hours=_hours(t.first_response_at, t.opened_at))
    t = ctx.segment(ctx.in_period(t, "opened_at"))
    g = _durations(ctx, t, t.hours, unanswered=t.first_response_at.isnull().sum())
    return finish(ctx, g, value=g.median, n=g.n, p90=g.p90, mean=g.mean,
                  unanswered=g.unanswered,
                  null_reason=reason_if(g.n == 0, "no ticket opened in the period has a "
                                                  "first response yet"))


@metric("time_to_resolution", title="Time to resolution", section=Section.SUPPORT,
        unit=Unit.HOURS, direction=Direction.DOWN,
        formula="median hours from opened_at to resolved_at over tickets resolved in the "
        "period; p90 and mean beside it",
        tables=("tickets",), period_local=True,
        edge_cases="By the period the ticket was resolved, so a period's figure is final "
        "once it is over; open tickets are not in it. Calendar hours, not business hours.",
        extra_columns=("p90", "mean"), empty_reason=NO_RESOLVED)
def time_to_resolution(ctx: MetricContext) -> ir.Table:
    """How long problems take to fix: the median number of hours from a ticket's opening to
    its resolution, over the tickets resolved in the period; lower is better. ``p90`` is the
    90th percentile (linear interpolation), ``mean`` the average and n the resolved
    tickets."""
    t = ctx.table("tickets")
    t = t.filter(t.resolved_at.notnull())
    t = t.mutate(hours=_hours(t.resolved_at, t.opened_at))
    t = ctx.segment(ctx.in_period(t, "resolved_at"))
    g = _durations(ctx, t, t.hours)
    return finish(ctx, g, value=g.median, n=g.n, p90=g.p90, mean=g.mean)
