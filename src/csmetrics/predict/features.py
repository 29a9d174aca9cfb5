"""Churn features of every paying customer, as of a cutoff date, from every table.

Each feature reads only rows known on the cutoff: tables come from a ``MetricContext`` with
``as_of=cutoff``, which drops rows dated after it and blanks later facts (a subscription's end,
a ticket's resolution) that were not known yet. Every aggregate runs in the warehouse (Ibis);
only one small row per customer comes back. Windows end on the cutoff day (inclusive):
"30d" = the 30 days up to and including the cutoff.

``FEATURES`` (name -> meaning) is the contract a saved model checks; ``TABLE_COLUMNS`` lists
the canonical columns they read. Health components enter through the same signals the
scorecard uses (usage trend, breadth, seat utilisation, support load and FCR, NPS/CSAT,
CSM sentiment, payment problems), and the health score itself is one more feature
(``health_score``) when a scorecard is given.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.metrics.context import MetricContext, calendar_day
from csmetrics.metrics.money import customer_mrr_on, subscription_lines
from csmetrics.metrics.periods import Grain
from csmetrics.metrics.policy import Policy
from csmetrics.schema.tables import DEFAULT_SCALE_MAX

__all__ = ["FEATURES", "HEALTH", "MEANINGS", "TABLE_COLUMNS", "features_as_of",
           "feature_matrix"]

#: Feature name -> what it means, in words used by explanations.
FEATURES: dict[str, str] = {
    "mrr": "MRR",
    "mrr_change_90d": "MRR change over the last 90 days (fraction)",
    "annual_contract": "billed yearly (1) or not (0)",
    "plan_tier": "plan tier (1 = the cheapest plan on the cutoff, by mean MRR per customer)",
    "tenure_days": "days since the customer started",
    "seats": "licensed seats",
    "events_30d": "product events in the last 30 days",
    "usage_trend": "product events in the last 30 days vs the 30 before (fraction change)",
    "active_users_30d": "active users in the last 30 days",
    "seat_utilisation": "active users / licensed seats",
    "feature_breadth_30d": "distinct features used in the last 30 days",
    "days_since_last_event": "days since the last product event",
    "tickets_90d": "support tickets in the last 90 days",
    "fcr_rate_90d": "share of resolved tickets resolved at first contact (90 days)",
    "open_tickets": "tickets still open",
    "last_nps": "latest NPS answer (0-10)",
    "csat_180d": "mean CSAT over 180 days (fraction of the scale)",
    "activities_90d": "CSM touches in the last 90 days",
    "negative_share_90d": "share of CSM touches with negative sentiment (90 days)",
    "days_since_last_touch": "days since the last CSM touch",
    "past_due": "a subscription payment is overdue (1) or not (0)",
    "failed_orders_180d": "failed order payments in the last 180 days",
    "complaints_180d": "complaints submitted in the last 180 days",
}
#: The health score (0-100, csmetrics.health) as of the cutoff: a feature when a scorecard is
#: given, so the model can learn how much the team's own score says beyond the raw signals.
HEALTH = "health_score"
MEANINGS: dict[str, str] = {**FEATURES, HEALTH: "health score (0-100)"}
#: The canonical columns the features read: a saved model refuses a warehouse without them.
TABLE_COLUMNS: dict[str, list[str]] = {
    "customers": ["customer_id", "started_at", "seats"],
    "subscriptions": ["customer_id", "amount", "billing_interval", "start_date", "end_date",
                      "past_due_since"],
    "usage_events": ["customer_id", "user_id", "occurred_at", "event"],
    "tickets": ["customer_id", "opened_at", "resolved_at", "contacts"],
    "survey_responses": ["customer_id", "survey", "score", "responded_at", "scale_max"],
    "activities": ["customer_id", "occurred_at", "sentiment"],
    "orders": ["customer_id", "ordered_at", "status"],
    "feedback": ["customer_id", "submitted_at", "kind"],
}


def features_as_of(con: BaseBackend, settings: Settings, cutoff: date,
                   scorecard: Any = None) -> pd.DataFrame:
    """One row per customer paying on ``cutoff``: ``customer_id``, ``cutoff`` and every
    feature in ``FEATURES`` (NaN where there is nothing to measure, e.g. no NPS answer), plus
    ``health_score`` when a health ``scorecard`` is given (scored from the data known on
    the cutoff by ``csmetrics.health``)."""
    ctx = MetricContext(con=con, grain=Grain.DAY, starts=[cutoff],
                        policy=Policy.from_settings(settings.policy), options=settings.metrics,
                        currency=settings.workspace.currency, as_of=cutoff, known_until=cutoff)
    try:
        frame = _build(con, ctx, cutoff)
    finally:
        ctx.close()
    if scorecard is not None:
        from csmetrics.health import score_accounts

        scores = score_accounts(con, settings, scorecard, cutoff).scores
        health = dict(zip(scores["customer_id"], scores["score"], strict=False))
        frame[HEALTH] = frame["customer_id"].map(health).astype(float)
    return frame


def _build(con: BaseBackend, ctx: MetricContext, cutoff: date) -> pd.DataFrame:
    c = ibis.literal(cutoff)

    def since(days: int) -> ir.DateValue:
        return ibis.literal(cutoff - timedelta(days=days - 1))

    snap = customer_mrr_on(ctx, ibis.memtable({"day": [cutoff, cutoff - timedelta(days=90)]}))
    mrr = con.execute(snap)
    now = mrr[pd.to_datetime(mrr["day"]).dt.date == cutoff]
    now = now[now["mrr"].astype(float) > 0]
    before = mrr[pd.to_datetime(mrr["day"]).dt.date != cutoff].set_index("customer_id")["mrr"]
    base = pd.DataFrame({"customer_id": now["customer_id"].to_numpy(),
                         "mrr": now["mrr"].astype(float).to_numpy()})
    prior = base["customer_id"].map(before).astype(float)
    base["mrr_change_90d"] = np.where(prior > 0, base["mrr"] / prior - 1, np.nan)

    parts: list[ir.Table] = []
    lines = subscription_lines(ctx)
    live = lines.filter((lines.start <= c) & (lines.end.isnull() | (lines.end > c)))
    s = ctx.table("subscriptions")
    due = s.filter((s.start_date <= c) & (s.end_date.isnull() | (s.end_date > c)))
    parts.append(live.group_by("customer_id").aggregate(
        annual_contract=(live.billing_interval.argmax(live.monthly) == "year").cast("int64")))
    parts.append(due.group_by("customer_id").aggregate(
        past_due=due.past_due_since.notnull().any().cast("int64")))
    # the plan, as an ordinal both models can use: plans ranked by what a customer on them
    # pays on average on the cutoff
    main = live.group_by("customer_id").aggregate(plan=live.plan.argmax(live.monthly),
                                                  paid=live.monthly.sum())
    tiers = main.group_by("plan").aggregate(price=main.paid.mean())
    tiers = tiers.mutate(plan_tier=ibis.dense_rank().over(ibis.window(order_by=tiers.price)) + 1)
    parts.append(main.join(tiers, "plan").select("customer_id", "plan_tier"))

    cu = ctx.table("customers")
    parts.append(cu.select("customer_id", tenure_days=c.delta(cu.started_at, unit="day"),
                           seats=cu.seats))

    u = ctx.table("usage_events")
    u = u.mutate(d=calendar_day(u.occurred_at))
    recent = u.d >= since(30)
    previous = (u.d >= since(60)) & (u.d < since(30))
    parts.append(u.group_by("customer_id").aggregate(
        events_30d=recent.sum(), events_prev_30d=previous.sum(),
        active_users_30d=u.user_id.nunique(where=recent),
        feature_breadth_30d=u.event.nunique(where=recent),
        days_since_last_event=c.delta(u.d.max(), unit="day"),
    ))

    t = ctx.table("tickets")
    t90 = t.filter(calendar_day(t.opened_at) >= since(90))
    resolved = t90.resolved_at.notnull()
    parts.append(t90.group_by("customer_id").aggregate(
        tickets_90d=t90.count(),
        fcr_rate_90d=(resolved & (t90.contacts == 1)).sum().cast("float64")
        / resolved.sum().nullif(0).cast("float64"),
    ))
    parts.append(t.group_by("customer_id").aggregate(open_tickets=t.resolved_at.isnull().sum()))

    r = ctx.table("survey_responses")
    nps = r.filter(r.survey == "nps")
    parts.append(nps.group_by("customer_id").aggregate(
        last_nps=nps.score.argmax(nps.responded_at)))
    csat = r.filter((r.survey == "csat") & (calendar_day(r.responded_at) >= since(180)))
    scale = csat.scale_max.fill_null(DEFAULT_SCALE_MAX["csat"]).cast("float64")
    parts.append(csat.group_by("customer_id").aggregate(csat_180d=(csat.score / scale).mean()))

    a = ctx.table("activities")
    a = a.mutate(d=calendar_day(a.occurred_at))
    a90 = a.d >= since(90)
    parts.append(a.group_by("customer_id").aggregate(
        activities_90d=a90.sum(),
        negative_share_90d=(a90 & (a.sentiment == "negative")).sum().cast("float64")
        / a90.sum().nullif(0).cast("float64"),
        days_since_last_touch=c.delta(a.d.max(), unit="day"),
    ))

    o = ctx.table("orders")
    o = o.filter((o.status == "failed") & (calendar_day(o.ordered_at) >= since(180)))
    parts.append(o.group_by("customer_id").aggregate(failed_orders_180d=o.count()))
    f = ctx.table("feedback")
    f = f.filter((f.kind == "complaint") & (calendar_day(f.submitted_at) >= since(180)))
    parts.append(f.group_by("customer_id").aggregate(complaints_180d=f.count()))

    frame = base
    for part in parts:
        frame = frame.merge(con.execute(part), on="customer_id", how="left")
    counts = ["events_30d", "active_users_30d", "feature_breadth_30d", "tickets_90d",
              "open_tickets", "activities_90d", "failed_orders_180d", "complaints_180d",
              "past_due", "annual_contract", "events_prev_30d"]
    for column in counts:
        frame[column] = frame[column].fillna(0)
    frame["usage_trend"] = np.where(frame["events_prev_30d"] > 0,
                                    frame["events_30d"] / frame["events_prev_30d"].where(
                                        frame["events_prev_30d"] > 0, 1) - 1, np.nan)
    seats = frame["seats"].astype(float)
    frame["seat_utilisation"] = np.where(seats > 0, frame["active_users_30d"]
                                         / seats.where(seats > 0, 1), np.nan)
    frame.insert(1, "cutoff", cutoff)
    out = frame[["customer_id", "cutoff", *FEATURES]].copy()
    out[list(FEATURES)] = out[list(FEATURES)].astype(float)
    return out.sort_values("customer_id", ignore_index=True)


def feature_matrix(con: BaseBackend, settings: Settings, cutoffs: list[date],
                   scorecard: Any = None) -> pd.DataFrame:
    """``features_as_of`` for every cutoff, stacked."""
    frames = [features_as_of(con, settings, cutoff, scorecard) for cutoff in cutoffs]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["customer_id", "cutoff", *FEATURES])
