"""The customers behind a figure: the rows a metric adds up, listed one per customer.

Each list runs the same per-customer expression its metric aggregates
(``revenue.movement_customers``, ``revenue.churned_customers``, ``cohorts.cohort_cells``), over
a context built the way ``engine.compute`` builds one for a single period, so a list's count
and sum equal the figure the metric reports for that period.

``subscription_mrr`` lists the subscriptions in force on a day with their MRR, normalised and
converted exactly as the MRR metric does it (``money.amounts_on``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import ibis
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.cohorts import cohort_cells, cohort_context
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.engine import check_segments, data_end, workspace_today
from csmetrics.metrics.money import amounts_on, check_rates
from csmetrics.metrics.periods import Calendar, Grain, period_start
from csmetrics.metrics.policy import Policy
from csmetrics.metrics.revenue import MOVEMENTS, churned_customers, movement_customers

__all__ = ["churn_list", "cohort_list", "movement_list", "period_context",
           "subscription_mrr"]

Where = Sequence[tuple[str, str]]


def period_context(con: BaseBackend, settings: Settings, grain: Grain, day: date,
                   where: Where = (), *, today: date | None = None,
                   customer: str | None = None) -> MetricContext:
    """The context ``compute`` would use for the one period of ``grain`` holding ``day``."""
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    check_segments(con, (), tuple(where))
    ctx = MetricContext(
        con=con, grain=grain, starts=[period_start(day, grain, calendar)], customer=customer,
        where=tuple(where), policy=Policy.from_settings(settings.policy),
        options=settings.metrics, currency=settings.workspace.currency,
        known_until=data_end(con, today or workspace_today(settings)),
    )
    check_rates(ctx, ("subscriptions", "exchange_rates"))
    return ctx


def _run(ctx: MetricContext, expr: ibis.Table, money: Sequence[str]) -> pd.DataFrame:
    try:
        frame = ctx.con.execute(expr.order_by("customer_id"))
    finally:
        ctx.close()
    for column in money:
        frame[column] = frame[column].astype("float64")
    return frame.reset_index(drop=True)


def movement_list(con: BaseBackend, settings: Settings, kind: str, grain: Grain, day: date,
                  where: Where = (), *, today: date | None = None) -> pd.DataFrame:
    """The customers behind ``mrr_<kind>`` in the period holding ``day``: ``customer_id``,
    ``mrr_prev``, ``mrr_cur`` and ``amount`` (the movement, positive); their count is the
    metric's n and their ``amount`` sums to its value."""
    if kind not in MOVEMENTS:
        raise UserInputError(f"MRR movement {kind!r} is not one of {', '.join(MOVEMENTS)}.")
    ctx = period_context(con, settings, grain, day, where, today=today)
    rows = movement_customers(ctx, kind).select("customer_id", "mrr_prev", "mrr_cur", "amount")
    return _run(ctx, rows, ("mrr_prev", "mrr_cur", "amount"))


def churn_list(con: BaseBackend, settings: Settings, grain: Grain, day: date,
               where: Where = (), *, today: date | None = None) -> pd.DataFrame:
    """The customers behind ``customer_churn_rate``'s ``churned`` in the period holding
    ``day``: ``customer_id``, ``mrr_prev``, ``mrr_cur`` and ``within`` (joined and left
    inside the period, counted only under the policy ``within_period_churn = "include"``)."""
    ctx = period_context(con, settings, grain, day, where, today=today)
    rows = churned_customers(ctx).select("customer_id", "mrr_prev", "mrr_cur", "within")
    return _run(ctx, rows, ("mrr_prev", "mrr_cur"))


def cohort_list(con: BaseBackend, settings: Settings, cohort: date, month: int,
                start: date | None = None, end: date | None = None, *,
                today: date | None = None) -> pd.DataFrame:
    """The members of the cohort that started paying in ``cohort``'s month, in the cohort
    table of ``start``..``end`` (``Workspace.cohorts``): ``customer_id``, ``mrr_0`` (MRR at
    the end of month 0), ``mrr`` (at the end of month ``month``) and ``paying``. Their count
    is the cell's cohort size, the paying ones over it its logo retention, and the sum of
    ``mrr`` over the sum of ``mrr_0`` its revenue retention."""
    if month < 0:
        raise UserInputError(f"Months since start must be 0 or more, not {month}.")
    ctx = cohort_context(con, settings, start, end, today=today)
    first = cohort.replace(day=1)
    cells = cohort_cells(ctx)
    chosen = cells.filter(cells.cohort == ibis.literal(first))
    at_0 = chosen.filter(chosen.month == 0).select(c0="customer_id", mrr_0="mrr")
    at_k = chosen.filter(chosen.month == month)
    rows = at_0.join(at_k, at_0.c0 == at_k.customer_id).select(
        "customer_id", "mrr_0", "mrr", paying=at_k.mrr > 0)
    return _run(ctx, rows, ("mrr_0", "mrr"))


def subscription_mrr(con: BaseBackend, settings: Settings, day: date, *,
                     customer: str | None = None, today: date | None = None) -> pd.DataFrame:
    """Every subscription in service on ``day`` (of one customer, or all): its id,
    ``customer_id``, ``plan``, ``billing_interval``, ``start`` (first day), ``end`` (first
    day without service, None = open), ``canceled_at``, ``quantity`` and ``mrr`` (normalised
    monthly, in the reporting currency, as the MRR metric counts it)."""
    ctx = period_context(con, settings, Grain.DAY, day, today=today, customer=customer)
    days = ibis.memtable({"day": [day]}).mutate(day=ibis._.day.cast("date"))
    lines = amounts_on(ctx, days)
    raw = ctx.table("subscriptions").select(
        __sid="subscription_id", canceled_at="canceled_at", quantity="quantity")
    rows = lines.join(raw, lines.subscription_id == raw.__sid).select(
        "subscription_id", "customer_id", "plan", "billing_interval", "start", "end",
        "canceled_at", "quantity", mrr="monthly")
    frame = _run(ctx, rows, ("mrr",))
    for column in ("start", "end", "canceled_at"):
        frame[column] = [None if pd.isna(v) else pd.Timestamp(v).date() for v in frame[column]]
    return frame
