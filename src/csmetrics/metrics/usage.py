"""Product usage and adoption: active users, stickiness, seat utilisation, feature adoption,
consumption, value unlock and time to value.

Usage events can run to tens of millions of rows. The per-user metrics read them through one
shared intermediate, ``user_days``: one row per (customer, user, calendar day) with the day's
event count, units, seconds and whether the user was *active* that day (any event, or one of
``[metrics] active_events``); per-period figures come from ``period_users`` (one row per
period and user) and trailing-window active users from disjoint *coverage runs* (see
``coverage``). The per-feature metrics read ``period_features`` (one row per period, user and
event). Days are joined to periods on equality through ``period_calendar``, never by a range
join per event. Days are calendar days in the workspace's time zone: timestamps are stored in
local time, so an event at 23:30 stays on its local day.

A user is the pair (customer_id, user_id): the same user id at two customers is two users.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.money import OPEN_END, customer_mrr_on
from csmetrics.metrics.periods import next_start
from csmetrics.metrics.result import finish, ratio, reason_if, wilson_interval

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

#: Trailing window, in days, of each active-user count (the day itself included).
WINDOW_DAYS = {"dau": 1, "wau": 7, "mau": 30}
#: The dimension of the per-feature metrics.
EVENT = "event"

NO_ACTIVE_USERS = "no active users in the period"
NO_ACTIVE_CUSTOMERS = "no active customers in the period"
EVENTS = ("usage_events",)


# -- shared intermediates -----------------------------------------------------------------


def shift(day: ir.DateValue, by: ir.IntervalValue) -> ir.DateValue:
    """``day`` moved by an interval, as a date (DuckDB turns date + interval into a timestamp
    although Ibis types it as a date, so the result is cast explicitly)."""
    return (day + by).cast("timestamp").cast("date")


def _active(ctx: MetricContext, event: ir.StringValue) -> ir.BooleanValue:
    """Whether an event makes its user active: any event, or one of ``active_events``."""
    chosen = ctx.options.active_events
    return event.isin(chosen) if chosen else event.notnull()  # event is a required column


def _events_in_range(ctx: MetricContext) -> ir.Table:
    """Usage events from 29 days before the first period (for trailing 30-day counts) to the
    end of the last period; filtering on the timestamp itself lets the engine skip blocks."""
    e = ctx.table("usage_events")
    first = ctx.starts[0] - timedelta(days=WINDOW_DAYS["mau"] - 1)
    last = next_start(ctx.starts[-1], ctx.grain)
    low = ibis.literal(datetime(first.year, first.month, first.day), "timestamp")
    high = ibis.literal(datetime(last.year, last.month, last.day), "timestamp")
    return e.filter(e.occurred_at >= low, e.occurred_at < high)


def user_days(ctx: MetricContext) -> ir.Table:
    """One row per (customer_id, user_id, day) with any event: ``events`` (all events),
    ``active`` (at least one event that counts as activity), ``quantity`` (units, an empty
    quantity counting 1) and ``seconds`` (an empty duration counting 0). Materialised once per
    computation: every per-user metric of a request reads this table, not the events."""
    def build() -> ir.Table:
        e = _events_in_range(ctx)
        return e.group_by(
            customer_id=e.customer_id, user_id=e.user_id, day=e.occurred_at.cast("date"),
        ).aggregate(
            events=e.count(),
            active=_active(ctx, e.event).any(),
            quantity=e.quantity.cast("float64").fill_null(1.0).sum(),
            seconds=e.duration_s.cast("float64").fill_null(0.0).sum(),
        )
    return ctx.materialized("usage-user-days", build)


def period_days(ctx: MetricContext) -> ir.Table:
    """The periods with ``clip_end`` (the period's end, or the day after ``as_of`` when that
    comes first: days after the data end are not averaged in) and ``n_days`` before it."""
    def build() -> ir.Table:
        p = ctx.periods
        end: ir.DateValue = p.period_end
        if ctx.known_until is not None:
            end = ibis.least(p.period_end, ibis.literal(ctx.known_until + timedelta(days=1)))
        p = p.mutate(clip_end=end)
        return p.mutate(n_days=p.clip_end.delta(p.period_start, unit="day")).filter(
            lambda t: t.n_days > 0)
    return ctx.cached("usage-period-days", build)


def period_calendar(ctx: MetricContext) -> ir.Table:
    """One row per day of every period (up to the data end): ``day`` with the period's
    ``period_index``, ``period_start`` and ``n_days``. Joining days to periods on equality is
    much cheaper than a range join when there are many periods (a daily series)."""
    def build() -> ir.Table:
        p = period_days(ctx)
        step = ibis.interval(days=1)
        days = ibis.range(p.period_start.cast("timestamp"), p.clip_end.cast("timestamp"), step)
        p = p.select("period_index", "period_start", "n_days", day=days.unnest())
        return p.mutate(day=p.day.cast("date"))
    return ctx.cached("usage-period-calendar", build)


def period_users(ctx: MetricContext) -> ir.Table:
    """One row per (period, customer, user) with any event in the period: ``active``,
    ``active_days``, ``events``, ``quantity``, ``seconds`` (no segment columns)."""
    def build() -> ir.Table:
        j = user_days(ctx).join(period_calendar(ctx), "day")
        return j.group_by(["period_index", "period_start", "customer_id", "user_id"]).aggregate(
            active=j.active.any(),
            active_days=j.active.sum(),
            events=j.events.sum(),
            quantity=j.quantity.sum(),
            seconds=j.seconds.sum(),
        )
    return ctx.cached("usage-period-users", build)


def period_features(ctx: MetricContext) -> ir.Table:
    """One row per (period, customer, user, event) for the users *active* in the period: the
    features they used (any event, whether or not it counts as activity)."""
    def build() -> ir.Table:
        e = _events_in_range(ctx)
        keys = ["period_index", "period_start", "customer_id", "user_id", "event"]
        f = e.select(e.customer_id, e.user_id, e.event, day=e.occurred_at.cast("date"),
                     active=_active(ctx, e.event))
        j = f.join(period_calendar(ctx), "day")
        if not ctx.options.active_events:  # any event makes its user active
            return j.select(*keys).distinct()
        j = j.group_by(keys).aggregate(active=j.active.any())
        # a user is active in the period when one of its features there counts as activity
        w = ibis.window(group_by=[j.period_index, j.customer_id, j.user_id])
        j = j.mutate(user_active=j.active.any().over(w))
        return j.filter(j.user_active).drop("active", "user_active")
    return ctx.cached("usage-period-features", build)


def customer_features(ctx: MetricContext) -> ir.Table:
    """One row per (period, customer, event): the features the customer's active users used
    in the period (``period_features`` without the users)."""
    def build() -> ir.Table:
        keys = ["period_index", "period_start", "customer_id", "event"]
        if ctx.options.active_events:
            return period_features(ctx).select(*keys).distinct()
        # any event makes its user active: every event of the period counts
        e = _events_in_range(ctx)
        f = e.select(e.customer_id, e.event, day=e.occurred_at.cast("date"))
        return f.join(period_calendar(ctx), "day").select(*keys).distinct()
    return ctx.cached("usage-customer-features", build)


def active_customers(ctx: MetricContext) -> ir.Table:
    """One row per (period, customer) with an active user in the period: ``active_users``."""
    def build() -> ir.Table:
        u = period_users(ctx)
        u = u.filter(u.active)
        return u.group_by(["period_index", "period_start", "customer_id"]).aggregate(
            active_users=u.count())
    return ctx.cached("usage-active-customers", build)


def _customer_segment(ctx: MetricContext, t: ir.Table) -> ir.Table:
    """``ctx.segment`` for a table without an ``event`` column, in a per-feature metric: the
    customer segments only (the event dimension is added by the feature table)."""
    if EVENT not in ctx.by or EVENT in t.columns:
        return ctx.segment(t)
    return replace(ctx, by=tuple(k for k in ctx.by if k != EVENT), _cache={}).segment(t)


def _customer_keys(ctx: MetricContext) -> list[str]:
    return [k for k in ctx.group_keys if k != EVENT]


# -- active users -------------------------------------------------------------------------


def active_user_days(ctx: MetricContext) -> ir.Table:
    """One row per (customer_id, user_id, day) on which the user did something that counts
    as activity: the only input of the active-user counts, narrower than ``user_days``."""
    def build() -> ir.Table:
        e = _events_in_range(ctx)
        e = e.filter(_active(ctx, e.event))
        return e.select(e.customer_id, e.user_id, day=e.occurred_at.cast("date")).distinct()
    return ctx.materialized("usage-active-user-days", build)


def coverage(ctx: MetricContext, window: int, users: bool = True) -> ir.Table:
    """Per period and customer (per period alone without segments): ``covered``, the
    user-days of the period on which a user counted as active in a trailing ``window``-day
    count (the day itself and the window - 1 before), and (unless ``users`` is false) ``n``,
    the distinct users counted on at least one of them.

    Each active day ``a`` covers the run [a, min(a + window, next active day)): the runs are
    disjoint and their union is exactly the set of days the user is counted. A run touches
    the consecutive periods from the one of its first day to the one of its last day, so
    each run is matched to its periods by equality on the period index: the work grows with
    the runs and the periods they touch, never with users x days or runs x periods (a range
    join of runs with a daily series degrades to the latter). A user is counted once in a
    period: by the run for which the user's previous run ended before the period began."""
    def build() -> ir.Table:
        u = active_user_days(ctx)
        # per customer only when segments need it (a customer is in one segment)
        keys = ["period_index", "period_start", "n_days", *(["customer_id"] if ctx.by else [])]
        if window == 1:  # a run is its day: count the days, no runs needed
            j = u.join(period_calendar(ctx), "day")
            if not users:
                return j.group_by(keys).aggregate(covered=j.count())
            # a user is (customer_id, user_id): distinct user ids are counted per customer
            per_customer = list(dict.fromkeys([*keys, "customer_id"]))
            return j.group_by(per_customer).aggregate(covered=j.count(), n=j.user_id.nunique())
        reach = shift(u.day, ibis.interval(days=window))
        w = ibis.window(group_by=[u.customer_id, u.user_id], order_by=u.day)
        nxt, prev = u.day.lead().over(w), u.day.lag().over(w)
        runs = u.mutate(
            run_end=ibis.ifelse(nxt.isnull(), reach, ibis.least(reach, nxt)),
            # the last day the user's previous run counted (NULL: none; least skips NULLs)
            prev_last=ibis.ifelse(prev.isnull(), ibis.null("date"),
                                  ibis.least(shift(prev, ibis.interval(days=window - 1)),
                                             shift(u.day, ibis.interval(days=-1)))),
        )
        first_day, end = ctx.starts[0], next_start(ctx.starts[-1], ctx.grain)
        if ctx.known_until is not None:
            end = min(end, ctx.known_until + timedelta(days=1))
        runs = runs.mutate(
            first=ibis.greatest(runs.day, ibis.literal(first_day)),
            last=ibis.least(shift(runs.run_end, ibis.interval(days=-1)),
                            ibis.literal(end - timedelta(days=1))),
        )
        runs = runs.filter(runs.first <= runs.last)
        cal = period_calendar(ctx)
        a = cal.select(_d1=cal.day, _i1=cal.period_index)
        b = cal.view().select(_d2="day", _i2="period_index")
        r = runs.join(a, runs.first == a._d1).join(b, runs.last == b._d2)
        r = r.select("customer_id", "day", "run_end", "prev_last",
                     period_index=ibis.range(r._i1, r._i2 + 1).unnest()).view()
        p = period_days(ctx)
        j = r.join(p, "period_index")
        days = ibis.least(j.run_end, j.clip_end).delta(
            ibis.greatest(j.day, j.period_start), unit="day")
        first_in_period = j.prev_last.isnull() | (j.prev_last < j.period_start)
        j = j.mutate(days=days, counted=first_in_period.cast("int64"))
        return j.group_by(keys).aggregate(covered=j.days.sum(), n=j.counted.sum())
    return ctx.cached(f"usage-coverage-{window}-{users}", build)


def _active_users(ctx: MetricContext, window: int) -> ir.Table:
    """Mean over the period's days of the users active in the trailing ``window`` days."""
    c = ctx.segment(coverage(ctx, window))
    return c.group_by([*ctx.group_keys, "n_days"]).aggregate(
        covered=c.covered.sum(), n=c.n.sum())


def _active_user_days(ctx: MetricContext) -> ir.Table:
    """The active user-days of each period (``covered``), without counting the users."""
    c = ctx.segment(coverage(ctx, WINDOW_DAYS["dau"], users=False))
    return c.group_by(ctx.group_keys).aggregate(covered=c.covered.sum())


ACTIVE_EDGE = (
    "Days after the data end (the as-of date, else the last day with data) are not averaged "
    "in; a period entirely after it, like a period without activity, shows 0. What counts as "
    "activity is [metrics] active_events (empty = any event)."
)


@metric("dau", title="Daily active users (DAU)", section=Section.USAGE, unit=Unit.COUNT,
        direction=Direction.UP,
        formula="mean over the period's days of the distinct users active that day",
        tables=EVENTS, edge_cases=ACTIVE_EDGE, empty_value=0.0)
def dau(ctx: MetricContext) -> ir.Table:
    """Daily active users: on an average day of the period, how many distinct users
    (customer_id, user_id) did something that counts as activity. Equals the period's active
    user-days divided by its days, so for a single day it is that day's distinct users. n is
    the number of distinct users active in the period."""
    g = _active_users(ctx, WINDOW_DAYS["dau"])
    return finish(ctx, g, value=g.covered / g.n_days, n=g.n)


@metric("wau", title="Weekly active users (WAU)", section=Section.USAGE, unit=Unit.COUNT,
        direction=Direction.UP,
        formula="mean over the period's days of the distinct users active in the 7 days "
        "ending that day", tables=EVENTS, edge_cases=ACTIVE_EDGE, empty_value=0.0)
def wau(ctx: MetricContext) -> ir.Table:
    """Weekly active users, the Mixpanel/Amplitude rolling definition: for each day of the
    period, the distinct users active in the trailing 7 days (that day and the 6 before),
    averaged over the period's days. Activity in the last days of the previous period counts
    towards the first days of this one. n is the number of distinct users counted on at
    least one day."""
    g = _active_users(ctx, WINDOW_DAYS["wau"])
    return finish(ctx, g, value=g.covered / g.n_days, n=g.n)


@metric("mau", title="Monthly active users (MAU)", section=Section.USAGE, unit=Unit.COUNT,
        direction=Direction.UP,
        formula="mean over the period's days of the distinct users active in the 30 days "
        "ending that day", tables=EVENTS, edge_cases=ACTIVE_EDGE, empty_value=0.0,
        extra_columns=("active_in_period",))
def mau(ctx: MetricContext) -> ir.Table:
    """Monthly active users, the Mixpanel/Amplitude rolling definition: for each day of the
    period, the distinct users active in the trailing 30 days (that day and the 29 before),
    averaged over the period's days; DAU / MAU of the same period is the stickiness. The
    calendar count (distinct users active inside the period itself) is the extra column
    active_in_period. n is the number of distinct users counted on at least one day."""
    g = _active_users(ctx, WINDOW_DAYS["mau"])
    d = _active_users(ctx, WINDOW_DAYS["dau"]).select(
        *[ibis._[k].name(f"_d_{k}") for k in ctx.group_keys], _d_n=ibis._.n)
    j = g.left_join(d, [g[k] == d[f"_d_{k}"] for k in ctx.group_keys])
    return finish(ctx, j, value=j.covered / j.n_days, n=j.n,
                  active_in_period=j._d_n.fill_null(0))


@metric("stickiness", title="Stickiness (DAU / MAU)", section=Section.USAGE, unit=Unit.RATE,
        direction=Direction.UP, formula="DAU / MAU, both means over the period's days",
        tables=EVENTS,
        edge_cases="Null when no user was active in the trailing 30 days of any day of the "
        "period. Days after the data end are left out of both means.",
        empty_reason=NO_ACTIVE_USERS, extra_columns=("dau", "mau"))
def stickiness(ctx: MetricContext) -> ir.Table:
    """How many of the month's users come back on a given day: the period's DAU divided by
    its MAU (both averages over the period's days, so this is exactly dau / mau of the same
    period; equivalently the daily DAU/MAU ratios averaged with each day weighted by its MAU).
    n is the number of distinct users in MAU."""
    m = _active_users(ctx, WINDOW_DAYS["mau"])
    d = _active_user_days(ctx).select(
        *[ibis._[k].name(f"_d_{k}") for k in ctx.group_keys], _d_cov=ibis._.covered)
    j = m.left_join(d, [m[k] == d[f"_d_{k}"] for k in ctx.group_keys])
    daily = j._d_cov.fill_null(0)
    return finish(ctx, j, value=ratio(daily, j.covered), n=j.n,
                  null_reason=reason_if(j.covered.fill_null(0) == 0, NO_ACTIVE_USERS),
                  dau=daily / j.n_days, mau=j.covered / j.n_days)


# -- product usage rate -------------------------------------------------------------------


def licensed_seats(ctx: MetricContext) -> ir.Table:
    """Per (period, customer) with licensed seats: ``seats``. The seats are customers.seats
    or, when that is empty, the quantity of the customer's subscriptions in force on the
    period's last day (or the data end, when earlier). A customer with subscriptions but none
    in force then is a former customer and has no seats."""
    def build() -> ir.Table:
        p = period_days(ctx)
        p = p.select("period_index", "period_start", ref=shift(p.clip_end, ibis.interval(days=-1)))
        s = ctx.table("subscriptions")
        on = p.join(s, [s.start_date <= p.ref, s.end_date.fill_null(OPEN_END) > p.ref])
        in_force = on.group_by(_pi="period_index", _cid="customer_id").aggregate(
            qty=on.quantity.fill_null(0).sum())
        ever = s.select(_eid=s.customer_id).distinct()
        c = ctx.customers().select("customer_id", "started_at", "seats")
        pc = p.join(c, c.started_at <= p.ref)
        pc = pc.left_join(in_force, [pc.period_index == in_force._pi,
                                     pc.customer_id == in_force._cid])
        pc = pc.left_join(ever, pc.customer_id == ever._eid)
        current = pc._eid.isnull() | pc._pi.notnull()
        seats = ibis.ifelse(pc.seats.isnull(), pc.qty.fill_null(0), pc.seats)
        pc = pc.select("period_index", "period_start", "customer_id",
                       seats=ibis.ifelse(current, seats, 0))
        return pc.filter(pc.seats > 0)
    return ctx.cached("usage-licensed-seats", build)


@metric("seat_utilisation", title="Seat utilisation", section=Section.USAGE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="users active in the period / licensed seats, over customers with seats",
        tables=("customers", "subscriptions", "usage_events"),
        edge_cases="Seats = customers.seats, or the quantity of the subscriptions in force on "
        "the period's last day when that is empty. Customers without seats are left out; "
        "licensed customers without activity count as 0 active users. Can exceed 100 % when "
        "more users are active than seats were bought.",
        empty_reason="no customer with licensed seats",
        extra_columns=("active_users", "seats", "customer_mean"))
def seat_utilisation(ctx: MetricContext) -> ir.Table:
    """The share of the licences customers pay for that are in use: distinct users active in
    the period over licensed seats, pooled over the customers with seats (a large account
    weighs by its seats; customer_mean is the plain mean of each customer's utilisation).
    n is the number of customers with seats."""
    s = licensed_seats(ctx)
    a = active_customers(ctx).select(_pi="period_index", _cid="customer_id",
                                     _users="active_users")
    j = s.left_join(a, [s.period_index == a._pi, s.customer_id == a._cid])
    j = ctx.segment(j.select("period_start", "customer_id", "seats",
                             users=j._users.fill_null(0)))
    g = j.group_by(ctx.group_keys).aggregate(
        users=j.users.sum(), seats=j.seats.sum(), n=j.count(),
        customer_mean=(j.users.cast("float64") / j.seats).mean())
    return finish(ctx, g, value=ratio(g.users, g.seats), n=g.n, active_users=g.users,
                  seats=g.seats, customer_mean=g.customer_mean)


@metric("active_days", title="Active days per customer", section=Section.USAGE,
        unit=Unit.DAYS, direction=Direction.UP,
        formula="mean over active customers of the days in the period with any active user",
        tables=EVENTS, edge_cases="Customers without activity in the period are not in the "
        "mean (see seat_utilisation for inactive accounts). share_of_days divides by the "
        "period's days up to the data end.", empty_reason=NO_ACTIVE_CUSTOMERS,
        extra_columns=("share_of_days",))
def active_days(ctx: MetricContext) -> ir.Table:
    """How regularly accounts use the product: per customer, the days of the period on which
    at least one of its users was active, averaged over the customers active in the period.
    n is the number of those customers."""
    u = active_user_days(ctx)
    u = u.select("customer_id", "day").distinct()
    j = u.join(period_calendar(ctx), "day")
    per = j.group_by(["period_start", "n_days", "customer_id"]).aggregate(days=j.count())
    per = ctx.segment(per)
    g = per.group_by([*ctx.group_keys, "n_days"]).aggregate(
        mean=per.days.mean(), n=per.count())
    return finish(ctx, g, value=g.mean, n=g.n, share_of_days=g.mean / g.n_days)


def _per_active_user(ctx: MetricContext) -> ir.Table:
    u = period_users(ctx)
    u = ctx.segment(u.filter(u.active))
    return u.group_by(ctx.group_keys).aggregate(
        events=u.events.sum(), seconds=u.seconds.sum(), n=u.count())


@metric("events_per_active_user", title="Events per active user", section=Section.USAGE,
        unit=Unit.COUNT, direction=Direction.UP,
        formula="events of the users active in the period / those users",
        tables=EVENTS, edge_cases="All events of an active user count, also events that do "
        "not by themselves make a user active.", empty_reason=NO_ACTIVE_USERS)
def events_per_active_user(ctx: MetricContext) -> ir.Table:
    """Usage intensity: the events (rows of usage_events) performed in the period by the
    users active in it, per active user. n is the number of active users."""
    g = _per_active_user(ctx)
    return finish(ctx, g, value=ratio(g.events, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_ACTIVE_USERS))


@metric("time_spent", title="Time spent per active user", section=Section.USAGE,
        unit=Unit.HOURS, direction=Direction.UP,
        formula="sum of duration_s of the active users' events / 3600 / active users",
        tables=EVENTS, edge_cases="In hours. An event without duration_s counts 0 seconds. "
        "total_hours is the sum over all active users.", empty_reason=NO_ACTIVE_USERS,
        extra_columns=("total_hours",))
def time_spent(ctx: MetricContext) -> ir.Table:
    """Time in the product: hours spent in the period (sum of the events' duration_s) per
    user active in it. n is the number of active users."""
    g = _per_active_user(ctx)
    hours = g.seconds / 3600.0
    return finish(ctx, g, value=ratio(hours, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_ACTIVE_USERS), total_hours=hours)


# -- feature adoption ---------------------------------------------------------------------


@metric("feature_adoption", title="Feature adoption", section=Section.USAGE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="active customers that used the feature in the period / active customers",
        tables=EVENTS, edge_cases="A feature is an event name. Only the use by active users "
        "counts, so shares stay within [0, 1]. A feature nobody used in the period has no "
        "row.", empty_reason=NO_ACTIVE_CUSTOMERS, dimension=EVENT,
        extra_columns=("user_share", "customers", "users"))
def feature_adoption(ctx: MetricContext) -> ir.Table:
    """Per feature (event): the share of the customers active in the period whose users used
    it, with a 95 % Wilson interval; user_share is the same share among active users. n is
    the number of active customers (the denominator)."""
    pf = period_features(ctx)
    # per customer first, then segmented: a customer is in one segment, so counting its rows
    # counts distinct customers, and the segment rows multiply customers, not users
    per_feature = pf.group_by(["period_index", "period_start", "customer_id", EVENT]).aggregate(
        users=pf.count())  # one row per user and event
    f = ctx.segment(per_feature)
    used = f.group_by(ctx.group_keys).aggregate(customers=f.count(), users=f.users.sum())
    # every user in period_features is active: the denominators come from the same rows
    keys = _customer_keys(ctx)
    u = pf.select("period_index", "period_start", "customer_id", "user_id").distinct()
    u = u.group_by(["period_index", "period_start", "customer_id"]).aggregate(users=u.count())
    u = _customer_segment(ctx, u)
    base = u.group_by(keys).aggregate(active_customers=u.count(), active_users=u.users.sum())
    base = base.select(*[base[k].name(f"_b_{k}") for k in keys], "active_customers",
                       "active_users")
    j = used.join(base, [used[k] == base[f"_b_{k}"] for k in keys])
    low, high = wilson_interval(j.customers, j.active_customers)
    return finish(ctx, j, value=ratio(j.customers, j.active_customers), n=j.active_customers,
                  ci_low=low, ci_high=high, user_share=ratio(j.users, j.active_users),
                  customers=j.customers, users=j.users)


@metric("feature_breadth", title="Feature breadth", section=Section.USAGE, unit=Unit.COUNT,
        direction=Direction.UP,
        formula="mean over active customers of the distinct features (events) they used",
        tables=EVENTS, edge_cases="Counts every event name the customer's active users "
        "used in the period, including the ones that make a user active.",
        empty_reason=NO_ACTIVE_CUSTOMERS, extra_columns=("median",))
def feature_breadth(ctx: MetricContext) -> ir.Table:
    """How much of the product an account uses: per customer active in the period, the
    number of distinct features (event names) its users used, averaged across customers.
    n is the number of active customers."""
    f = customer_features(ctx)
    per = f.group_by(["period_start", "customer_id"]).aggregate(features=f.count())
    per = ctx.segment(per)
    g = per.group_by(ctx.group_keys).aggregate(
        mean=per.features.mean(), median=per.features.median(), n=per.count())
    return finish(ctx, g, value=g.mean, n=g.n, median=g.median)


# -- consumption --------------------------------------------------------------------------


def purchased_units(ctx: MetricContext) -> ir.Table:
    """Per (period, customer): ``purchased``, the subscriptions' quantity in force during the
    period, each weighted by the share of the period's days (up to the data end) it was in
    force."""
    def build() -> ir.Table:
        s = ctx.table("subscriptions")
        s = s.filter(s.quantity.notnull() & (s.quantity > 0))
        p = period_days(ctx)
        j = p.join(s, [s.start_date < p.clip_end,
                       s.end_date.fill_null(OPEN_END) > p.period_start])
        last = ibis.ifelse(j.end_date.isnull(), j.clip_end, ibis.least(j.end_date, j.clip_end))
        days = last.delta(ibis.greatest(j.start_date, j.period_start), unit="day")
        j = j.mutate(weighted=j.quantity.cast("float64") * days / j.n_days, days=days)
        j = j.filter(j.days > 0)
        return j.group_by(["period_index", "period_start", "customer_id"]).aggregate(
            purchased=j.weighted.sum())
    return ctx.cached("usage-purchased-units", build)


@metric("consumption_rate", title="Consumption rate", section=Section.USAGE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="units consumed (sum of usage quantity) / units purchased (subscription "
        "quantity in force), over customers with purchased units",
        tables=("subscriptions", "usage_events"),
        edge_cases="Consumed = sum of usage_events.quantity of all events (empty = 1). "
        "Purchased = quantity of the subscriptions in force in the period, weighted by the "
        "share of the period's days each was in force (an upgrade mid-period is not counted "
        "twice); the quantity is read as the allowance for one period, so query at the grain "
        "your contracts allot units in (usually month). Customers without purchased units "
        "are left out. Can exceed 100 % (overage).",
        empty_reason="no purchased units in the period",
        extra_columns=("consumed", "purchased", "customer_median"))
def consumption_rate(ctx: MetricContext) -> ir.Table:
    """How much of what customers bought they use: units consumed in the period over units
    purchased (entitlement), pooled over the customers with an entitlement; customer_median
    is the median of each customer's own rate. n is the number of customers with an
    entitlement."""
    b = purchased_units(ctx)
    u = period_users(ctx)
    used = u.group_by(_pi=u.period_index, _cid=u.customer_id).aggregate(consumed=u.quantity.sum())
    j = b.left_join(used, [b.period_index == used._pi, b.customer_id == used._cid])
    j = ctx.segment(j.select("period_start", "customer_id", "purchased",
                             consumed=j.consumed.fill_null(0.0)))
    g = j.group_by(ctx.group_keys).aggregate(
        consumed=j.consumed.sum(), purchased=j.purchased.sum(), n=j.count(),
        customer_median=(j.consumed / j.purchased).median())
    return finish(ctx, g, value=ratio(g.consumed, g.purchased), n=g.n, consumed=g.consumed,
                  purchased=g.purchased, customer_median=g.customer_median)


# -- value unlock -------------------------------------------------------------------------


def newcombe_interval(
    p1: ir.FloatingValue, n1: ir.NumericValue, x1: ir.NumericValue,
    p0: ir.FloatingValue, n0: ir.NumericValue, x0: ir.NumericValue,
) -> tuple[ir.FloatingValue, ir.FloatingValue]:
    """95 % interval of p1 - p0 for two independent proportions: Newcombe's hybrid score
    method (1998, method 10), built from each group's Wilson interval; it behaves at 0 %,
    100 % and small n where the plain Wald interval does not."""
    l1, u1 = wilson_interval(x1, n1)
    l0, u0 = wilson_interval(x0, n0)
    d = p1 - p0
    return (d - ((p1 - l1).pow(2) + (u0 - p0).pow(2)).sqrt(),
            d + ((u1 - p1).pow(2) + (p0 - l0).pow(2)).sqrt())


@metric("value_unlock", title="Value unlock", section=Section.USAGE, unit=Unit.RATE,
        direction=Direction.UP,
        formula="retention over the next N months of customers who used the feature in the "
        "period - that of active customers who did not",
        tables=("usage_events", "subscriptions", "exchange_rates"),
        edge_cases="Correlation, not causation. Cohort = customers active in the period with "
        "MRR > 0 on its last day; retained = MRR > 0 on the last day of the N months after "
        "the period ([metrics] value_unlock_window_months). Null while that window runs past "
        "the data end, and when either group is empty.",
        empty_reason="no active paying customers in the period", dimension=EVENT,
        extra_columns=("adopter_retention", "non_adopter_retention", "adopters",
                       "non_adopters"))
def value_unlock(ctx: MetricContext) -> ir.Table:
    """Which features go with customers staying: for each feature (event), the retention of
    the paying customers who used it in the period minus the retention of the paying
    customers active in the period who did not, over the value_unlock_window_months months
    after the period. This is a correlation, not causation: customers who adopt a feature
    may differ in many other ways (size, plan, health), so read it as a lead to test, not as
    the effect of the feature. Retained = still has MRR > 0 at the end of the window. The 95 %
    interval of the difference is Newcombe's hybrid score interval. n is the cohort size
    (adopters + non-adopters)."""
    months = ctx.options.value_unlock_window_months
    p = ctx.periods
    windows = p.select(
        "period_index", "period_start", "last_day",
        window_end=shift(shift(p.period_end, ibis.interval(months=months)),
                         ibis.interval(days=-1)))
    days = windows.select(day=windows.last_day).union(
        windows.select(day=windows.window_end)).distinct()
    snap = customer_mrr_on(ctx, days)
    paying = snap.filter(snap.mrr > 0).select(_day="day", _cid="customer_id")
    later = paying.view()
    f = customer_features(ctx)
    a = f.select("period_index", "customer_id").distinct()  # customers active in the period
    w = windows.view()
    cohort = a.join(w, "period_index")
    cohort = cohort.semi_join(paying, [cohort.last_day == paying._day,
                                       cohort.customer_id == paying._cid])
    cohort = cohort.left_join(later, [cohort.window_end == later._day,
                                      cohort.customer_id == later._cid])
    cohort = cohort.select("period_index", "period_start", "customer_id", "window_end",
                           retained=later._cid.notnull()).view()
    f = f.select("period_index", "customer_id", "event")
    adopters = cohort.join(f, ["period_index", "customer_id"])
    adopters = ctx.segment(adopters)
    by_event = adopters.group_by(ctx.group_keys).aggregate(
        adopters=adopters.count(), adopters_kept=adopters.retained.sum())
    keys = _customer_keys(ctx)
    base = _customer_segment(ctx, cohort)
    base = base.group_by([*keys, "window_end"]).aggregate(
        cohort=base.count(), kept=base.retained.sum())
    base = base.select(*[base[k].name(f"_b_{k}") for k in keys], "window_end", "cohort", "kept")
    j = by_event.join(base, [by_event[k] == base[f"_b_{k}"] for k in keys])
    others = j.cohort - j.adopters
    p1 = ratio(j.adopters_kept, j.adopters)
    p0 = ratio(j.kept - j.adopters_kept, others)
    open_window = (ibis.literal(False) if ctx.known_until is None
                   else j.window_end > ibis.literal(ctx.known_until))
    valid = ~open_window & (others > 0)
    low, high = newcombe_interval(p1, j.adopters, j.adopters_kept, p0, others,
                                  j.kept - j.adopters_kept)
    reason = ibis.cases(
        (open_window, f"the {months}-month window after the period runs past the data end"),
        (others == 0, "every active paying customer used the feature: no one to compare with"),
        else_=ibis.null("string"),
    )
    null = ibis.null("float64")
    return finish(ctx, j, value=ibis.ifelse(valid, p1 - p0, null), n=j.cohort,
                  null_reason=reason, ci_low=ibis.ifelse(valid, low, null),
                  ci_high=ibis.ifelse(valid, high, null),
                  adopter_retention=ibis.ifelse(open_window, null, p1),
                  non_adopter_retention=ibis.ifelse(open_window, null, p0),
                  adopters=j.adopters, non_adopters=others)


# -- time to value ------------------------------------------------------------------------


@metric("time_to_value", title="Time to value", section=Section.USAGE, unit=Unit.DAYS,
        direction=Direction.DOWN,
        formula="median over customers that started in the period of the days from "
        "customers.started_at to their first key event",
        tables=("customers", "usage_events"),
        edge_cases="Key events are [metrics] key_events (empty = any event). A key event on "
        "or before the start day counts as 0 days. Customers that have not reached value by "
        "the data end are counted in not_reached, not in the median. Grouped by the period "
        "of the customer's start.",
        empty_reason="no customer started in the period",
        extra_columns=("mean", "p90", "not_reached"))
def time_to_value(ctx: MetricContext) -> ir.Table:
    """How fast new customers get value: for the customers whose relationship started in the
    period, the median number of days from their start (customers.started_at) to their first
    key event, with the mean and 90th percentile. n is the number that reached value;
    not_reached counts those that have not (yet)."""
    e = ctx.table("usage_events")
    if ctx.options.key_events:
        e = e.filter(e.event.isin(ctx.options.key_events))
    first = e.group_by(_cid=e.customer_id).aggregate(first=e.occurred_at.min().cast("date"))
    c = ctx.in_period(ctx.customers().select("customer_id", "started_at"), "started_at")
    c = c.left_join(first, c.customer_id == first._cid)
    waited = c.first.delta(c.started_at, unit="day")
    # GREATEST skips NULLs on most engines: keep "never reached" NULL explicitly
    days = ibis.ifelse(waited.isnull(), ibis.null("float64"),
                       ibis.greatest(waited, 0).cast("float64"))
    c = ctx.segment(c.select("period_start", "customer_id", days=days))
    reached = c.days.notnull()
    g = c.group_by(ctx.group_keys).aggregate(
        median=c.days.median(), mean=c.days.mean(), p90=c.days.quantile(0.9),
        n=reached.sum(), not_reached=(~reached).sum())
    return finish(ctx, g, value=g.median, n=g.n,
                  null_reason=reason_if(g.n == 0, "no customer that started in the period "
                                        "has reached value yet"),
                  mean=g.mean, p90=g.p90, not_reached=g.not_reached)

