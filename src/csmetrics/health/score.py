"""Scoring: every paying account's components, points, score and band as of a date.

Raw values come from set-based Ibis queries over the canonical tables as they were known on
the scoring date (``MetricContext(as_of=...)``), one query per signal for all accounts; the
mapping to points is vectorised. An account is scored on a date when its MRR that day is
above zero (a churned or not yet paying account has no health to manage).

Score = sum over components of points x weight / sum of the weights of the components that
have points (a component whose data is missing and whose policy is ``"skip"`` drops out, and
the others share its weight). Coverage = sum of the scorecard weights (as shares of their
total) of the components that have data for the account, whatever their ``missing`` rule:
0.7 when components weighing 40 and 30 of 40 + 30 + 30 have data. Band: ``insufficient``
when the coverage is under ``bands.min_coverage``; else red under ``bands.red_below``, green
from ``bands.green_from``, yellow in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.config import Settings
from csmetrics.enrich.sentiment import recent_sentiment
from csmetrics.health.scorecard import Component, Scorecard
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.context import MetricContext, calendar_day
from csmetrics.metrics.money import customer_mrr_on
from csmetrics.metrics.periods import Grain, period_start
from csmetrics.metrics.policy import Policy
from csmetrics.store.engines import largest_by

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")

NEUTRAL = 50.0


@dataclass(frozen=True)
class HealthScores:
    """Scores of every paying account on one date.

    ``scores``: customer_id, name, owner, mrr, score, coverage (share of the scorecard's
    weight backed by data, 0-1), band (one row per account).
    ``components``: customer_id, component, signal, raw, points, weight (share of the
    scorecard), effective_weight (share after skipped components), contribution (points x
    effective weight: the points it adds to the score), lost (100 - points, x effective
    weight: how much it pulls the score down), missing (no data for it).
    """

    as_of: date
    scores: pd.DataFrame
    components: pd.DataFrame


def context(con: BaseBackend, settings: Settings, as_of: date) -> MetricContext:
    """A metric context that sees only what was known on ``as_of``."""
    return MetricContext(
        con=con, grain=Grain.MONTH, starts=[period_start(as_of, Grain.MONTH)],
        policy=Policy.from_settings(settings.policy), options=settings.metrics,
        currency=settings.workspace.currency, as_of=as_of, known_until=as_of,
    )


def paying_accounts(ctx: MetricContext, day: date) -> ir.Table:
    """``customer_id``, ``mrr`` of every customer with MRR above zero on ``day``."""
    days = ibis.memtable({"day": [day]}).mutate(day=ibis._.day.cast("date"))
    m = customer_mrr_on(ctx, days)
    return m.filter(m.mrr > 0).select("customer_id", mrr=m.mrr.cast("float64"))


def score_accounts(con: BaseBackend, settings: Settings, scorecard: Scorecard,
                   as_of: date) -> HealthScores:
    """Every paying account's health as of ``as_of``, from the data known then."""
    ctx = context(con, settings, as_of)
    try:
        accounts = paying_accounts(ctx, as_of)
        c = ctx.table("customers")
        accounts = accounts.left_join(c.select("customer_id", "name", "owner"), "customer_id")
        frame = con.execute(accounts.select("customer_id", "name", "owner", "mrr"))
        frame = frame.sort_values("customer_id", kind="stable").reset_index(drop=True)
        raws = {name: _raw(ctx, con, settings, comp, as_of, frame["customer_id"])
                for name, comp in scorecard.components.items()}
    finally:
        ctx.close()
    return combine(as_of, frame, raws, scorecard)


def combine(as_of: date, accounts: pd.DataFrame, raws: dict[str, pd.Series],
            scorecard: Scorecard) -> HealthScores:
    """Points, weights, score and band from the raw values (indexed like ``accounts``)."""
    shares = scorecard.weights()
    parts = []
    for name, comp in scorecard.components.items():
        raw = raws[name].astype("float64").to_numpy()
        points = to_points(comp, raw)
        parts.append(pd.DataFrame({
            "customer_id": accounts["customer_id"].to_numpy(), "component": name,
            "signal": comp.signal, "raw": raw, "points": points, "weight": shares[name],
            "missing": np.isnan(raw),
        }))
    long = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    present = long["weight"].where(long["points"].notna(), 0.0)
    total = present.groupby(long["customer_id"]).transform("sum")
    long["effective_weight"] = np.where(total > 0, present / total.where(total > 0, 1.0), 0.0)
    long["contribution"] = long["points"].fillna(0.0) * long["effective_weight"]
    long["lost"] = (100.0 - long["points"].fillna(100.0)) * long["effective_weight"]
    long["_covered"] = long["weight"].where(~long["missing"], 0.0)
    summed = long.groupby("customer_id", sort=False).agg(
        score=("contribution", "sum"), weight=("effective_weight", "sum"),
        coverage=("_covered", "sum"))
    long = long.drop(columns="_covered")
    scores = accounts.merge(summed, left_on="customer_id", right_index=True, how="left")
    scores["score"] = scores["score"].where(scores["weight"] > 0)
    # a sum of shares: 0.30000000000000004 is 0.3
    scores["coverage"] = scores["coverage"].fillna(0.0).clip(upper=1.0).round(9)
    scores = scores.drop(columns="weight")
    scores["band"] = [scorecard.bands.band(s, c)
                      for s, c in zip(scores["score"], scores["coverage"], strict=True)]
    return HealthScores(as_of, scores.reset_index(drop=True), long)


def to_points(comp: Component, raw: np.ndarray) -> np.ndarray:
    """0-100 points for each raw value (NaN = missing, treated by ``comp.missing``)."""
    if comp.thresholds is not None:
        xs = np.array([x for x, _ in comp.thresholds])
        ps = np.array([p for _, p in comp.thresholds], dtype="float64")
        index = np.searchsorted(xs, np.nan_to_num(raw, nan=-np.inf), side="right") - 1
        points = np.where(index < 0, float(comp.below), ps[np.clip(index, 0, len(ps) - 1)])
    else:
        assert comp.linear is not None
        xs = np.array([x for x, _ in comp.linear])
        ps = np.array([p for _, p in comp.linear], dtype="float64")
        points = np.interp(np.nan_to_num(raw, nan=0.0), xs, ps)
    fill = np.nan if comp.missing == "skip" else NEUTRAL if comp.missing == "neutral" \
        else float(comp.missing)
    return np.where(np.isnan(raw), fill, points)


# -- raw values --------------------------------------------------------------------------


def _raw(ctx: MetricContext, con: BaseBackend, settings: Settings, comp: Component,
         as_of: date, ids: pd.Series) -> pd.Series:
    """The component's raw value for every account in ``ids`` (NaN = no data)."""
    return signal_values(ctx, con, settings, comp.signal, comp.window(), as_of, ids)


def signal_values(ctx: MetricContext, con: BaseBackend, settings: Settings, signal: str,
                  window: int | None, as_of: date, ids: pd.Series) -> pd.Series:
    """A signal's raw value (a built-in signal over ``window`` days, or ``metric:<name>``
    for the month containing ``as_of``) for every account in ``ids``; NaN = no data."""
    if signal.startswith("metric:"):
        values = _metric(con, settings, signal.removeprefix("metric:"), as_of)
    else:
        build, zero_when = BUILDERS[signal]
        table = build(ctx, as_of, window)
        values = con.execute(table.select("customer_id", raw=table.raw.cast("float64")))
        if zero_when and any(_has_rows(ctx, con, name) for name in zero_when):
            # the data exists, the account just has none of it: that is a zero, not a gap
            values = pd.merge(ids.to_frame(), values, on="customer_id", how="left")
            values["raw"] = values["raw"].fillna(0.0)
    lookup = values.drop_duplicates("customer_id").set_index("customer_id")["raw"]
    return ids.map(lookup).astype("float64").reset_index(drop=True)


def _has_rows(ctx: MetricContext, con: BaseBackend, table: str) -> bool:
    return bool(con.execute(ctx.table(table).count()) > 0)


def _metric(con: BaseBackend, settings: Settings, name: str, as_of: date) -> pd.DataFrame:
    """A registry metric per customer for the month that contains ``as_of``."""
    month = period_start(as_of, Grain.MONTH)
    frame = compute(con, settings, MetricRequest.create(
        name, period="month", start=month, end=as_of, by="customer_id", as_of=as_of))
    frame = frame[frame["period_start"] == month]
    return frame.rename(columns={"value": "raw"})[["customer_id", "raw"]]


def _since(as_of: date, days: int) -> ir.Value:
    """The first day of a window of ``days`` days that ends on ``as_of`` (inclusive)."""
    return ibis.literal(as_of - timedelta(days=days - 1))


def usage_trend(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    w = window or 60
    u = ctx.table("usage_events")
    d = calendar_day(u.occurred_at)
    q = u.quantity.cast("float64").fill_null(1.0)
    cur = q.sum(where=d >= _since(as_of, w))
    prev = q.sum(where=(d >= _since(as_of, 2 * w)) & (d < _since(as_of, w)))
    agg = u.group_by("customer_id").aggregate(cur=cur.fill_null(0.0), prev=prev)
    return agg.select("customer_id", raw=ibis.ifelse(agg.prev > 0, agg.cur / agg.prev - 1.0,
                                                     ibis.null("float64")))


def usage_volume(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    u = ctx.table("usage_events")
    recent = calendar_day(u.occurred_at) >= _since(as_of, window or 30)
    q = u.quantity.cast("float64").fill_null(1.0)
    return u.group_by("customer_id").aggregate(raw=q.sum(where=recent).fill_null(0.0))


def active_users(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    u = ctx.table("usage_events")
    recent = calendar_day(u.occurred_at) >= _since(as_of, window or 30)
    return u.group_by("customer_id").aggregate(raw=u.user_id.nunique(where=recent))


def seat_utilisation(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    users = active_users(ctx, as_of, window)
    c = ctx.table("customers")
    c = c.filter(c.seats > 0)
    j = users.join(c.select("customer_id", "seats"), "customer_id")
    return j.select("customer_id", raw=j.raw.cast("float64") / j.seats.cast("float64"))


def feature_breadth(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    u = ctx.table("usage_events")
    recent = calendar_day(u.occurred_at) >= _since(as_of, window or 90)
    features = u.filter(recent).event.nunique().as_scalar()
    per = u.group_by("customer_id").aggregate(used=u.event.nunique(where=recent))
    return per.select("customer_id", raw=ibis.ifelse(
        features > 0, per.used.cast("float64") / features.cast("float64"), ibis.null("float64")))


def support_load(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    t = ctx.table("tickets")
    t = t.filter(calendar_day(t.opened_at) >= _since(as_of, window or 90))
    return t.group_by("customer_id").aggregate(raw=t.count())


def first_contact_resolution(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    t = ctx.table("tickets")
    t = t.filter(t.resolved_at.notnull() & t.contacts.notnull()
                 & (calendar_day(t.resolved_at) >= _since(as_of, window or 180)))
    return t.group_by("customer_id").aggregate(
        raw=(t.contacts == 1).cast("float64").mean())


def _latest_survey(ctx: MetricContext, survey: str, scale: float) -> ir.Table:
    s = ctx.table("survey_responses")
    s = s.filter(s.survey == survey)
    normalised = s.score.cast("float64") * scale / s.scale_max.cast("float64").fill_null(scale)
    s = s.mutate(norm=normalised)
    return s.group_by("customer_id").aggregate(raw=largest_by(ctx.con, s.norm, s.responded_at))


def nps_latest(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    return _latest_survey(ctx, "nps", 10.0)


def csat_latest(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    return _latest_survey(ctx, "csat", 5.0)


def csm_sentiment(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    a = ctx.table("activities")
    a = a.filter(a.sentiment.notnull())
    value = a.sentiment.cases(("positive", 1.0), ("neutral", 0.0), ("negative", -1.0))
    a = a.mutate(value=value)
    return a.group_by("customer_id").aggregate(raw=largest_by(ctx.con, a.value, a.occurred_at))


def payment_problems(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    o = ctx.table("orders")
    o = o.filter(o.status.isin(["failed", "refunded"])
                 & (calendar_day(o.ordered_at) >= _since(as_of, window or 180)))
    bad = o.group_by("customer_id").aggregate(n=o.count().cast("float64"))
    s = ctx.table("subscriptions")
    s = s.filter(s.past_due_since.notnull()
                 & (s.end_date.isnull() | (s.end_date > ibis.literal(as_of))))
    due = s.select("customer_id").distinct().mutate(n=ibis.literal(1.0))
    both = bad.union(due)
    return both.group_by("customer_id").aggregate(raw=both.n.sum())


def renewal_history(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    s = ctx.table("subscriptions")
    ended = s.filter(s.end_date.notnull() & (s.end_date <= ibis.literal(as_of)))
    nxt = s.select(n_cid=s.customer_id, n_sid=s.subscription_id, n_start=s.start_date)
    grace = ibis.interval(days=window or 30)
    j = ended.left_join(nxt, [ended.customer_id == nxt.n_cid,
                              ended.subscription_id != nxt.n_sid,
                              nxt.n_start >= ended.end_date - grace,
                              nxt.n_start <= ended.end_date + grace])
    per_sub = j.group_by(["customer_id", "subscription_id"]).aggregate(
        renewed=j.n_sid.notnull().any())
    return per_sub.group_by("customer_id").aggregate(
        raw=per_sub.renewed.cast("float64").mean())


def csm_engagement(ctx: MetricContext, as_of: date, window: int | None) -> ir.Table:
    a = ctx.table("activities")
    a = a.filter(calendar_day(a.occurred_at) >= _since(as_of, window or 90))
    return a.group_by("customer_id").aggregate(raw=a.count())


#: signal -> (builder, tables whose presence turns "no rows for the account" into 0)
BUILDERS = {
    "usage_trend": (usage_trend, ()),
    "active_users": (active_users, ()),
    "usage_volume": (usage_volume, ("usage_events",)),
    "seat_utilisation": (seat_utilisation, ()),
    "feature_breadth": (feature_breadth, ()),
    "support_load": (support_load, ("tickets",)),
    "first_contact_resolution": (first_contact_resolution, ()),
    "nps_latest": (nps_latest, ()),
    "csat_latest": (csat_latest, ()),
    "csm_sentiment": (csm_sentiment, ()),
    "payment_problems": (payment_problems, ("orders", "subscriptions")),
    "renewal_history": (renewal_history, ()),
    "csm_engagement": (csm_engagement, ("activities",)),
    "comment_sentiment": (recent_sentiment, ()),
}
