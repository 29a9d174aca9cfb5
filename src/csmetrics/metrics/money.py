"""Money: subscription lines normalised to monthly amounts in the reporting currency.

Shared by every revenue metric. All policy choices that change MRR are applied here, once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext, calendar_day
from csmetrics.store.engines import largest_by

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

#: Months per billing interval: MRR = amount / months (a week is 12/52 of a month).
MONTHS_PER_INTERVAL = {"week": 12 / 52, "month": 1.0, "quarter": 3.0, "year": 12.0}
MONEY = "decimal(38, 6)"
#: The end of what has no end: open lines and the latest rate compare as ending on this day
#: (an inequality join on two plain comparisons, which engines run as a range join).
OPEN_END = date(9999, 12, 31)


def rates(ctx: MetricContext) -> ir.Table:
    """Exchange rates with the day each stops applying: ``__cur``, ``__from``, ``__to``,
    ``__rate``."""
    def build() -> ir.Table:
        r = ctx.table("exchange_rates")
        window = ibis.window(group_by=r.currency, order_by=r.date)
        return r.select(__cur=r.currency, __from=r.date, __to=r.date.lead().over(window),
                        __rate=r.rate_to_reporting)
    return ctx.cached("rates", build)


def convert(ctx: MetricContext, t: ir.Table, amount: str, day: str, *,
            pairs: ir.Table | None = None) -> ir.Table:
    """``t`` with ``amount`` converted to the reporting currency at the rate in force on ``day``
    (rows without a currency, or in the reporting currency, are left as they are).

    ``pairs``: every (``__kon`` day, ``__kcur`` currency) that ``t`` can hold, when the caller
    has a small table of them; by default they are read from ``t`` itself, which costs a
    pass over it."""
    r = rates(ctx)
    t = t.mutate(__on=calendar_day(t[day]))
    # the rate of each (day, currency) that occurs, found once; then an equality join
    wanted = t.select(__kon=t.__on, __kcur=t.currency).distinct() if pairs is None else pairs
    found = wanted.join(r, [wanted.__kcur == r.__cur, wanted.__kon >= r.__from,
                            wanted.__kon < r.__to.fill_null(OPEN_END)])
    found = found.select(found.__kon, found.__kcur, found.__rate)
    joined = t.left_join(found, [t.currency == found.__kcur, t.__on == found.__kon])
    return joined.mutate(
        **{amount: joined[amount].cast("float64") * joined.__rate.fill_null(1.0)}
    ).drop("__on", "__kon", "__kcur", "__rate")


def check_rates(ctx: MetricContext, tables: tuple[str, ...]) -> None:
    """Refuse to compute money in a currency that has no rate early enough, naming it."""
    needed: list[tuple[str, str, ir.Table]] = []
    for name, day in (("subscriptions", "start_date"), ("orders", "ordered_at"),
                      ("costs", "period_start")):
        if name not in tables:
            continue
        t = ctx.table(name)
        foreign = t.filter(t.currency.notnull() & (t.currency != ctx.currency))
        d = foreign[day].cast("date")
        needed.append((name, day, foreign.group_by(cur=foreign.currency).aggregate(first=d.min())))
    if not needed:
        return
    r = ctx.table("exchange_rates")
    first_rate = r.group_by(cur=r.currency).aggregate(first_rate=r.date.min())
    for name, day, firsts in needed:
        joined = firsts.left_join(first_rate, "cur")
        bad = joined.filter(joined.first_rate.isnull() | (joined.first_rate > joined.first))
        rows = ctx.con.execute(bad.select("cur", "first").limit(5)).to_dict("records")
        if rows:
            missing = ", ".join(f"{row['cur']} on {_iso(row['first'])}" for row in rows)
            raise UserInputError(
                f"No exchange rate to {ctx.currency} for {missing} ({name}.{day}); add rows "
                "for these currencies to exchange_rates, dated on or before those days."
            )


def _iso(value: object) -> str:
    return value.isoformat()[:10] if isinstance(value, date) else str(value)[:10]


def subscription_lines(ctx: MetricContext, *, empty: bool = False) -> ir.Table:
    """Subscriptions as service lines: ``customer_id``, ``plan``, ``start``, ``end`` (first
    day without service, NULL = open), ``monthly`` (normalised, discounts per policy) and
    ``currency``; the churn-recognition, delinquency and gap policies already applied.

    A line that ends on its start day gives no day of service and is left out, unless
    ``empty``: survival curves keep it as a lifetime of length 0."""
    return ctx.shared("subscription-lines" + ("+empty" if empty else ""),
                      lambda: _lines(ctx, empty),
                      lambda: int(ctx.con.execute(ctx.table("subscriptions").count())))


def _lines(ctx: MetricContext, empty: bool = False) -> ir.Table:
    s = ctx.table("subscriptions")
    policy = ctx.policy
    price = s.amount.cast("float64")
    if policy.discounts == "deduct":
        price = price - s.discount.cast("float64").fill_null(0.0)
    months = s.billing_interval.cases(*MONTHS_PER_INTERVAL.items(), else_=ibis.null("float64"))
    end: ir.DateValue = s.end_date
    if policy.churn_recognition == "cancellation":
        end = ibis.least(s.end_date, s.canceled_at)
    if policy.delinquent_churn_days > 0:
        due = s.past_due_since + ibis.interval(days=policy.delinquent_churn_days)
        end = ibis.least(end, due)
    lines = s.select(
        s.subscription_id, s.customer_id, s.plan, s.currency, s.billing_interval,
        start=s.start_date, end=end, monthly=price / months,
    )
    # an end on or before the start (cancelled before service began) means no service at all
    kept = (lines.end >= lines.start) if empty else (lines.end > lines.start)
    lines = lines.filter(lines.end.isnull() | kept)
    if policy.reactivation_min_gap_days > 0:
        lines = _bridge_short_gaps(lines, policy.reactivation_min_gap_days)
    if policy.currency_rate_at == "service_start":
        lines = convert(ctx, lines, "monthly", "start").mutate(currency=ibis.null("string"))
    return lines


def _bridge_short_gaps(lines: ir.Table, gap_days: int) -> ir.Table:
    """Extend a line's end to the customer's next start when the gap is under ``gap_days``."""
    window = ibis.window(group_by=lines.customer_id, order_by=[lines.start, lines.end])
    nxt = lines.start.lead().over(window)
    gap = nxt.delta(lines.end, unit="day")
    bridged = lines.end.notnull() & nxt.notnull() & (nxt > lines.end) & (gap < gap_days)
    return lines.mutate(end=ibis.ifelse(bridged, nxt, lines.end))


def active_on(lines: ir.Table, days: ir.Table, day: str = "day") -> ir.Table:
    """Every (day, line) pair where the line gives service on that day."""
    return days.join(lines, [lines.start <= days[day], lines.end.fill_null(OPEN_END) > days[day]])


def amounts_on(ctx: MetricContext, days: ir.Table) -> ir.Table:
    """Every subscription line giving service on a day of ``days`` (column ``day``; other
    columns are kept), with ``monthly`` in the reporting currency as an exact decimal."""
    lines = subscription_lines(ctx)
    active = active_on(lines, days)
    if ctx.policy.currency_rate_at == "period_end":
        # the rates wanted: every day of ``days`` in every currency of the lines (a few
        # hundred pairs), not the pairs read back from the (much larger) active lines
        on = days.select(__kon=calendar_day(days.day)).distinct()
        pairs = on.cross_join(lines.select(__kcur=lines.currency).distinct())
        active = convert(ctx, active, "monthly", "day", pairs=pairs)
    return active.mutate(monthly=to_money(active.monthly))


def to_money(value: ir.FloatingValue) -> ir.DecimalValue:
    """``value`` as an exact decimal (``MONEY``), rounded to the nearest millionth, a half
    away from zero, the same on every engine. (A plain cast rounds the double's exact binary
    value on Spark but its product with 10^6 on DuckDB, which can differ by a millionth.)"""
    micros = (value * 1_000_000).round()  # the same double, and the same rounding, everywhere
    millionth = ibis.literal(Decimal("0.000001"), MONEY)
    return (micros.cast(MONEY) * millionth).cast(MONEY)


def customer_mrr_on(ctx: MetricContext, days: ir.Table, *, plan: bool = False) -> ir.Table:
    """MRR per customer on each day of ``days`` (column ``day``): ``mrr`` (exact decimal),
    ``lines`` (active subscriptions, free ones included) and, with ``plan``, the ``plan`` of
    its largest line."""
    active = amounts_on(ctx, days)
    main = {"plan": largest_by(ctx.con, active.plan, active.monthly)} if plan else {}
    return active.group_by(["day", "customer_id"]).aggregate(
        mrr=active.monthly.sum(), lines=active.count(), **main)


def revenue_in_windows(ctx: MetricContext, windows: ir.Table) -> ir.Table:
    """Revenue each customer earned in each window (``period_index``, ``w_start``, ``w_end``
    exclusive): recurring revenue recognised day by day (MRR x 12 / 365 per day of service)
    plus paid one-time orders (refunded and failed orders earn nothing)."""
    lines = subscription_lines(ctx)
    overlap = windows.join(lines, [lines.start < windows.w_end,
                                   lines.end.fill_null(OPEN_END) > windows.w_start])
    first = ibis.greatest(overlap.start, overlap.w_start)
    last = ibis.ifelse(overlap.end.isnull(), overlap.w_end, ibis.least(overlap.end, overlap.w_end))
    days = last.delta(first, unit="day").cast("float64")
    recurring = overlap.mutate(rev=overlap.monthly * 12.0 * days / 365.0, __day=first)
    if ctx.policy.currency_rate_at == "period_end":
        recurring = recurring.mutate(__day=recurring.w_end - ibis.interval(days=1))
        recurring = convert(ctx, recurring, "rev", "__day")
    recurring = recurring.select("period_index", "customer_id", "rev")
    o = ctx.table("orders")
    o = o.filter(o.status == "paid")
    o = convert(ctx, o.mutate(rev=o.amount.cast("float64")), "rev", "ordered_at")
    o = o.mutate(__day=o.ordered_at.cast("date"))
    one_time = windows.join(o, [o.__day >= windows.w_start, o.__day < windows.w_end])
    one_time = one_time.select("period_index", "customer_id", "rev")
    both = recurring.union(one_time)
    return both.group_by(["period_index", "customer_id"]).aggregate(revenue=both.rev.sum())
