"""Satisfaction, loyalty, advocacy: NPS, CSAT, CES, ratings, referrals and ideas.

Survey scores (``survey_responses``) fall in the period of ``responded_at`` and carry their
sample size and a 95 % confidence interval. An answer without ``scale_max`` is on its survey's
usual scale (nps 10, csat 5, ces 7, reviews 5). Advocacy counts (referrals, ideas) are also
given per active customer (see :func:`active_customers`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.definition import Direction, Section, Unit, metric
from csmetrics.metrics.money import OPEN_END, subscription_lines
from csmetrics.metrics.result import Z95, finish, mean_interval, ratio, reason_if, wilson_interval
from csmetrics.metrics.revenue import customer_changes
from csmetrics.schema.tables import DEFAULT_SCALE_MAX

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
else:
    ibis = lazy_module("ibis")

__all__ = ["LOOKBACK_PERIODS", "ORGANIC_CHANNELS", "REFERRAL_CHANNELS", "active_customers",
           "channel_group", "responses"]

NO_ACTIVE = "no active customers in the period"
NO_NEW = "no new customers in the period"

#: ``employee_rating``'s ``change`` compares a period with this many periods before it.
LOOKBACK_PERIODS = 4

#: Acquisition channels (lower case, spaces and dashes as ``_``) that are referrals. A customer
#: with ``referred_by`` set is a referral whatever its channel says.
REFERRAL_CHANNELS = ("referral", "referrals", "referred", "customer_referral", "refer_a_friend")
#: Channels where the customer found you without paid or outbound effort.
ORGANIC_CHANNELS = (
    "organic", "organic_search", "organic_social", "seo", "content", "blog", "direct",
    "word_of_mouth", "community", "inbound", "review_site", "review_sites", "press",
)


# -- shared inputs -------------------------------------------------------------------------


def responses(ctx: MetricContext, survey: str) -> ir.Table:
    """Answers to ``survey`` with ``scale_top``: their ``scale_max``, or the survey's usual
    top score when it is empty."""
    r = ctx.table("survey_responses")
    r = r.filter(r.survey == survey)
    top = r.scale_max.cast("float64").fill_null(float(DEFAULT_SCALE_MAX[survey]))
    return r.mutate(scale_top=top, score=r.score.cast("float64"))


def active_customers(ctx: MetricContext) -> ir.Table:
    """``period_start``, ``period_end``, ``customer_id``: the customers in scope that were
    active at some time in the period.

    Active = a subscription giving service on at least one day of the period (a paying one,
    or any when the policy counts free plans as customers), or a paid order placed in it (so
    businesses without subscriptions have active customers too). A customer who churned on
    the 10th is active in that period; one who only opened a ticket is not.
    """
    def build() -> ir.Table:
        p = ctx.periods
        lines = subscription_lines(ctx)
        if not ctx.policy.free_plans_are_customers:
            lines = lines.filter(lines.monthly > 0)
        subs = p.join(lines, [lines.start < p.period_end,
                              lines.end.fill_null(OPEN_END) > p.period_start])
        subs = subs.select("period_start", "period_end", "customer_id")
        o = ctx.table("orders")
        o = o.filter(o.status.fill_null("paid") == "paid").select("customer_id", "ordered_at")
        orders = ctx.in_period(o, "ordered_at").select("period_start", "period_end",
                                                       "customer_id")
        return subs.union(orders).distinct()
    return ctx.cached("active-customers", build)


def _counts_per_active(ctx: MetricContext, events: ir.Table) -> ir.Table:
    """Count ``events`` (rows with ``period_start`` and ``customer_id``, not segmented) per
    period and segment beside the active customers: ``events``, ``actors`` (customers with
    an event) and ``active``, with a row wherever either is present. Counted per customer
    first, then segmented (a customer is in one segment), so no distinct count runs over
    the segmented rows."""
    per = events.group_by(["period_start", "customer_id"]).aggregate(events=events.count())
    act = active_customers(ctx)
    act = act.select(_ps=act.period_start, _cid=act.customer_id)
    j = per.outer_join(act, [per.period_start == act._ps, per.customer_id == act._cid])
    j = j.select(period_start=ibis.coalesce(j.period_start, j._ps),
                 customer_id=ibis.coalesce(j.customer_id, j._cid),
                 events=j.events.fill_null(0), active=j._cid.notnull().cast("int64")).view()
    j = ctx.segment(j)
    return j.group_by(ctx.group_keys).aggregate(
        events=j.events.sum(), actors=(j.events > 0).sum(), active=j.active.sum())


# -- NPS, CSAT, CES ------------------------------------------------------------------------


@metric("nps", title="Net Promoter Score", section=Section.SATISFACTION, unit=Unit.SCORE,
        direction=Direction.UP,
        formula="100 x (promoters - detractors) / answers; promoters 9-10, passives 7-8, "
        "detractors 0-6",
        tables=("survey_responses",),
        benchmark="ranges from -100 to +100; above 0 means more promoters than detractors",
        edge_cases="Answers on another scale (scale_max other than 10) are rescaled to 0-10 "
        "(score x 10 / scale_max) before classifying, so 4.5 of 5 is a 9, a promoter. The "
        "interval is clipped to [-100, 100]; when every answer is in one group (a single "
        "answer, say) the normal approximation gives it zero width: read n.",
        extra_columns=("promoters", "passives", "detractors"),
        empty_reason="no NPS answers in the period")
def nps(ctx: MetricContext) -> ir.Table:
    """Net Promoter Score: of the period's answers to "how likely are you to recommend us"
    (survey ``nps``, 0-10), the percentage of promoters (9-10) minus the percentage of
    detractors (0-6); passives (7-8) count only in the total. A score from -100 (all
    detractors) to +100 (all promoters); higher is better. Promoters minus detractors, never
    the reverse (one of the articles writes it backwards). Extra columns: the three shares
    (fractions that sum to 1). n is the number of answers. The 95 % interval uses the
    multinomial variance of the difference of two shares: var = (p_promoters + p_detractors -
    (p_promoters - p_detractors)^2) / n, NPS +/- 1.96 x 100 x sqrt(var), clipped to
    [-100, 100]. Every answer counts (a customer answering twice counts twice), as survey
    tools report it. Answers on another scale are rescaled to 0-10, not refused."""
    r = responses(ctx, "nps")
    score10 = r.score * 10.0 / r.scale_top
    r = r.mutate(kind=ibis.cases((score10 >= 9, "promoter"), (score10 >= 7, "passive"),
                                 else_="detractor"))
    r = ctx.segment(ctx.in_period(r, "responded_at"))
    g = r.group_by(ctx.group_keys).aggregate(
        n=r.count(), prom=(r.kind == "promoter").sum(), pas=(r.kind == "passive").sum(),
        det=(r.kind == "detractor").sum())
    n = g.n.cast("float64")
    p, d = g.prom / n, g.det / n
    score = 100.0 * (p - d)
    variance = ibis.greatest((p + d - (p - d) * (p - d)) / n, 0.0)
    half = Z95 * 100.0 * variance.sqrt()
    return finish(ctx, g, value=score, n=g.n,
                  ci_low=ibis.greatest(score - half, -100.0),
                  ci_high=ibis.least(score + half, 100.0),
                  promoters=p, passives=g.pas / n, detractors=d)


def csat_positive(ctx: MetricContext, r: ir.Table) -> ir.BooleanValue:
    """Whether each CSAT answer of ``r`` (from :func:`responses`) is positive."""
    low5, low10 = ctx.options.csat_positive_min_5, ctx.options.csat_positive_min_10
    threshold = ibis.cases((r.scale_top == 5, low5), (r.scale_top == 10, low10),
                           else_=r.scale_top * (low5 / 5.0))
    return r.score >= threshold


@metric("csat", title="Customer satisfaction (CSAT)", section=Section.SATISFACTION,
        unit=Unit.RATE, direction=Direction.UP,
        formula="positive answers / answers; positive = 4-5 on a 1-5 scale, 7-10 on a 1-10 "
        "scale (settings metrics.csat_positive_min_5 / csat_positive_min_10)",
        tables=("survey_responses",),
        edge_cases="Another scale uses the 1-5 threshold in proportion: positive when "
        "score / scale_max >= csat_positive_min_5 / 5 (6-7 of 7 by default). One article "
        "counts 8-10 as positive: set csat_positive_min_10 = 8.",
        extra_columns=("positive",), empty_reason="no CSAT answers in the period")
def csat(ctx: MetricContext) -> ir.Table:
    """Customer satisfaction score: the share of the period's CSAT answers that are positive
    (4 or 5 on a 1-5 scale, 7 to 10 on a 1-10 scale by default; both thresholds are settings).
    A fraction rendered as a percentage; higher is better. n is the number of answers, the
    interval is the 95 % Wilson score interval, and ``positive`` the positive answers."""
    r = responses(ctx, "csat")
    r = r.mutate(positive=csat_positive(ctx, r))
    r = ctx.segment(ctx.in_period(r, "responded_at"))
    g = r.group_by(ctx.group_keys).aggregate(n=r.count(), pos=r.positive.sum())
    low, high = wilson_interval(g.pos, g.n)
    return finish(ctx, g, value=ratio(g.pos, g.n), n=g.n, ci_low=low, ci_high=high,
                  positive=g.pos)


@metric("ces", title="Customer effort score (CES)", section=Section.SATISFACTION,
        unit=Unit.SCORE, direction=Direction.UP,
        formula="mean answer on the 1-7 'how easy was it' scale; easy_share = answers >= "
        "metrics.ces_easy_min (5) / answers",
        tables=("survey_responses",),
        edge_cases="Answers on another scale are mapped linearly onto 1-7 "
        "(1 + (score - 1) x 6 / (scale_max - 1)), higher still meaning easier. No interval "
        "below two answers.",
        extra_columns=("easy_share",), empty_reason="no CES answers in the period")
def ces(ctx: MetricContext) -> ir.Table:
    """Customer effort score: the mean answer to "how easy was it" on a 1-7 scale, where
    higher means easier (so higher is better), with ``easy_share``, the share of answers of 5
    or more (setting ces_easy_min). n is the number of answers; the interval is the 95 %
    normal interval of the mean (mean +/- 1.96 s / sqrt(n))."""
    r = responses(ctx, "ces")
    seven = ibis.ifelse(r.scale_top == 7, r.score,
                        1.0 + (r.score - 1.0) * 6.0 / ibis.greatest(r.scale_top - 1.0, 1.0))
    r = r.mutate(seven=seven)
    r = ctx.segment(ctx.in_period(r, "responded_at"))
    g = r.group_by(ctx.group_keys).aggregate(
        n=r.count(), mean=r.seven.mean(), std=r.seven.std(),
        easy=(r.seven >= ctx.options.ces_easy_min).sum())
    low, high = mean_interval(g.mean, g.std, g.n)
    return finish(ctx, g, value=g.mean, n=g.n, ci_low=low, ci_high=high,
                  easy_share=ratio(g.easy, g.n))


# -- ratings -------------------------------------------------------------------------------


def _ratings(ctx: MetricContext, survey: str) -> ir.Table:
    """Answers to ``survey`` with ``rating`` on the survey's usual scale (5 points)."""
    r = responses(ctx, survey)
    top = float(DEFAULT_SCALE_MAX[survey])
    return r.mutate(rating=ibis.ifelse(r.scale_top == top, r.score, r.score * top / r.scale_top))


def _lookback(ctx: MetricContext) -> ir.IntervalValue:
    """The length of ``LOOKBACK_PERIODS`` periods of the query's grain."""
    k = LOOKBACK_PERIODS
    return {
        "day": ibis.interval(days=k), "week": ibis.interval(days=7 * k),
        "month": ibis.interval(months=k), "quarter": ibis.interval(months=3 * k),
        "year": ibis.interval(years=k),
    }[ctx.grain.value]


@metric("employee_rating", title="Employee review rating", section=Section.SATISFACTION,
        unit=Unit.SCORE, direction=Direction.UP,
        formula="mean rating customers gave the employee in the period; change = that mean "
        "- the mean of the employee's ratings in the 4 periods before",
        tables=("survey_responses",),
        edge_cases="Reviews without an employee are left out. Ratings on another scale are "
        "rescaled to 1-5 (score x 5 / scale_max). change is empty when the employee had no "
        "rating in the 4 previous periods (data before the queried range counts).",
        extra_columns=("previous_mean", "previous_n", "change"),
        empty_reason="no reviews of this employee in the period", dimension="employee")
def employee_rating(ctx: MetricContext) -> ir.Table:
    """The mean rating customers gave each employee (support agent, CSM) in the period
    (survey ``employee_review``, on a 5-point scale; higher is better), with n, the 95 %
    interval of the mean, and the trend: ``previous_mean`` is the mean of all the employee's
    ratings in the 4 periods before this one (each rating weighs the same, whatever its
    period), ``previous_n`` their number, and ``change`` = this period's mean minus
    ``previous_mean``. A negative change is a decline worth flagging; compare it with the
    interval before acting on a handful of ratings. Query it weekly with ``--period week``."""
    r = _ratings(ctx, "employee_review")
    r = r.filter(r.employee.notnull())
    cur = ctx.segment(ctx.in_period(r, "responded_at"))
    g = cur.group_by(ctx.group_keys).aggregate(
        n=cur.count(), mean=cur.rating.mean(), std=cur.rating.std())
    p = ctx.periods
    windows = p.select(p.period_start, w_start=p.period_start - _lookback(ctx),
                       w_end=p.period_start)
    seg = ctx.segment(r.mutate(day=r.responded_at.cast("date")))
    before = windows.join(seg, [seg.day >= windows.w_start, seg.day < windows.w_end])
    prev = before.group_by(ctx.group_keys).aggregate(
        previous_mean=before.rating.mean(), previous_n=before.count())
    keys = ctx.group_keys
    j = g.left_join(prev, [g[k] == prev[k] for k in keys])
    j = j.select(*[j[k] for k in keys], j.n, j.mean, j.std, j.previous_mean,
                 previous_n=j.previous_n.fill_null(0))
    low, high = mean_interval(j.mean, j.std, j.n)
    return finish(ctx, j, value=j.mean, n=j.n, ci_low=low, ci_high=high,
                  previous_mean=j.previous_mean, previous_n=j.previous_n,
                  change=j.mean - j.previous_mean)


@metric("public_review_rating", title="Public review rating", section=Section.SATISFACTION,
        unit=Unit.SCORE, direction=Direction.UP,
        formula="mean rating of the published reviews of the location in the period; n = "
        "their count",
        tables=("survey_responses",), customer_level=False,
        edge_cases="Reviews without a location are grouped under '(none)'. Ratings on "
        "another scale are rescaled to 1-5 (score x 5 / scale_max).",
        empty_reason="no public reviews of this location in the period",
        dimension="location")
def public_review_rating(ctx: MetricContext) -> ir.Table:
    """The mean rating of published (local, public) reviews per location, on a 5-point scale
    (survey ``public_review``; higher is better); n is the number of reviews in the period
    and the interval the 95 % interval of the mean. Segment by region (--by region) to
    see it geographically by the reviewing customer's region."""
    r = _ratings(ctx, "public_review")
    r = ctx.segment(ctx.in_period(r, "responded_at"))
    g = r.group_by(ctx.group_keys).aggregate(
        n=r.count(), mean=r.rating.mean(), std=r.rating.std())
    low, high = mean_interval(g.mean, g.std, g.n)
    return finish(ctx, g, value=g.mean, n=g.n, ci_low=low, ci_high=high)


# -- referrals -----------------------------------------------------------------------------


def referral_events(ctx: MetricContext) -> ir.Table:
    """One row per introduction: ``customer_id`` (the referrer), ``referred`` (the customer
    or lead introduced) and ``day`` (the referred customer's start or the lead's creation).

    Sources: ``customers.referred_by`` and ``leads.referred_by``. A lead that became a
    customer who also names the referrer is one introduction, dated by its earliest day
    (the lead's creation). Self-referrals are ignored. Only referrers in scope count
    (``--customer`` and ``--where`` apply to the referrer, not to the referred).
    """
    def build() -> ir.Table:
        everyone = replace(ctx, customer=None, where=(), _cache={})
        c = everyone.table("customers")
        from_customers = c.filter(c.referred_by.notnull() & (c.referred_by != c.customer_id))
        from_customers = from_customers.select(
            customer_id=from_customers.referred_by, referred=from_customers.customer_id,
            day=from_customers.started_at.cast("date"))
        leads = everyone.table("leads")
        leads = leads.filter(leads.referred_by.notnull())
        referred = ibis.coalesce(leads.customer_id, ibis.literal("lead:") + leads.lead_id)
        from_leads = leads.select(customer_id=leads.referred_by, referred=referred,
                                  day=leads.created_at.cast("date"))
        from_leads = from_leads.filter(from_leads.customer_id != from_leads.referred)
        both = from_customers.union(from_leads)
        events = both.group_by(["customer_id", "referred"]).aggregate(day=both.day.min())
        scope = ctx.customers().select(scope_id=ctx.customers().customer_id)
        return events.semi_join(scope, events.customer_id == scope.scope_id)
    return ctx.cached("referral-events", build)


@metric("referrals", title="Referrals", section=Section.SATISFACTION, unit=Unit.COUNT,
        direction=Direction.UP,
        formula="introductions made by customers in the period; per_customer = that count / "
        "active customers",
        tables=("customers", "leads", "subscriptions", "orders"), ignores_later_facts=("leads",),
        edge_cases="An introduction is dated by the referred customer's start "
        "(customers.started_at) or the lead's creation (leads.created_at); a lead and the "
        "customer it became count once. Segments are the referrer's.",
        extra_columns=("per_customer", "referrers"), empty_value=0.0)
def referrals(ctx: MetricContext) -> ir.Table:
    """Referrals made: the number of new customers and leads that existing customers
    introduced in the period (``customers.referred_by``, ``leads.referred_by``), segmented by
    the referrer's attributes; higher is better. ``per_customer`` divides it by the active
    customers of the period (n; empty when there are none) and ``referrers`` counts the
    distinct customers who made them. The articles' "number of referrals" per customer: use
    --customer for one account."""
    g = _counts_per_active(ctx, ctx.in_period(referral_events(ctx), "day"))
    return finish(ctx, g, value=g.events, n=g.active,
                  per_customer=ratio(g.events, g.active), referrers=g.actors)


@metric("introducer_share", title="Introducer share", section=Section.SATISFACTION,
        unit=Unit.RATE, direction=Direction.UP,
        formula="active customers who have introduced at least one customer or lead (up to "
        "the period's end) / active customers",
        tables=("customers", "leads", "subscriptions", "orders"), ignores_later_facts=("leads",),
        edge_cases="Cumulative: an introduction in any earlier period counts; in_period_share "
        "counts only introductions made in the period.",
        extra_columns=("in_period_share",), empty_reason=NO_ACTIVE)
def introducer_share(ctx: MetricContext) -> ir.Table:
    """Willingness to introduce: the share of the period's active customers that have made
    at least one introduction (a referred customer or lead) by the end of the period; higher
    is better. ``in_period_share`` is the share that made one in the period itself. n is the
    number of active customers (see active_customers: service or a paid order in the
    period)."""
    ev = referral_events(ctx)
    first = ev.group_by(first_id=ev.customer_id).aggregate(first_day=ev.day.min())
    recent = ctx.in_period(ev, "day")
    recent = recent.select(r_start=recent.period_start, r_id=recent.customer_id).distinct()
    a = active_customers(ctx)
    a = a.left_join(first, a.customer_id == first.first_id)
    a = a.left_join(recent, [a.period_start == recent.r_start, a.customer_id == recent.r_id])
    a = a.mutate(ever=a.first_day.notnull() & (a.first_day < a.period_end),
                 now=a.r_id.notnull())
    a = ctx.segment(a.select("period_start", "customer_id", "ever", "now"))
    g = a.group_by(ctx.group_keys).aggregate(n=a.count(), ever=a.ever.sum(), now=a.now.sum())
    return finish(ctx, g, value=ratio(g.ever, g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_ACTIVE),
                  in_period_share=ratio(g.now, g.n))


def channel_group(channel: ir.StringValue, referred_by: ir.StringValue) -> ir.StringValue:
    """'referral', 'organic', 'paid' (paid and outbound: every other channel) or 'unknown'
    (no channel and no referrer) for a customer's acquisition channel."""
    name = channel.strip().lower().re_replace(r"[\s-]+", "_")
    return ibis.cases(
        (referred_by.notnull(), "referral"),
        (name.isin(REFERRAL_CHANNELS), "referral"),
        (name.isin(ORGANIC_CHANNELS), "organic"),
        (channel.isnull() | (name == ""), "unknown"),
        else_="paid",
    )


def _new_by_channel(ctx: MetricContext, group: str) -> ir.Table:
    keys = ctx.group_keys
    c = ctx.customers()
    c = c.mutate(grp=channel_group(c.acquisition_channel, c.referred_by))
    groups = c.select(g_id=c.customer_id, g_grp=c.grp)
    new = ctx.segment(ctx.in_period(c.select("customer_id", "started_at", "grp"),
                                    "started_at"))
    zero = ibis.literal(0.0, "float64")
    counts = new.select(*keys, grp=new.grp, is_new=ibis.literal(1, "int64"), mrr=zero)
    ch = customer_changes(ctx)
    ch = ch.filter(ch.movement == "new")
    ch = ch.left_join(groups, ch.customer_id == groups.g_id)
    money = ch.select(*[ch[k] for k in keys], grp=ch.g_grp.fill_null("unknown"),
                      is_new=ibis.literal(0, "int64"), mrr=ch.mrr_cur.cast("float64"))
    both = counts.union(money)
    g = both.group_by(keys).aggregate(
        n=both.is_new.sum(),
        mine=both.is_new.sum(where=both.grp == group),
        warm=both.is_new.sum(where=both.grp.isin(["referral", "organic"])),
        cold=both.is_new.sum(where=both.grp == "paid"),
        unknown=both.is_new.sum(where=both.grp == "unknown"),
        mrr=both.mrr.sum(),
        mrr_mine=both.mrr.sum(where=both.grp == group),
    )
    return finish(ctx, g, value=ratio(g.mine.fill_null(0), g.n), n=g.n,
                  null_reason=reason_if(g.n == 0, NO_NEW),
                  mrr_share=ratio(g.mrr_mine.fill_null(0.0), g.mrr),
                  warm_share=ratio(g.warm.fill_null(0), g.n),
                  cold_share=ratio(g.cold.fill_null(0), g.n),
                  unknown_share=ratio(g.unknown.fill_null(0), g.n))


_CHANNEL_GROUPS_DOC = (
    "Channel groups ('warm vs cold'): referral = referred_by is set, or acquisition_channel "
    "is referral (referrals, referred, customer_referral, refer_a_friend); organic = organic, "
    "organic_search, organic_social, seo, content, blog, direct, word_of_mouth, community, "
    "inbound, review_site(s), press; paid/outbound = every other channel (paid_search, "
    "outbound, partner, events...); unknown = no channel. Warm = referral + organic, cold = "
    "paid/outbound. Channel names are compared in lower case with spaces and dashes as '_'."
)


@metric("referral_share_of_new", title="Referral share of new customers",
        section=Section.SATISFACTION, unit=Unit.RATE, direction=Direction.UP,
        formula="new customers from referrals / new customers; mrr_share = new MRR from "
        "referred customers / new MRR",
        tables=("customers", "subscriptions", "exchange_rates"),
        edge_cases="New customer = customers.started_at in the period; new MRR = the mrr_new "
        "movement (first paid MRR), so the two can fall in different periods. "
        + _CHANNEL_GROUPS_DOC,
        extra_columns=("mrr_share", "warm_share", "cold_share", "unknown_share"),
        empty_reason=NO_NEW)
def referral_share_of_new(ctx: MetricContext) -> ir.Table:
    """How much new business comes from warm referrals: the share of the period's new
    customers (customers.started_at in the period; n) that were referred, and in
    ``mrr_share`` the share of new MRR (the mrr_new movement) they brought. ``warm_share``
    (referral + organic), ``cold_share`` (paid and outbound) and ``unknown_share`` (no
    channel) split all new customers and sum to 1. Referral = referred_by set or a referral
    acquisition_channel; organic = organic, seo, content, direct, word_of_mouth...; paid /
    outbound = every other channel."""
    return _new_by_channel(ctx, "referral")


@metric("organic_share_of_new", title="Organic share of new customers",
        section=Section.SATISFACTION, unit=Unit.RATE, direction=Direction.UP,
        formula="new customers from organic channels / new customers; mrr_share = their new "
        "MRR / new MRR",
        tables=("customers", "subscriptions", "exchange_rates"),
        edge_cases="New customer = customers.started_at in the period; new MRR = the mrr_new "
        "movement. A referred customer is a referral, not organic, whatever its channel. "
        + _CHANNEL_GROUPS_DOC,
        extra_columns=("mrr_share", "warm_share", "cold_share", "unknown_share"),
        empty_reason=NO_NEW)
def organic_share_of_new(ctx: MetricContext) -> ir.Table:
    """Growth without paid or outbound effort: the share of the period's new customers (n)
    whose acquisition channel is organic (organic, seo, content, direct, word_of_mouth...,
    not referred), and in ``mrr_share`` their share of new MRR. ``warm_share`` (referral +
    organic), ``cold_share`` (paid and outbound: every other channel) and ``unknown_share``
    (no channel) split all new customers and sum to 1."""
    return _new_by_channel(ctx, "organic")


# -- co-innovation -------------------------------------------------------------------------


@metric("ideas_submitted", title="Ideas submitted", section=Section.SATISFACTION,
        unit=Unit.COUNT, direction=Direction.UP,
        formula="feedback of kind idea or feature_request submitted in the period; "
        "per_customer = that count / active customers",
        tables=("feedback", "subscriptions", "orders"),
        edge_cases="Complaints and praise are not ideas. Ideas from customers who are not "
        "active in the period still count.",
        extra_columns=("per_customer", "submitters"), empty_value=0.0)
def ideas_submitted(ctx: MetricContext) -> ir.Table:
    """Co-innovation: the ideas and feature requests (co-development proposals) customers
    submitted in the period (feedback kind idea or feature_request, by submitted_at); higher
    is better. ``per_customer`` divides the count by the period's active customers (n; empty
    when there are none) and ``submitters`` counts the distinct customers who submitted."""
    f = ctx.table("feedback")
    f = f.filter(f.kind.isin(["idea", "feature_request"])).select("customer_id", "submitted_at")
    g = _counts_per_active(ctx, ctx.in_period(f, "submitted_at"))
    return finish(ctx, g, value=g.events, n=g.active,
                  per_customer=ratio(g.events, g.active), submitters=g.actors)
