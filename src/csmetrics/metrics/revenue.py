"""Revenue and retention: MRR, its movements, NRR, GRR, churn and retention rates, ARPA.

All of them rest on one table, ``customer_changes``: for every period and every customer
that was a customer at its start or its end, the MRR at the end of the previous period and at
the end of this one. MRR "at the end of a period" is the MRR of its last day.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Benchmark, Direction, Section, Unit, metric
from csmetrics.metrics.money import (
    MONEY,
    OPEN_END,
    amounts_on,
    customer_mrr_on,
    revenue_in_windows,
    subscription_lines,
)
from csmetrics.metrics.result import finish, ratio, reason_if
from csmetrics.store.engines import largest_by

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")


def zero() -> ir.Value:
    """A money zero (``MONEY``), to fill the MRR of a side with no subscription."""
    return ibis.literal(0).cast(MONEY)


NO_START_MRR = "no MRR at period start"
NO_START_CUSTOMERS = "no customers at period start"


def customer_changes(ctx: MetricContext) -> ir.Table:
    """One row per (period, customer) with service at either end: ``mrr_prev``, ``mrr_cur``,
    whether it was a customer at the start / end, and which movement it made (``movement``:
    new, expansion, contraction, churned, reactivation or NULL), with the segment columns."""
    def rows() -> int:
        return int(ctx.con.execute(changes_base(ctx).count())) * len(ctx.stack)
    return ctx.shared("customer-changes", lambda: ctx.segment(changes_base(ctx)), rows)


def changes_base(ctx: MetricContext) -> ir.Table:
    """``customer_changes`` without segment columns, computed once per computation."""
    return ctx.materialized("changes", lambda: _changes(ctx))


def _changes(ctx: MetricContext) -> ir.Table:
    p = ctx.periods
    # every period's two ends, so that one pass over the lines in force on them gives each
    # customer's MRR at both ends (no snapshot joined with itself)
    ends = p.select("period_index", day=p.prev_last_day, __end=ibis.literal(False)).union(
        p.select("period_index", day=p.last_day, __end=ibis.literal(True)))
    a = amounts_on(ctx, ends)
    free = ctx.policy.free_plans_are_customers
    # the active lines at each end, free ones included, only matter when free plans make
    # customers (counting them costs a tenth of this, the heaviest query of the revenue
    # metrics)
    lines = {"lines_prev": a.count(where=~a.__end), "lines_cur": a.count(where=a.__end)}
    both = a.group_by(["period_index", "customer_id"]).aggregate(
        mrr_prev=a.monthly.sum(where=~a.__end).fill_null(zero()),
        mrr_cur=a.monthly.sum(where=a.__end).fill_null(zero()), **(lines if free else {}))
    pv = p.view()
    both = both.join(pv, both.period_index == pv.period_index).select(
        both, pv.period_start, pv.prev_last_day)
    firsts = _first_starts(ctx, any_service=free)
    both = both.left_join(firsts, both.customer_id == firsts.__cid).drop("__cid")
    at_start, at_end = both.mrr_prev > 0, both.mrr_cur > 0
    if free:
        at_start, at_end = at_start | (both.lines_prev > 0), at_end | (both.lines_cur > 0)
    first_customer = both.first_any if free else both.first_paid
    prev, now = both.mrr_prev, both.mrr_cur
    movement = ibis.cases(
        ((prev == 0) & (now > 0) & (both.first_paid > both.prev_last_day), "new"),
        ((prev == 0) & (now > 0), "reactivation"),
        ((prev > 0) & (now == 0), "churned"),
        ((prev > 0) & (now > prev), "expansion"),
        ((prev > 0) & (now < prev), "contraction"),
        else_=ibis.null("string"),
    )
    return both.mutate(
        at_start=at_start, at_end=at_end,
        joined=~at_start & at_end & (first_customer > both.prev_last_day),
        returned=~at_start & at_end & (first_customer <= both.prev_last_day),
        movement=movement,
    )


def _first_starts(ctx: MetricContext, *, any_service: bool) -> ir.Table:
    """Per customer, the first day of paid service and, with ``any_service``, of any
    service (free included)."""
    lines = subscription_lines(ctx)
    first_any = {"first_any": lines.start.min()} if any_service else {}
    return lines.group_by(__cid=lines.customer_id).aggregate(
        first_paid=lines.start.min(where=lines.monthly > 0), **first_any)


def within_period_churn(ctx: MetricContext) -> ir.Table:
    """Customers who were customers at some point inside a period but neither at its start
    nor at its end (joined and left, or came back and left, within the period)."""
    def build() -> ir.Table:
        p = ctx.periods
        lines = subscription_lines(ctx)
        if not ctx.policy.free_plans_are_customers:
            lines = lines.filter(lines.monthly > 0)
        touched = p.join(lines, [lines.start <= p.last_day,
                                 lines.end.fill_null(OPEN_END) > p.period_start])
        touched = touched.select("period_index", "period_start", "customer_id").distinct()
        changes = changes_base(ctx)
        present = changes.filter(changes.at_start | changes.at_end).select(
            __pi=changes.period_index, __cid=changes.customer_id)
        gone = touched.anti_join(present, [touched.period_index == present.__pi,
                                           touched.customer_id == present.__cid])
        return ctx.segment(gone)
    return ctx.cached("within-period-churn", build)


def movement_customers(ctx: MetricContext, kind: str) -> ir.Table:
    """The customers behind ``mrr_<kind>``: one row per (period, customer) whose movement is
    ``kind``, with ``mrr_prev``, ``mrr_cur`` and ``amount`` = |mrr_cur - mrr_prev|. The
    metric is the sum of ``amount`` and its n the number of rows, so a drill-down that lists
    these rows always adds up to the figure."""
    c = customer_changes(ctx)
    c = c.filter(c.movement == kind)
    return c.mutate(amount=(c.mrr_cur - c.mrr_prev).abs())


def churned_customers(ctx: MetricContext) -> ir.Table:
    """The customers behind ``customer_churn_rate``'s ``churned`` column: one row per
    (period, customer) that was a customer at the period's start and is not at its end
    (``within`` false, with ``mrr_prev`` and ``mrr_cur``), and, when the policy
    ``within_period_churn`` is "include", the customers who came and left inside the period
    (``within`` true, no MRR at either end)."""
    c = customer_changes(ctx)
    left = c.filter(_logo_churned(c)).mutate(within=ibis.literal(False))
    left = left.select(*ctx.group_keys, "customer_id", "mrr_prev", "mrr_cur", "within")
    if ctx.policy.within_period_churn != "include":
        return left
    w = within_period_churn(ctx)
    inside = w.select(*ctx.group_keys, "customer_id", mrr_prev=zero(), mrr_cur=zero(),
                      within=ibis.literal(True))
    return left.union(inside)


def _logo_churned(c: ir.Table) -> ir.BooleanColumn:
    """A customer at the period's start that is not one at its end (logo churn)."""
    return c.at_start & ~c.at_end


def _movement_sum(kind: str):  # noqa: ANN202 - returns a builder
    def build(ctx: MetricContext) -> ir.Table:
        c = movement_customers(ctx, kind)
        g = c.group_by(ctx.group_keys).aggregate(value=c.amount.sum(), n=c.count())
        return finish(ctx, g, value=g.value, n=g.n)
    return build


@metric("mrr", title="MRR", section=Section.REVENUE, unit=Unit.MONEY, direction=Direction.UP,
        formula="sum of normalised monthly amounts of subscriptions active on the period's "
        "last day", tables=("subscriptions", "exchange_rates"),
        edge_cases="Annual / 12, quarterly / 3, weekly x 52 / 12; one-time orders never count; "
        "discounts per policy; foreign currencies converted per policy.", empty_value=0.0)
def mrr(ctx: MetricContext) -> ir.Table:
    """Monthly recurring revenue at the end of the period: what the customers' active
    subscriptions bring in per month, normalised to monthly, in the reporting currency. n is
    the number of paying customers."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(value=c.mrr_cur.sum(), n=(c.mrr_cur > 0).sum())
    return finish(ctx, g, value=g.value, n=g.n)


@metric("arr", title="ARR", section=Section.REVENUE, unit=Unit.MONEY, direction=Direction.UP,
        formula="12 x MRR", tables=("subscriptions", "exchange_rates"), empty_value=0.0)
def arr(ctx: MetricContext) -> ir.Table:
    """Annual recurring revenue: twelve times the MRR at the end of the period."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(value=c.mrr_cur.sum() * 12,
                                             n=(c.mrr_cur > 0).sum())
    return finish(ctx, g, value=g.value, n=g.n)


MOVEMENTS = {
    "new": "first payment ever falls in the period (0 to more than 0, never paid before)",
    "expansion": "MRR went up",
    "contraction": "MRR went down but stayed above zero",
    "churned": "MRR went from more than zero to zero",
    "reactivation": "MRR went from zero to more than zero after paying at some earlier time",
}

for _kind, _meaning in MOVEMENTS.items():
    _builder = _movement_sum(_kind)
    _builder.__doc__ = (
        f"{_kind.capitalize()} MRR: the MRR change from customers whose {_meaning}, as a "
        "positive amount; n counts them. Each customer makes at most one movement per "
        "period, comparing its MRR at the end of the previous period with the end of this one."
    )
    metric(
        f"mrr_{_kind}",
        title=f"{_kind.capitalize()} MRR",
        section=Section.REVENUE,
        unit=Unit.MONEY,
        direction=Direction.DOWN if _kind in ("contraction", "churned") else Direction.UP,
        formula=f"sum of |MRR(end) - MRR(start)| over customers whose movement is {_kind}",
        tables=("subscriptions", "exchange_rates"),
        edge_cases="A customer who upgrades and cancels on the same day ends the period at "
        "zero: churned, for its start MRR. Zero when nothing moved.",
        empty_value=0.0,
    )(_builder)


@metric("net_new_mrr", title="Net new MRR", section=Section.REVENUE, unit=Unit.MONEY,
        direction=Direction.UP,
        formula="new + expansion + reactivation - contraction - churned = MRR(end) - MRR(start)",
        tables=("subscriptions", "exchange_rates"), empty_value=0.0)
def net_new_mrr(ctx: MetricContext) -> ir.Table:
    """The period's MRR change, as the sum of its movements; it equals MRR at the end minus
    MRR at the start exactly. n counts customers that moved."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(
        value=(c.mrr_cur - c.mrr_prev).sum(), n=c.movement.notnull().sum())
    return finish(ctx, g, value=g.value, n=g.n)


@metric("nrr", title="Net revenue retention", section=Section.REVENUE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="MRR(end) of the customers paying at the start / their MRR(start)",
        tables=("subscriptions", "exchange_rates"),
        benchmark="above 100 % means existing customers grow faster than they leave",
        benchmark_range=Benchmark(low=1.0, note="existing customers grow faster than "
                                  "they leave"),
        edge_cases="New and reactivated customers are outside the cohort. Null when nobody "
        "paid at the start.", empty_reason=NO_START_MRR)
def nrr(ctx: MetricContext) -> ir.Table:
    """Net revenue (dollar) retention over one period: the customers with MRR at its start,
    their MRR at its end divided by their MRR at its start; expansion counts, new customers
    don't. Article example: 100,000 + 20,000 - 5,000 - 5,000 -> 110 %. n is the cohort size."""
    c = customer_changes(ctx)
    cohort = c.mrr_prev > 0
    g = c.group_by(ctx.group_keys).aggregate(
        num=c.mrr_cur.sum(where=cohort), den=c.mrr_prev.sum(where=cohort), n=cohort.sum())
    return finish(ctx, g, value=ratio(g.num, g.den), n=g.n,
                  null_reason=reason_if(g.den.fill_null(0) == 0, NO_START_MRR))


@metric("grr", title="Gross revenue retention", section=Section.REVENUE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="sum of min(MRR(end), MRR(start)) over customers paying at the start / "
        "their MRR(start)", tables=("subscriptions", "exchange_rates"),
        benchmark="never above 100 %", empty_reason=NO_START_MRR)
def grr(ctx: MetricContext) -> ir.Table:
    """Gross revenue retention over one period: like NRR, but a customer's expansion is
    capped at its starting MRR, so only contraction and churn count. Never above 100 %."""
    c = customer_changes(ctx)
    cohort = c.mrr_prev > 0
    kept = ibis.least(c.mrr_cur, c.mrr_prev)
    g = c.group_by(ctx.group_keys).aggregate(
        num=kept.sum(where=cohort), den=c.mrr_prev.sum(where=cohort), n=cohort.sum())
    return finish(ctx, g, value=ratio(g.num, g.den), n=g.n,
                  null_reason=reason_if(g.den.fill_null(0) == 0, NO_START_MRR))


def _trailing(ctx: MetricContext, gross: bool) -> ir.Table:
    p = ctx.periods
    windows = p.select(p.period_start, p.last_day,
                       start_day=p.period_end - ibis.interval(months=12) - ibis.interval(days=1))
    days = windows.select(day=windows.last_day).union(
        windows.select(day=windows.start_day)).distinct()
    snap = customer_mrr_on(ctx, days)
    start = windows.join(snap, windows.start_day == snap.day).select(
        "period_start", "customer_id", m0=snap.mrr)
    end = windows.join(snap, windows.last_day == snap.day).select(
        __ps=windows.period_start, __cid=snap.customer_id, m1=snap.mrr)
    j = start.filter(start.m0 > 0).left_join(
        end, [start.period_start == end.__ps, start.customer_id == end.__cid])
    j = ctx.segment(j.mutate(m1=j.m1.fill_null(zero())))
    kept = ibis.least(j.m1, j.m0) if gross else j.m1
    g = j.group_by(ctx.group_keys).aggregate(num=kept.sum(), den=j.m0.sum(), n=j.count())
    return finish(ctx, g, value=ratio(g.num, g.den), n=g.n,
                  null_reason=reason_if(g.den.fill_null(0) == 0, NO_START_MRR))


@metric("nrr_trailing_12m", title="NRR, trailing 12 months", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.UP,
        formula="MRR now of the customers paying 12 months ago / their MRR 12 months ago",
        tables=("subscriptions", "exchange_rates"), empty_reason=NO_START_MRR)
def nrr_trailing_12m(ctx: MetricContext) -> ir.Table:
    """Net revenue retention over the twelve months ending with the period: the customers
    paying twelve months before its end, their MRR at its end over their MRR then."""
    return _trailing(ctx, gross=False)


@metric("grr_trailing_12m", title="GRR, trailing 12 months", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.UP,
        formula="sum of min(MRR now, MRR 12 months ago) / MRR 12 months ago, same cohort",
        tables=("subscriptions", "exchange_rates"), empty_reason=NO_START_MRR)
def grr_trailing_12m(ctx: MetricContext) -> ir.Table:
    """Gross revenue retention over the twelve months ending with the period."""
    return _trailing(ctx, gross=True)


def _start_mrr_rate(ctx: MetricContext, net: bool) -> ir.Table:
    c = customer_changes(ctx)
    lost = (c.mrr_prev - c.mrr_cur).sum(where=c.movement.isin(["contraction", "churned"]))
    gained = (c.mrr_cur - c.mrr_prev).sum(where=c.movement == "expansion")
    g = c.group_by(ctx.group_keys).aggregate(
        lost=lost.fill_null(zero()), gained=gained.fill_null(zero()),
        den=c.mrr_prev.sum(), n=(c.mrr_prev > 0).sum())
    num = g.lost - g.gained if net else g.lost
    return finish(ctx, g, value=ratio(num, g.den), n=g.n,
                  null_reason=reason_if(g.den.fill_null(0) == 0, NO_START_MRR))


@metric("gross_mrr_churn_rate", title="Gross MRR churn rate", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.DOWN,
        formula="(contraction + churned MRR) / MRR at period start",
        tables=("subscriptions", "exchange_rates"), empty_reason=NO_START_MRR)
def gross_mrr_churn_rate(ctx: MetricContext) -> ir.Table:
    """Gross dollar churn: MRR lost to contraction and churn in the period, over the MRR at
    its start."""
    return _start_mrr_rate(ctx, net=False)


@metric("net_mrr_churn_rate", title="Net MRR churn rate", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.DOWN,
        formula="(churned + contraction - expansion) / MRR at period start",
        tables=("subscriptions", "exchange_rates"), empty_reason=NO_START_MRR)
def net_mrr_churn_rate(ctx: MetricContext) -> ir.Table:
    """Net revenue churn: MRR lost to contraction and churn minus expansion, over the MRR at
    the period's start; negative when expansion outweighs losses."""
    return _start_mrr_rate(ctx, net=True)


@metric("customer_churn_rate", title="Customer churn rate", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.DOWN,
        formula="customers at start who are not customers at the end / customers at start",
        tables=("subscriptions", "exchange_rates"),
        benchmark="5-7 % a year is acceptable for SaaS, 1-2 % a year for enterprise",
        benchmark_range=Benchmark(low=0.05, high=0.07, per="year", convert="churn",
                                  note="SaaS; 1–2 % a year for enterprise"),
        edge_cases="Customers who join and leave inside the period are reported in "
        "churned_within_period, not in the rate (policy within_period_churn). annualised = "
        "1 - (1 - rate)^(periods per year).", empty_reason=NO_START_CUSTOMERS,
        extra_columns=("churned", "churned_within_period", "annualised"))
def customer_churn_rate(ctx: MetricContext) -> ir.Table:
    """Logo churn: of the customers at the start of the period, the share that are no longer
    customers at its end. Article example: 1,000 at start, 50 lost -> 5 %. n is the number of
    customers at the start."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(
        churned=_logo_churned(c).sum(), n=c.at_start.sum())
    w = within_period_churn(ctx)
    wg = w.group_by(ctx.group_keys).aggregate(within=w.count())
    j = g.left_join(wg, [g[k] == wg[k] for k in ctx.group_keys])
    j = j.select(*[j[k] for k in ctx.group_keys], j.churned, j.n,
                 within=j.within.fill_null(0))
    churned = j.churned + (j.within if ctx.policy.within_period_churn == "include" else 0)
    rate = ratio(churned, j.n)
    return finish(ctx, j, value=rate, n=j.n,
                  null_reason=reason_if(j.n == 0, NO_START_CUSTOMERS),
                  churned=churned, churned_within_period=j.within,
                  annualised=1 - (1 - rate).pow(ctx.grain.per_year))


@metric("customer_retention_rate", title="Customer retention rate", section=Section.REVENUE,
        unit=Unit.RATE, direction=Direction.UP,
        formula="(CE - CN) / CS: customers at end minus new customers, over customers at start",
        tables=("subscriptions", "exchange_rates"), benchmark="80 % or more is good",
        edge_cases="CN counts everyone who was not a customer at the start: new and returning "
        "customers.", empty_reason=NO_START_CUSTOMERS,
        extra_columns=("customers_start", "customers_end", "customers_new"))
def customer_retention_rate(ctx: MetricContext) -> ir.Table:
    """The share of the period's starting customers still customers at its end, computed the
    articles' way: (customers at end - new customers) / customers at start."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(
        cs=c.at_start.sum(), ce=c.at_end.sum(), cn=(c.joined | c.returned).sum())
    return finish(ctx, g, value=ratio(g.ce - g.cn, g.cs), n=g.cs,
                  null_reason=reason_if(g.cs == 0, NO_START_CUSTOMERS),
                  customers_start=g.cs, customers_end=g.ce, customers_new=g.cn)


@metric("quick_ratio", title="SaaS quick ratio", section=Section.REVENUE, unit=Unit.RATIO,
        direction=Direction.UP,
        formula="(new + expansion + reactivation MRR) / (contraction + churned MRR)",
        tables=("subscriptions", "exchange_rates"), benchmark="4 or more is strong growth",
        benchmark_range=Benchmark(low=4.0, note="strong growth"),
        empty_reason="no MRR lost in the period")
def quick_ratio(ctx: MetricContext) -> ir.Table:
    """MRR gained per unit of MRR lost in the period; null when nothing was lost."""
    c = customer_changes(ctx)
    delta = (c.mrr_cur - c.mrr_prev).abs()
    g = c.group_by(ctx.group_keys).aggregate(
        gained=delta.sum(where=c.movement.isin(["new", "expansion", "reactivation"])),
        lost=delta.sum(where=c.movement.isin(["contraction", "churned"])),
        n=c.movement.notnull().sum())
    lost = g.lost.fill_null(zero())
    return finish(ctx, g, value=ratio(g.gained.fill_null(zero()), lost), n=g.n,
                  null_reason=reason_if(lost == 0, "no MRR lost in the period"))


@metric("arpa", title="ARPA (MRR per account)", section=Section.REVENUE, unit=Unit.MONEY,
        direction=Direction.UP, formula="MRR at period end / customers at period end",
        tables=("subscriptions", "exchange_rates"), empty_reason="no customers at period end")
def arpa(ctx: MetricContext) -> ir.Table:
    """Average MRR per customer at the end of the period."""
    c = customer_changes(ctx)
    g = c.group_by(ctx.group_keys).aggregate(m=c.mrr_cur.sum(), n=c.at_end.sum())
    return finish(ctx, g, value=ratio(g.m, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, "no customers at period end"))


@metric("downgrade_rate", title="Downgrade rate", section=Section.REVENUE, unit=Unit.RATE,
        direction=Direction.DOWN,
        formula="customers whose MRR fell with a change of plan / customers at start",
        tables=("subscriptions", "exchange_rates"), empty_reason=NO_START_CUSTOMERS)
def downgrade_rate(ctx: MetricContext) -> ir.Table:
    """The share of starting customers that moved to a cheaper plan: contraction together
    with a change of their main plan."""
    c = customer_changes(ctx)
    p = ctx.periods
    shrunk = c.filter(c.movement == "contraction").join(p, "period_index")
    ends = shrunk.select("customer_id", day=shrunk.prev_last_day).union(
        shrunk.select("customer_id", day=shrunk.last_day)).distinct()
    # the main plan (the largest line's) at both ends, for the customers that contracted
    a = amounts_on(ctx, ends.select("day").distinct())
    a = a.semi_join(ends, [a.day == ends.day, a.customer_id == ends.customer_id])
    plans = a.group_by(["day", "customer_id"]).aggregate(
        plan=largest_by(ctx.con, a.plan, a.monthly))
    before = plans.select(_d0="day", _c0="customer_id", plan_prev="plan")
    after = plans.view().select(_d1="day", _c1="customer_id", plan_cur="plan")
    s = shrunk.left_join(before, [shrunk.prev_last_day == before._d0,
                                  shrunk.customer_id == before._c0])
    s = s.left_join(after, [s.last_day == after._d1, s.customer_id == after._c1])
    s = s.select(*ctx.group_keys, down=(s.plan_cur != s.plan_prev).cast("int64"))
    down = s.group_by(ctx.group_keys).aggregate(d=s.down.sum())
    starts = c.group_by(ctx.group_keys).aggregate(n=c.at_start.sum())
    g = starts.left_join(down, [starts[k] == down[k] for k in ctx.group_keys])
    g = g.select(*[starts[k] for k in ctx.group_keys], starts.n, d=g.d.fill_null(0))
    return finish(ctx, g, value=ratio(g.d, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_START_CUSTOMERS))


def _windows(ctx: MetricContext, years_back: int = 0) -> ir.Table:
    p = ctx.periods
    shift = ibis.interval(years=years_back)
    return p.select(p.period_index, w_start=p.period_start - shift, w_end=p.period_end - shift)


def customer_revenue(ctx: MetricContext, years_back: int = 0) -> ir.Table:
    """Revenue per customer and period (optionally of the same period ``years_back`` earlier)."""
    def build() -> ir.Table:
        r = revenue_in_windows(ctx, _windows(ctx, years_back))
        p = ctx.periods.view().select("period_index", "period_start")
        return r.join(p, "period_index")
    return ctx.cached(f"customer-revenue-{years_back}", build)


@metric("arpu", title="ARPU (revenue per customer)", section=Section.REVENUE, unit=Unit.MONEY,
        direction=Direction.UP, formula="revenue in the period / customers with revenue in it",
        tables=("subscriptions", "orders", "exchange_rates"),
        edge_cases="Revenue = recurring revenue recognised day by day plus paid one-time "
        "orders; refunded and failed orders count for nothing.",
        empty_reason="no customer had revenue in the period")
def arpu(ctx: MetricContext) -> ir.Table:
    """Average revenue per user, the articles' definition: all revenue earned in the period
    (recurring and one-time) divided by the customers who earned it."""
    r = ctx.segment(customer_revenue(ctx))
    r = r.filter(r.revenue > 0)
    g = r.group_by(ctx.group_keys).aggregate(total=r.revenue.sum(), n=r.count())
    return finish(ctx, g, value=ratio(g.total, g.n), n=g.n)


@metric("sales_growth_per_customer", title="Sales growth per customer",
        section=Section.REVENUE, unit=Unit.RATE, direction=Direction.UP,
        formula="median over customers of revenue(period) / revenue(same period a year "
        "earlier) - 1", tables=("subscriptions", "orders", "exchange_rates"),
        edge_cases="Only customers with revenue a year earlier are in the distribution.",
        empty_reason="no customer had revenue a year earlier",
        extra_columns=("p25", "p75", "mean"))
def sales_growth_per_customer(ctx: MetricContext) -> ir.Table:
    """How much each customer's revenue grew against the same period one year earlier: the
    median growth rate across customers, with the quartiles and mean of the distribution."""
    now = customer_revenue(ctx)
    then = customer_revenue(ctx, years_back=1)
    then = then.filter(then.revenue > 0).select(
        __pi=then.period_index, __cid=then.customer_id, before=then.revenue)
    j = then.left_join(now, [then.__pi == now.period_index, then.__cid == now.customer_id])
    p = ctx.periods.view().select("period_index", "period_start")
    j = j.select(customer_id=j.__cid, period_index=j.__pi, before=j.before,
                 after=j.revenue.fill_null(0.0)).view()
    j = j.join(p, "period_index")
    j = ctx.segment(j.mutate(growth=j.after / j.before - 1))
    g = j.group_by(ctx.group_keys).aggregate(
        median=j.growth.median(), p25=j.growth.quantile(0.25), p75=j.growth.quantile(0.75),
        mean=j.growth.mean(), n=j.count())
    return finish(ctx, g, value=g.median, n=g.n, p25=g.p25, p75=g.p75, mean=g.mean)


@metric("renewal_rate", title="Renewal rate", section=Section.REVENUE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="contract terms renewed / contract terms that ended in the period",
        tables=("subscriptions",),
        edge_cases="Contracts are quarterly and annual subscriptions; a term ends at each "
        "anniversary of its start. Renewed = service continues after it, on the same "
        "subscription or a new one starting within renewal_grace_days.",
        empty_reason="no contract reached its end in the period")
def renewal_rate(ctx: MetricContext) -> ir.Table:
    """Of the quarterly and annual contract terms that came to their end in the period, the
    share the customer renewed."""
    lines = subscription_lines(ctx)
    lines = lines.filter(lines.billing_interval.isin(["quarter", "year"]) & (lines.monthly > 0))
    term = lines.billing_interval.cases(("quarter", 3), ("year", 12), else_=12)
    # the k-th anniversary lands in the periods asked for only if its month does: only the
    # k with a month inside them are tried (an integer range, not every k of every line)
    first, end = ctx.span
    start_month = lines.start.year() * 12 + lines.start.month()
    lines = lines.mutate(
        __k_lo=((first.year * 12 + first.month - start_month) / term).ceil(),
        __k_hi=((end.year * 12 + end.month - start_month) / term).floor())
    k = ibis.memtable({"k": list(range(1, 121))})
    terms = lines.join(k, [k.k >= lines.__k_lo, k.k <= lines.__k_hi]).drop("__k_lo", "__k_hi")
    terms = terms.mutate(term_end=terms.start + (terms.k * term).as_interval("M"))
    p = ctx.periods
    terms = terms.filter(terms.end.isnull() | (terms.term_end <= terms.end))
    terms = terms.join(p, [terms.term_end >= p.period_start, terms.term_end < p.period_end])
    if ctx.known_until is not None:
        terms = terms.filter(terms.term_end <= ibis.literal(ctx.known_until))
    grace = ibis.interval(days=ctx.options.renewal_grace_days)
    successors = subscription_lines(ctx).select(
        __cid="customer_id", __sid="subscription_id", __start="start")
    renewed_by_successor = terms.semi_join(
        successors,
        [terms.customer_id == successors.__cid, terms.subscription_id != successors.__sid,
         successors.__start >= terms.term_end - grace,
         successors.__start <= terms.term_end + grace],
    ).select(__s="subscription_id", __t="term_end").distinct()
    t = terms.left_join(renewed_by_successor, [terms.subscription_id == renewed_by_successor.__s,
                                               terms.term_end == renewed_by_successor.__t])
    renewed = (t.end.isnull() | (t.end > t.term_end)) | t.__s.notnull()
    t = ctx.segment(t.mutate(renewed=renewed).select("period_start", "customer_id", "renewed"))
    g = t.group_by(ctx.group_keys).aggregate(r=t.renewed.sum(), n=t.count())
    return finish(ctx, g, value=ratio(g.r, g.n), n=g.n)
