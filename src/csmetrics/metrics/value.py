"""Value and cost: customer lifetime value, CAC, LTV : CAC, CAC payback and retention cost.

CLV, LTV : CAC and CAC payback are combinations of metrics defined elsewhere (ARPA and the
customer churn rate in ``revenue.py``, the purchase metrics in ``purchases.py``, CAC here):
they join those metrics' results, so each figure equals what the metrics it is made of show
for the same period and segment.

Spend comes from the ``costs`` table. A cost row covers ``period_start`` to ``period_end``,
both days included; when that span does not match the query's periods it is prorated by day
(a quarter's 9,000 gives a 31-day month 9,000 x 31 / 91). Amounts are converted to the
reporting currency at the rate in force on the cost's first day.

Costs carry no customer, so a segment's share of them is allocated: every customer in the
denominator of the metric (a new customer for CAC, a retained one for CRC) carries the same
share of the period's spend -- except that, for CAC broken down or filtered by
``acquisition_channel``, a cost with a ``channel`` goes only to the new customers of that
channel, and costs without a channel are shared by all new customers. So a segment without
its own costs (region, plan) shows the blended figure, and the channel figures, weighted by
new customers, add up to the total spend.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import NONE_SEGMENT, MetricContext, customer_attribute
from csmetrics.metrics.definition import Benchmark, Direction, Section, Unit, metric
from csmetrics.metrics.money import convert
from csmetrics.metrics.purchases import (
    average_purchase_value,
    customer_lifespan,
    purchase_frequency,
)
from csmetrics.metrics.result import finish, ratio, reason_if
from csmetrics.metrics.revenue import arpa, changes_base, customer_changes, customer_churn_rate

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

ACQUISITION_CATEGORIES = ("sales", "marketing")
RETENTION_CATEGORIES = ("customer_success", "support", "account_management",
                        "retention_discount", "retention_campaign", "loyalty")
CHANNEL = "acquisition_channel"

NO_NEW_CUSTOMERS = "no new customers in the period"
NO_CHURN = "no customer churned in the period, so the expected lifetime is unbounded"
NO_END_CUSTOMERS = "no customers at period end"
NO_ACQUISITION_SPEND = "no sales and marketing spend in the period"
CLV_EXTRAS = ("method", "arpa", "gross_margin", "monthly_churn_rate",
              "average_purchase_value", "purchase_frequency", "lifespan_years")


# -- joining finished results ---------------------------------------------------------------


def _part(ctx: MetricContext, t: ir.Table, **columns: str) -> ir.Table:
    """The group keys of a finished result and some of its columns, renamed (new=old), as a
    fresh relation that can be joined again."""
    return t.select(*ctx.group_keys, **{new: t[old] for new, old in columns.items()}).view()


def _left(ctx: MetricContext, base: ir.Table, other: ir.Table) -> ir.Table:
    """``base`` with ``other``'s columns for the same period and segment (NULL if none)."""
    j = base.left_join(other, ctx.group_keys)
    return j.drop(*[f"{k}_right" for k in ctx.group_keys if f"{k}_right" in j.columns]).view()


def _first(*reasons: ir.Value) -> ir.StringValue:
    """The first reason that applies."""
    return ibis.coalesce(*[r.cast("string") for r in reasons])


# -- CLV ------------------------------------------------------------------------------------


@metric("clv", title="Customer lifetime value", section=Section.VALUE, unit=Unit.MONEY,
        direction=Direction.UP,
        formula="method 2 (default): ARPA x gross margin / monthly customer churn rate; "
        "method 1: average purchase value x purchase frequency x customer lifespan",
        tables=("customers", "subscriptions", "orders", "exchange_rates"),
        edge_cases="Method 2: null when nobody churned in the period (the lifetime would be "
        "infinite) or nobody was a customer at its start; for a grain other than the month, "
        "the period's churn rate r is turned into a monthly one, 1 - (1 - r)^(1 / months). "
        "Method 1: null when the period has no paid order.",
        empty_reason="no customers in the period", extra_columns=CLV_EXTRAS)
def clv(ctx: MetricContext) -> ir.Table:
    """Customer lifetime value: the money a customer is expected to bring over its whole
    relationship, in the reporting currency. The method is the ``[metrics] clv_method``
    setting. Method 2 (default, for subscriptions, the ChartMogul/Baremetrics formula with
    gross margin): ARPA (MRR per customer at the period's end) x gross margin (``[metrics]
    gross_margin``) / the monthly customer churn rate of the period (customer_churn_rate,
    with its within-period policy; a weekly, quarterly or yearly rate r is converted to
    monthly as 1 - (1 - r)^(1 / months in the period)), so 1 / churn is the expected
    lifetime in months; n is the customers at the period's start. Method 1 (the articles'
    formula, for purchases): average purchase value x purchase frequency x customer
    lifespan, each the value that metric shows for the same period and segment; n is the
    customers in the lifespan. The extra columns give ``method`` and the factors used.
    Method 3 of METRICS.md (per-customer BG/NBD + Gamma-Gamma) is a fitted model, not a
    query: it is not offered here."""
    if ctx.options.clv_method == 1:
        return _clv_purchases(ctx)
    return _clv_subscriptions(ctx)


def _clv_subscriptions(ctx: MetricContext) -> ir.Table:
    churn = _part(ctx, customer_churn_rate(ctx), churn="value", customers="n",
                  churn_reason="null_reason")
    j = _left(ctx, churn, _part(ctx, arpa(ctx), arpa="value"))
    months = 12.0 / ctx.grain.per_year
    monthly = j.churn if months == 1.0 else 1 - (1 - j.churn).pow(1.0 / months)
    margin = ctx.options.gross_margin
    reason = _first(j.churn_reason, reason_if(j.arpa.isnull(), NO_END_CUSTOMERS),
                    reason_if(monthly == 0, NO_CHURN))
    none = ibis.null("float64")
    return finish(ctx, j, value=ibis.ifelse(reason.isnull(), ratio(j.arpa * margin, monthly),
                                            none),
                  n=j.customers, null_reason=reason, method=ibis.literal(2),
                  arpa=j.arpa, gross_margin=ibis.literal(margin), monthly_churn_rate=monthly,
                  average_purchase_value=none, purchase_frequency=none, lifespan_years=none)


def _clv_purchases(ctx: MetricContext) -> ir.Table:
    life = _part(ctx, customer_lifespan(ctx), lifespan="value", customers="n",
                 life_reason="null_reason")
    if ctx.options.lifespan_source == "survival":
        life = _survival_lifespan(ctx, life)
    j = _left(ctx, life, _part(ctx, average_purchase_value(ctx), apv="value",
                               apv_reason="null_reason"))
    j = _left(ctx, j, _part(ctx, purchase_frequency(ctx), pf="value", pf_reason="null_reason"))
    reason = _first(j.life_reason, j.apv_reason,
                    reason_if(j.apv.isnull(), "no paid orders in the period"), j.pf_reason,
                    reason_if(j.pf.isnull(), "no paid orders in the 12 months ending with "
                              "the period"))
    none = ibis.null("float64")
    return finish(ctx, j, value=ibis.ifelse(reason.isnull(), j.apv * j.pf * j.lifespan, none),
                  n=j.customers, null_reason=reason, method=ibis.literal(1), arpa=none,
                  gross_margin=none, monthly_churn_rate=none, average_purchase_value=j.apv,
                  purchase_frequency=j.pf, lifespan_years=j.lifespan)


def _survival_lifespan(ctx: MetricContext, life: ir.Table) -> ir.Table:
    """Replace the observed lifespan by the expected lifespan (in years) of the last overall
    Kaplan-Meier run ('csmetrics survival'); empty with a reason when there is none."""
    from ibis.common.exceptions import TableNotFound

    try:
        summary = ctx.con.table("_survival_summary")
    except TableNotFound:
        expected = ibis.null("float64")
    else:
        overall = summary.filter(summary.by_column == "(all)")
        expected = (overall.expected_lifespan_months.max() / 12.0).as_scalar()
    return life.mutate(
        lifespan=expected,
        life_reason=ibis.ifelse(expected.isnull(),
                                ibis.literal("no survival-based lifespan yet: run 'csmetrics "
                                             "survival' (or set lifespan_source = \"observed\")"),
                                ibis.null("string")),
    )


# -- spend and its allocation -----------------------------------------------------------------


def spend(ctx: MetricContext, categories: tuple[str, ...]) -> ir.Table:
    """The costs of ``categories`` that fall in each period, prorated by day and converted:
    ``period_index``, ``channel`` (NULL = not tied to a channel) and ``amount``."""
    def build() -> ir.Table:
        c = ctx.table("costs")
        c = c.filter(c.category.isin(list(categories)))
        c = convert(ctx, c.mutate(amount=c.amount.cast("float64")), "amount", "period_start")
        c = c.select(c_from=c.period_start, c_to=c.period_end, amount=c.amount,
                     channel=c.channel.nullif("")).view()
        p = ctx.periods
        j = p.join(c, [c.c_from <= p.last_day, c.c_to >= p.period_start])
        covered = ibis.least(j.c_to, j.last_day).delta(
            ibis.greatest(j.c_from, j.period_start), unit="day") + 1
        length = j.c_to.delta(j.c_from, unit="day") + 1
        return j.select("period_index", "channel",
                        amount=j.amount * covered.cast("float64") / length.cast("float64"))
    return ctx.cached("spend:" + ",".join(categories), build)


def _unfiltered(ctx: MetricContext) -> MetricContext:
    """The same computation without customer filters: the population spend is shared by."""
    if not ctx.where and ctx.customer is None:
        return ctx  # segments only label rows: the population is the same
    return replace(ctx, where=(), customer=None, by=(), _cache={})


def _by_channel(ctx: MetricContext) -> bool:
    return (CHANNEL in ctx.by or CHANNEL in ctx.stack
            or any(column == CHANNEL for column, _ in ctx.where))


def _allocate(ctx: MetricContext, members: ir.Table, everyone: ir.Table, costs: ir.Table,
              by_channel: bool) -> ir.Table:
    """Spend allocated to the groups of ``members`` (rows of period_index, period_start,
    channel and the segment columns, one per customer in the denominator): ``spend`` and
    ``n`` per group. ``everyone`` (period_index, channel) is the whole population.

    Stacked (refresh), the rows of the acquisition_channel segmentation are charged as by
    channel and every other segmentation's rows the blended share."""
    n_all = everyone.group_by("period_index").aggregate(n_all=everyone.count())
    total = costs.group_by("period_index").aggregate(total=costs.amount.sum())
    blended = n_all.left_join(total, "period_index").drop("period_index_right")
    blended = blended.select(_b_pi=blended.period_index,
                             blended=blended.total.fill_null(0.0) / blended.n_all).view()
    m = members.join(blended, members.period_index == blended._b_pi)
    share = m.blended
    if by_channel:
        s = _channel_shares(everyone, n_all, costs)
        m = m.left_join(s, [m.period_index == s._c_pi, m.channel == s._c_channel])
        share = (m.channel_share if not ctx.stack
                 else ibis.ifelse(m.segment_by == CHANNEL, m.channel_share, m.blended))
    m = m.mutate(share=share)
    g = m.group_by(ctx.group_keys).aggregate(spend=m.share.sum(), n=m.count())
    if ctx.where or ctx.customer is not None:
        return g
    g = g.select(*ctx.group_keys, spend=g.spend, n=g.n.cast("int64"))
    uncarried = _uncarried(ctx, everyone, costs, by_channel)
    return g if uncarried is None else g.union(uncarried)


def _channel_shares(everyone: ir.Table, n_all: ir.Table, costs: ir.Table) -> ir.Table:
    """Per period and channel, what each of its new customers carries: the channel's own
    costs over its new customers plus the costs without a channel over all new customers
    (``_c_pi``, ``_c_channel``, ``channel_share``)."""
    n_ch = everyone.group_by(["period_index", "channel"]).aggregate(n_ch=everyone.count())
    own = costs.filter(costs.channel.notnull())
    own = own.group_by(["period_index", "channel"]).aggregate(own=own.amount.sum())
    shared = costs.filter(costs.channel.isnull())
    shared = shared.group_by("period_index").aggregate(shared=shared.amount.sum())
    s = n_ch.left_join(n_all, "period_index").drop("period_index_right").view()
    s = s.left_join(own, ["period_index", "channel"]).drop(
        "period_index_right", "channel_right").view()
    s = s.left_join(shared, "period_index").drop("period_index_right")
    return s.select(_c_pi=s.period_index, _c_channel=s.channel,
                    channel_share=s.own.fill_null(0.0) / s.n_ch
                    + s.shared.fill_null(0.0) / s.n_all).view()


def _uncarried(ctx: MetricContext, everyone: ir.Table, costs: ir.Table, by_channel: bool
               ) -> ir.Table | None:
    """Spend nobody could carry, as rows with n = 0: in the total, a period without any
    customer; by channel, a channel's own costs in a period without its customers."""
    parts = []
    if ctx.stack:
        by = list(ctx.stack)
    elif not ctx.by:
        by = [""]
    else:
        by = [CHANNEL] if ctx.by == (CHANNEL,) else []
    if "" in by:
        left = costs.group_by("period_index").aggregate(spend=costs.amount.sum())
        left = left.anti_join(everyone, "period_index")
        parts.append(left.mutate(channel=ibis.literal(""), _by=ibis.literal("")))
    if CHANNEL in by and by_channel:
        left = costs.filter(costs.channel.notnull())
        left = left.group_by(["period_index", "channel"]).aggregate(spend=left.amount.sum())
        left = left.anti_join(everyone, ["period_index", "channel"])
        parts.append(left.select("period_index", "spend", "channel",
                                 _by=ibis.literal(CHANNEL)))
    if not parts:
        return None
    left = parts[0] if len(parts) == 1 else parts[0].union(parts[1])
    left = left.join(ctx.periods.view(), "period_index")
    if ctx.stack:
        labels = {"segment_by": left._by, "segment_value": left.channel}
    else:
        labels = {CHANNEL: left.channel} if ctx.by else {}
    return left.select(left.period_start, **labels, spend=left.spend,
                       n=ibis.literal(0).cast("int64"))


def new_customers(ctx: MetricContext, *, segmented: bool = True) -> ir.Table:
    """Customers acquired in each period (``started_at`` in it): ``period_index``,
    ``period_start``, ``customer_id``, ``channel`` (their acquisition channel) and, when
    ``segmented``, the segments."""
    def build() -> ir.Table:
        c = ctx.in_period(ctx.customers(), "started_at")
        return c.select("period_index", "period_start", "customer_id",
                        channel=customer_attribute(c, CHANNEL).fill_null(NONE_SEGMENT))
    acquired = ctx.cached("new-customers", build)
    return ctx.segment(acquired) if segmented else acquired


# -- CAC ------------------------------------------------------------------------------------


@metric("cac", title="Customer acquisition cost", section=Section.VALUE, unit=Unit.MONEY,
        direction=Direction.DOWN,
        formula="sales + marketing costs of the period / customers acquired in the period",
        tables=("customers", "costs", "exchange_rates"),
        edge_cases="New customers are those whose started_at falls in the period (the "
        "relationship's start, which exists for subscription and purchase businesses alike). "
        "Costs are prorated by day onto the period and converted at their first day's rate. "
        "By acquisition_channel, a channel's own costs go to its new customers and costs "
        "without a channel are shared by all new customers; other segments get the blended "
        "CAC. Null with a reason when there are no new customers.",
        customer_level=False, empty_reason=NO_NEW_CUSTOMERS, extra_columns=("spend",))
def cac(ctx: MetricContext) -> ir.Table:
    """Customer acquisition cost: what winning one new customer cost in the period, the sales
    and marketing spend of the period divided by the customers acquired in it (customers
    whose ``started_at`` falls in the period). Article example: 100,000 spent in a month,
    1,000 new customers -> 100. Cost rows are prorated by day when their span does not match
    the period. With ``--by acquisition_channel`` a cost row with a ``channel`` is charged
    to the new customers of that channel only, and costs without a channel are shared by
    all new customers alike (each carries total shared spend / all new customers); a channel
    that spent without acquiring anyone shows its ``spend`` and no CAC. Segments that costs
    do not carry (region, plan...) get their new customers' share of the spend, i.e. the
    blended CAC. n is the number of new customers; ``spend`` the spend charged to them."""
    everyone = new_customers(_unfiltered(ctx), segmented=False).select("period_index",
                                                                       "channel")
    g = _allocate(ctx, new_customers(ctx), everyone, spend(ctx, ACQUISITION_CATEGORIES),
                  _by_channel(ctx))
    return finish(ctx, g, value=ratio(g.spend, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_NEW_CUSTOMERS), spend=g.spend)


@metric("ltv_cac_ratio", title="LTV : CAC", section=Section.VALUE, unit=Unit.RATIO,
        direction=Direction.UP, formula="CLV / CAC",
        tables=("customers", "subscriptions", "orders", "costs", "exchange_rates"),
        benchmark="at least 3 : 1", benchmark_range=Benchmark(low=3.0),
        edge_cases="Null when either side is null (see clv and cac) or when the period had "
        "no acquisition spend.", customer_level=False, empty_reason=NO_NEW_CUSTOMERS,
        extra_columns=("clv", "cac"))
def ltv_cac_ratio(ctx: MetricContext) -> ir.Table:
    """How many times a customer's lifetime value covers what it cost to acquire it: the
    period's CLV (with the configured method) over its CAC, for the same segment. The
    articles' benchmark is at least 3 : 1. n is the number of new customers."""
    j = _part(ctx, clv(ctx), clv="value", clv_reason="null_reason")
    j = _left(ctx, j, _part(ctx, cac(ctx), cac="value", new="n", cac_reason="null_reason"))
    reason = _first(j.clv_reason, j.cac_reason, reason_if(j.cac.isnull(), NO_NEW_CUSTOMERS),
                    reason_if(j.cac == 0, NO_ACQUISITION_SPEND))
    return finish(ctx, j, value=ratio(j.clv, j.cac), n=j.new.fill_null(0),
                  null_reason=reason, clv=j.clv, cac=j.cac)


@metric("cac_payback_months", title="CAC payback", section=Section.VALUE, unit=Unit.MONTHS,
        direction=Direction.DOWN, formula="CAC / (ARPA x gross margin)",
        tables=("customers", "subscriptions", "costs", "exchange_rates"),
        edge_cases="ARPA is the MRR per customer at the period's end (all customers, not "
        "only the new ones). Null when there is no CAC or no customer at the period's end.",
        customer_level=False, empty_reason=NO_NEW_CUSTOMERS, extra_columns=("cac", "arpa"))
def cac_payback_months(ctx: MetricContext) -> ir.Table:
    """Months of gross profit needed to earn back the cost of acquiring a customer: CAC
    divided by ARPA (MRR per customer at the period's end) times the gross margin
    (``[metrics] gross_margin``). n is the number of new customers."""
    j = _part(ctx, cac(ctx), cac="value", new="n", cac_reason="null_reason")
    j = _left(ctx, j, _part(ctx, arpa(ctx), arpa="value"))
    reason = _first(j.cac_reason, reason_if(j.arpa.fill_null(0) == 0, NO_END_CUSTOMERS))
    return finish(ctx, j, value=ratio(j.cac, j.arpa * ctx.options.gross_margin), n=j.new,
                  null_reason=reason, cac=j.cac, arpa=j.arpa)


# -- CRC ------------------------------------------------------------------------------------


def _retention_members(ctx: MetricContext, *, segmented: bool = True) -> ir.Table:
    c = customer_changes(ctx) if segmented else changes_base(ctx)
    keep = (c.at_start | c.at_end) if ctx.options.retention_cost_per == "all" else (
        c.at_start & c.at_end)
    return c.filter(keep).mutate(channel=ibis.null("string"))


@metric("customer_retention_cost", title="Customer retention cost", section=Section.VALUE,
        unit=Unit.MONEY, direction=Direction.DOWN,
        formula="retention spend of the period / customers retained in the period (or / all "
        "customers, option retention_cost_per = \"all\")",
        tables=("subscriptions", "costs", "exchange_rates"),
        edge_cases="Retention spend = costs in customer_success, support, account_management, "
        "retention_discount, retention_campaign and loyalty, prorated by day. Retained = a "
        "customer at both the start and the end of the period; 'all' = a customer at either. "
        "Retention costs are company-wide (their channel is ignored): every segment gets the "
        "same cost per customer.", customer_level=False,
        empty_reason="no customers retained in the period", extra_columns=("spend",))
def customer_retention_cost(ctx: MetricContext) -> ir.Table:
    """What keeping one customer cost in the period: the retention spend (customer success,
    support, account management, retention discounts and campaigns, loyalty programmes)
    divided by the customers retained in the period -- paying customers at both its start
    and its end (the ten-essential-metrics article). With ``[metrics] retention_cost_per =
    "all"`` it is divided by every customer of the period instead (at its start or its end),
    the per-total-customers variant of the other two articles. n is that denominator;
    ``spend`` the spend charged to it."""
    everyone = _retention_members(_unfiltered(ctx), segmented=False).select(
        "period_index", "channel")
    g = _allocate(ctx, _retention_members(ctx), everyone,
                  spend(ctx, RETENTION_CATEGORIES), by_channel=False)
    reason = ("no customers in the period" if ctx.options.retention_cost_per == "all"
              else "no customers retained in the period")
    return finish(ctx, g, value=ratio(g.spend, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, reason), spend=g.spend)
