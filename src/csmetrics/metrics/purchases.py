"""Purchases: repeat purchase rate, average purchase value, purchase frequency, customer
lifespan and total cost of ownership.

The purchase metrics read the ``orders`` table (one-time purchases, services, add-ons). An
order is a purchase when its status is ``paid`` (an empty status is loaded as paid); refunded
and failed orders are no purchase at all: they count neither as an order nor as revenue.
Amounts are converted to the reporting currency at the rate of the order's day.

Lifespan and total cost of ownership rest on one table, ``relationships``: for every period
and every customer who had paid for something (a paid subscription or a paid order) by the
period's last day, when its relationship began, when it ended (or that it is still going)
and how long it has lasted.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.money import convert, revenue_in_windows, subscription_lines
from csmetrics.metrics.result import finish, ratio, reason_if

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

#: Days in a year when lifespans are expressed in years (calendar years on average).
DAYS_PER_YEAR = 365.25
#: Order-count tiers of the repeat purchase rate: (column, lowest count, highest count).
TIERS = (("tier_1", 1, 1), ("tier_2_5", 2, 5), ("tier_6_10", 6, 10), ("tier_11_plus", 11, None))
#: The start of "all time" for lifetime sums.
BEGINNING = date(1900, 1, 1)

NO_BUYERS = "no customer had a paid order"
NO_ORDERS_IN_PERIOD = "no paid orders in the period"
NO_PAYING_CUSTOMERS = "no customer had paid for anything by the period's end"


def paid_orders(ctx: MetricContext) -> ir.Table:
    """Paid orders in the reporting currency: ``customer_id``, ``order_id``, ``day`` (the
    calendar day of ``ordered_at``) and ``amount``."""
    def build() -> ir.Table:
        o = ctx.table("orders")
        o = o.filter(o.status.fill_null("paid") == "paid")
        o = convert(ctx, o.mutate(amount=o.amount.cast("float64")), "amount", "ordered_at")
        return o.select("customer_id", "order_id", "amount", day=o.ordered_at.cast("date"))
    return ctx.cached("paid-orders", build)


def daily_orders(ctx: MetricContext) -> ir.Table:
    """Paid orders per customer and day (``customer_id``, ``day``, ``orders``): joins with
    periods over all history run on this, not on single orders."""
    def build() -> ir.Table:
        o = paid_orders(ctx)
        return o.group_by(["customer_id", "day"]).aggregate(orders=o.count())
    return ctx.cached("daily-orders", build)


# -- repeat purchase rate -----------------------------------------------------------------


def _order_counts(ctx: MetricContext) -> ir.Table:
    """Per period and customer with a paid order by the period's last day: ``orders`` (all
    of them, since the beginning) and ``orders_in_period``, with the segment columns."""
    p = ctx.periods
    o = daily_orders(ctx)
    j = p.join(o, o.day <= p.last_day)
    g = j.group_by(["period_index", "period_start", "customer_id"]).aggregate(
        orders=j.orders.sum(),
        orders_in_period=j.orders.sum(where=j.day >= j.period_start).fill_null(0))
    return ctx.segment(g)


@metric("repeat_purchase_rate", title="Repeat purchase rate", section=Section.PURCHASES,
        unit=Unit.RATE, direction=Direction.UP,
        formula="customers with more than one paid order / customers with at least one paid "
        "order, counting every order up to the period's end",
        tables=("orders", "exchange_rates"),
        edge_cases="Cumulative: a customer's orders are counted from its first order to the "
        "period's last day, so the tiers describe the customer base. The in-period variant "
        "(both counts over the period's orders only) is the extra column in_period. Refunded "
        "and failed orders are no purchase. Null when nobody has a paid order yet.",
        empty_reason=NO_BUYERS,
        extra_columns=("tier_1", "tier_2_5", "tier_6_10", "tier_11_plus", "in_period"))
def repeat_purchase_rate(ctx: MetricContext) -> ir.Table:
    """The share of buying customers who came back: customers with more than one paid order
    over those with at least one, counting all their orders up to the end of the period (the
    articles' split of the customer base into one-time and repeat buyers). The extra columns
    give the finer split the articles suggest: the shares of buyers with 1, 2-5, 6-10 and
    11 or more orders (they add up to 1), and ``in_period``, the same rate over the period's
    own orders only (buyers in the period with two or more orders in it / buyers in the
    period). A services business reads it as "repeat requests". n is the number of
    customers with at least one paid order."""
    c = _order_counts(ctx)
    tiers = {
        name: (c.orders >= low) if high is None else c.orders.between(low, high)
        for name, low, high in TIERS
    }
    g = c.group_by(ctx.group_keys).aggregate(
        buyers=c.count(), repeat=(c.orders > 1).sum(),
        period_buyers=(c.orders_in_period >= 1).sum(),
        period_repeat=(c.orders_in_period > 1).sum(),
        **{name: cond.sum() for name, cond in tiers.items()},
    )
    return finish(ctx, g, value=ratio(g.repeat, g.buyers), n=g.buyers,
                  null_reason=reason_if(g.buyers == 0, NO_BUYERS),
                  **{name: ratio(g[name], g.buyers) for name in tiers},
                  in_period=ratio(g.period_repeat, g.period_buyers))


# -- average purchase value, purchase frequency --------------------------------------------


@metric("average_purchase_value", title="Average purchase value", section=Section.PURCHASES,
        unit=Unit.MONEY, direction=Direction.UP,
        formula="revenue of the period's paid orders / number of those orders",
        tables=("orders", "exchange_rates"),
        edge_cases="Refunded and failed orders are left out of both the revenue and the "
        "count. Subscriptions are not purchases (see arpa). Null when the period has no paid "
        "order.", empty_reason=NO_ORDERS_IN_PERIOD, extra_columns=("customers",))
def average_purchase_value(ctx: MetricContext) -> ir.Table:
    """The average amount of a paid order placed in the period, in the reporting currency:
    revenue of the period's paid orders divided by their number. Refunded and failed orders
    count neither in the revenue nor in the number of orders. n is the number of orders;
    ``customers`` the number of customers who placed them."""
    o = ctx.in_period(paid_orders(ctx), "day")
    o = ctx.segment(o)
    g = o.group_by(ctx.group_keys).aggregate(
        revenue=o.amount.sum(), n=o.count(), customers=o.customer_id.nunique())
    return finish(ctx, g, value=ratio(g.revenue, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_ORDERS_IN_PERIOD), customers=g.customers)


@metric("purchase_frequency", title="Purchase frequency", section=Section.PURCHASES,
        unit=Unit.COUNT, direction=Direction.UP,
        formula="paid orders in the 12 months ending with the period / customers who placed "
        "them", tables=("orders", "exchange_rates"),
        edge_cases="Measured over the twelve months that end with the period, whatever the "
        "grain, so it is a true yearly figure (a month's orders x 12 would overstate it for "
        "customers who buy once a year). Null when nobody ordered in those months.",
        empty_reason="no paid orders in the 12 months ending with the period",
        extra_columns=("orders",))
def purchase_frequency(ctx: MetricContext) -> ir.Table:
    """How many times a year a buying customer orders: the paid orders of the twelve months
    that end with the period's last day, divided by the number of customers who placed them
    (the frequency factor of the articles' CLV formula). n is the number of those customers,
    ``orders`` the number of orders."""
    p = ctx.periods
    o = daily_orders(ctx)
    window_start = p.period_end - ibis.interval(months=12)
    j = p.join(o, [o.day >= window_start, o.day < p.period_end])
    j = ctx.segment(j.select("period_start", "customer_id", "orders"))
    g = j.group_by(ctx.group_keys).aggregate(orders=j.orders.sum(), n=j.customer_id.nunique())
    return finish(ctx, g, value=ratio(g.orders, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_BUYERS), orders=g.orders)


# -- lifespan, total cost of ownership ------------------------------------------------------


def relationships(ctx: MetricContext) -> ir.Table:
    """Per period and per customer who had paid for something by its last day: ``began``
    (``customers.started_at``, or the first paid service or order when earlier), ``ended``
    (the first day without a relationship: the period's end for customers still paying
    then), ``active`` (paying on the period's last day) and ``years`` (ended - began, in
    years of 365.25 days), with the segment columns."""
    return ctx.cached("relationships", lambda: ctx.segment(_relationships(ctx)))


def _relationships(ctx: MetricContext) -> ir.Table:
    p = ctx.periods
    lines = subscription_lines(ctx)
    lines = lines.filter(lines.monthly > 0)
    served = p.join(lines, lines.start <= p.last_day)
    capped = ibis.least(served.end.fill_null(served.period_end), served.period_end)
    served = served.select(
        "period_index", "customer_id", first=served.start, last=capped,
        active=served.end.isnull() | (served.end > served.last_day),
    )
    o = daily_orders(ctx)
    bought = p.join(o, o.day <= p.last_day)
    bought = bought.select(
        "period_index", "customer_id", first=bought.day,
        last=bought.day + ibis.interval(days=1), active=ibis.literal(False),
    )
    both = served.union(bought)
    g = both.group_by(["period_index", "customer_id"]).aggregate(
        first=both["first"].min(), last=both["last"].max(), active=both.active.any())
    c = ctx.customers().select(_cid="customer_id", _started="started_at")
    g = g.left_join(c, g.customer_id == c._cid)
    began = ibis.least(g._started.fill_null(g["first"]), g["first"])
    g = g.select("period_index", "customer_id", "active", began=began, last=g["last"]).view()
    pv = ctx.periods.view()
    g = g.join(pv, g.period_index == pv.period_index)
    ended = ibis.ifelse(g.active, g.period_end, g["last"])
    days = ibis.greatest(ended.delta(g.began, unit="day"), 0).cast("float64")
    return g.select("period_index", "period_start", "customer_id", "began", "active",
                    ended=ended, years=days / DAYS_PER_YEAR)


@metric("customer_lifespan", title="Customer lifespan", section=Section.PURCHASES,
        unit=Unit.YEARS, direction=Direction.UP,
        formula="mean over customers of (end of relationship - start), in years; still-active "
        "customers count up to the period's end",
        tables=("customers", "subscriptions", "orders", "exchange_rates"),
        edge_cases="Observed (censored) lifespan: customers still paying at the period's end "
        "count up to that end, so the mean understates the eventual lifespan; the survival "
        "curve in predict/ corrects for that. Gaps between subscriptions are part of the "
        "relationship. Customers who never paid are left out. Null when nobody has paid yet.",
        empty_reason=NO_PAYING_CUSTOMERS,
        extra_columns=("active", "churned", "churned_mean"))
def customer_lifespan(ctx: MetricContext) -> ir.Table:
    """How long customers stay, in years: the mean observed lifespan of every customer who
    had paid for something by the end of the period. A relationship begins at the customer's
    ``started_at`` (or its first paid service or order, when that is earlier) and ends on
    the last day of paid service (the day before the subscription's end date, with the
    churn policy applied) or, for a customer who only buys one-time orders, on the day of
    its latest paid order; a customer still paying on the period's last day counts up to
    that day (censored). ``active`` and ``churned`` count both kinds; ``churned_mean`` is
    the mean over the customers who have left only. n is the number of customers."""
    r = relationships(ctx)
    g = r.group_by(ctx.group_keys).aggregate(
        mean=r.years.mean(), n=r.count(), active=r.active.sum(),
        churned_mean=r.years.mean(where=~r.active))
    return finish(ctx, g, value=g.mean, n=g.n,
                  null_reason=reason_if(g.n == 0, NO_PAYING_CUSTOMERS),
                  active=g.active, churned=g.n - g.active, churned_mean=g.churned_mean)


@metric("total_cost_of_ownership", title="Total cost of ownership", section=Section.PURCHASES,
        unit=Unit.MONEY, direction=Direction.UP,
        formula="mean over customers of all they paid up to the period's end (recurring + "
        "one-time); per_year = all paid / all years of relationship",
        tables=("customers", "subscriptions", "orders", "exchange_rates"),
        edge_cases="Recurring revenue is counted as earned, day by day (an annual invoice "
        "paid up front is spread over its year), up to the period's last day. Refunded and "
        "failed orders count for nothing. per_year pools customers (sum of amounts / sum of "
        "years) so a customer a few days old cannot dominate it.",
        empty_reason=NO_PAYING_CUSTOMERS, extra_columns=("per_year",))
def total_cost_of_ownership(ctx: MetricContext) -> ir.Table:
    """What a customer has paid you in all over its relationship, up to the end of the
    period: recurring revenue (subscriptions, recognised day by day) plus paid one-time
    orders (products, services, add-ons), in the reporting currency, averaged over the
    customers who paid anything. ``per_year`` is the same money per year of relationship:
    everything these customers paid divided by the sum of their relationship lengths (see
    customer_lifespan). n is the number of customers."""
    p = ctx.periods
    windows = p.select(p.period_index, w_start=ibis.literal(BEGINNING), w_end=p.period_end)
    paid = revenue_in_windows(ctx, windows)
    paid = paid.filter(paid.revenue > 0).select(
        _pi="period_index", _cid="customer_id", revenue="revenue")
    r = relationships(ctx)
    j = r.join(paid, [r.period_index == paid._pi, r.customer_id == paid._cid])
    g = j.group_by(ctx.group_keys).aggregate(
        total=j.revenue.sum(), years=j.years.sum(), n=j.count())
    return finish(ctx, g, value=ratio(g.total, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_PAYING_CUSTOMERS),
                  per_year=ratio(g.total, g.years))
