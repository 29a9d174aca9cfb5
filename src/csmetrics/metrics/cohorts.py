"""Cohort tables: customers grouped by the month they started paying, followed month by month.

Two kinds, both read on each month's last day (the MRR snapshot of ``customer_mrr_on``):

``logo``
    the share of the cohort's customers still paying (MRR > 0) at the end of month k;
``revenue``
    the cohort's MRR at the end of month k over its MRR at the end of month 0 (expansion
    included, so it can exceed 1).

A customer's cohort is the month of its first day of paid service (the month it counts as a
``new`` customer in the MRR movements). Month 0 is that month; a customer who joined and left
inside it makes month 0's logo retention fall below 1, and a customer who comes back counts
as retained again from the month it pays again. The policy in force (churn recognition,
discounts, currency) applies as in every revenue metric.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Literal

import pandas as pd

from csmetrics.clock import parse_day
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.engine import DEFAULT_PERIODS, data_end, workspace_today
from csmetrics.metrics.money import check_rates, customer_mrr_on, subscription_lines
from csmetrics.metrics.periods import Calendar, Grain, period_start, period_starts
from csmetrics.metrics.policy import Policy
from csmetrics.metrics.result import ratio

if TYPE_CHECKING:
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend


Kind = Literal["logo", "revenue"]
KINDS = ("logo", "revenue")


def cohort_context(con: BaseBackend, settings: Settings, start: date | str | None = None,
                   end: date | str | None = None, *, today: date | None = None
                   ) -> MetricContext:
    """A monthly context from ``start`` to ``end`` (defaults as for metric queries: the data's
    last day known on ``today``, and the twelve months up to it)."""
    start, end = parse_day(start, "Cohort start"), parse_day(end, "Cohort end")
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    end = end or data_end(con, today or workspace_today(settings))
    if start is None:
        first = period_start(end, Grain.MONTH, calendar)
        index = first.year * 12 + first.month - 1 - (DEFAULT_PERIODS - 1)
        start = date(index // 12, index % 12 + 1, 1)
    ctx = MetricContext(
        con=con, grain=Grain.MONTH, starts=period_starts(start, end, Grain.MONTH, calendar),
        policy=Policy.from_settings(settings.policy), options=settings.metrics,
        currency=settings.workspace.currency, as_of=end, known_until=end,
    )
    check_rates(ctx, ("subscriptions",))
    return ctx


def cohort_expr(ctx: MetricContext, kind: Kind = "logo") -> ir.Table:
    """The cohort table in long form, one row per cohort and month since its start:
    ``cohort`` (first day of the start month), ``month`` (0, 1, ...), ``customers`` (cohort
    size), ``paying`` (customers with MRR at the month's end), ``mrr``, ``mrr_0`` (the
    cohort's MRR at the end of month 0) and ``value`` (logo or revenue retention). Only
    cohorts that start inside the context's months, and months up to its last one."""
    if kind not in KINDS:
        raise UserInputError(f"Cohort kind {kind!r} is not one of {', '.join(KINDS)}.")
    cells = cohort_cells(ctx)
    g = cells.group_by(["cohort", "month"]).aggregate(
        customers=cells.count(), paying=(cells.mrr > 0).sum(), mrr=cells.mrr.sum()).view()
    base = g.filter(g.month == 0).select(b_cohort="cohort", mrr_0="mrr").view()
    g = g.left_join(base, g.cohort == base.b_cohort).drop("b_cohort")
    value = ratio(g.paying, g.customers) if kind == "logo" else ratio(g.mrr, g.mrr_0)
    return g.select("cohort", "month", "customers", "paying", "mrr", "mrr_0", value=value)


def cohort_cells(ctx: MetricContext) -> ir.Table:
    """The customers behind every cell of the cohort table: one row per cohort member and
    month since its start, ``customer_id``, ``cohort``, ``month`` and ``mrr`` (its MRR at
    the end of that month, 0.0 when not paying). ``cohort_expr`` aggregates exactly these
    rows, so a list of them adds up to the cell."""
    lines = subscription_lines(ctx)
    lines = lines.filter(lines.monthly > 0)
    first = lines.group_by("customer_id").aggregate(first_paid=lines.start.min())
    p = ctx.periods
    members = first.join(p, [first.first_paid >= p.period_start, first.first_paid < p.period_end])
    members = members.select("customer_id", cohort=members.period_start,
                             c_index=members.period_index).view()
    months = ctx.periods.view()
    grid = members.join(months, months.period_index >= members.c_index)
    grid = grid.select("customer_id", "cohort", month=grid.period_index - grid.c_index,
                       day=grid.last_day).view()
    snap = customer_mrr_on(ctx, months.select(day=months.last_day).view())
    snap = snap.select(s_day="day", s_cid="customer_id", mrr="mrr")
    cells = grid.left_join(snap, [grid.day == snap.s_day, grid.customer_id == snap.s_cid])
    return cells.select("customer_id", "cohort", "month",
                        mrr=cells.mrr.cast("float64").fill_null(0.0)).view()


def cohort_table(ctx: MetricContext, kind: Kind = "logo") -> pd.DataFrame:
    """The cohort table as users read it: one row per start month (index ``cohort``), the
    cohort size in ``customers``, then one column per month since start (0, 1, ... N) with
    the retention of that month as a fraction; cells after the context's last month are
    empty."""
    long = ctx.con.execute(cohort_expr(ctx, kind).order_by(["cohort", "month"]))
    if long.empty:
        return pd.DataFrame(columns=["customers"], index=pd.Index([], name="cohort"))
    long["cohort"] = pd.to_datetime(long["cohort"]).dt.date
    wide = long.pivot(index="cohort", columns="month", values="value")
    wide = wide.reindex(columns=range(int(long["month"].max()) + 1))
    wide.columns.name = None
    sizes = long[long["month"] == 0].set_index("cohort")["customers"]
    wide.insert(0, "customers", sizes.reindex(wide.index).fillna(0).astype("int64"))
    return wide
