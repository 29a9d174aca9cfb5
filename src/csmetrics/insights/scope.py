"""What every voice-of-the-customer view shares: the scored texts known as of a date, each
customer's MRR on that date and segment, and the period a text falls in."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.config import Settings
from csmetrics.enrich.sentiment import sentiment_table
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.engine import check_segments, data_end
from csmetrics.metrics.money import customer_mrr_on
from csmetrics.metrics.periods import Calendar, Grain, period_start
from csmetrics.metrics.policy import Policy

if TYPE_CHECKING:
    import ibis
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


__all__ = ["customer_facts", "grain", "nps_groups", "periods_of", "resolve_as_of", "texts"]


def resolve_as_of(con: BaseBackend, as_of: date | None, today: date) -> date:
    """``as_of``, or the last day of the data known on ``today``."""
    return as_of or data_end(con, today)


def grain(period: str) -> Grain:
    """A ``--period`` value as a grain, refused clearly when unknown."""
    try:
        return Grain(period)
    except ValueError:
        raise UserInputError(
            f"--period {period!r} is not one of day, week, month, quarter, year."
        ) from None


def texts(con: BaseBackend, as_of: date, sources: tuple[str, ...] = ()) -> pd.DataFrame:
    """Scored texts written by ``as_of``: source, key, customer_id, written_at, kind, text,
    compound, label (optionally only from the canonical tables in ``sources``)."""
    t = sentiment_table(con, as_of)
    if sources:
        t = t.filter(t.source.isin(list(sources)))
    frame = con.execute(t.order_by(["source", "key"]))
    return frame.reset_index(drop=True)


def nps_groups(con: BaseBackend, as_of: date) -> pd.DataFrame:
    """``key`` (response_id) and ``nps_group`` (detractor 0-6, passive 7-8, promoter 9-10,
    other scales rescaled to 0-10) of every NPS answer given by ``as_of``."""
    r = con.table("survey_responses")
    r = r.filter((r.survey == "nps") & (r.responded_at.cast("date") <= ibis.literal(as_of)))
    score10 = r.score.cast("float64") * 10.0 / r.scale_max.cast("float64").fill_null(10.0)
    r = r.select(key=r.response_id.cast("string"),
                 nps_group=ibis.cases((score10 >= 9, "promoter"), (score10 >= 7, "passive"),
                                      else_="detractor"))
    return con.execute(r)


def customer_facts(con: BaseBackend, settings: Settings, as_of: date,
                   by: str | None = None) -> pd.DataFrame:
    """Every customer known by ``as_of``: ``customer_id``, ``mrr`` on ``as_of`` (0 when not
    paying; see ``money.customer_mrr_on``) and, when ``by`` is given, its segment value."""
    if by:
        check_segments(con, (by,), ())
    ctx = MetricContext(
        con=con, grain=Grain.MONTH, starts=[as_of], by=(by,) if by else (),
        policy=Policy.from_settings(settings.policy), options=settings.metrics,
        currency=settings.workspace.currency, as_of=as_of, known_until=as_of,
    )
    try:
        customers = ctx.customers().select("customer_id")
        if by:
            customers = ctx.segment(customers)
        days = ibis.memtable(pd.DataFrame({"day": [as_of]}), schema={"day": "date"})
        mrr = customer_mrr_on(ctx, days).select("customer_id", "mrr")
        joined = customers.left_join(mrr, "customer_id").drop("customer_id_right")
        frame = con.execute(joined.mutate(mrr=joined.mrr.cast("float64").fill_null(0.0)))
    finally:
        ctx.close()
    return frame


def periods_of(moments: pd.Series, period: Grain, settings: Settings) -> pd.Series:
    """The first day of the period each timestamp falls in."""
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    days = pd.to_datetime(moments).dt.date
    starts = {d: period_start(d, period, calendar) for d in days.unique()}
    return days.map(starts)
