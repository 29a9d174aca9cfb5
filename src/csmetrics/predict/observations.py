"""Observation dates (cutoffs) and churn labels for the churn model.

An *observation* is (customer, cutoff): a customer paying on the cutoff day (MRR > 0). Its
label ``churned`` is 1 when the customer pays nothing on ``cutoff + horizon`` days (MRR = 0),
else 0. Labels look into the future on purpose, and only labels do: features are built as of
the cutoff (``features.py``). A cutoff is *labelled* only when ``cutoff + horizon`` is on or
before the last day of the data; later cutoffs can be scored but not learned from.
"""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.money import customer_mrr_on
from csmetrics.metrics.periods import Grain, next_start, period_start
from csmetrics.metrics.policy import Policy

__all__ = ["labelled_cutoffs", "labels", "month_starts", "paying_on"]


def month_starts(first: date, last: date) -> list[date]:
    """First days of the months from the one after ``first`` up to ``last`` (inclusive)."""
    day = next_start(period_start(first, Grain.MONTH), Grain.MONTH)
    out = []
    while day <= last:
        out.append(day)
        day = next_start(day, Grain.MONTH)
    return out


def labelled_cutoffs(first_day: date, data_end: date, horizon_days: int,
                     warmup_days: int = 90) -> list[date]:
    """Monthly cutoffs whose horizon ends inside the data, leaving ``warmup_days`` of history
    before the first one (so 90-day features mean something)."""
    return [c for c in month_starts(first_day + timedelta(days=warmup_days), data_end)
            if c + timedelta(days=horizon_days) <= data_end]


def _context(con: BaseBackend, settings: Settings, day: date,
             as_of: date | None) -> MetricContext:
    return MetricContext(con=con, grain=Grain.DAY, starts=[day],
                         policy=Policy.from_settings(settings.policy), options=settings.metrics,
                         currency=settings.workspace.currency, as_of=as_of, known_until=day)


def paying_on(con: BaseBackend, settings: Settings, day: date) -> pd.DataFrame:
    """Customers with MRR > 0 on ``day``, from data known on ``day``: ``customer_id``, ``mrr``,
    ``plan``."""
    ctx = _context(con, settings, day, as_of=day)
    try:
        days = ibis.memtable({"day": [day]})
        snap = customer_mrr_on(ctx, days, plan=True)
        snap = snap.filter(snap.mrr > 0)
        frame = con.execute(snap.select("customer_id", "mrr", "plan").order_by("customer_id"))
    finally:
        ctx.close()
    frame["mrr"] = frame["mrr"].astype(float)
    return frame


def labels(con: BaseBackend, settings: Settings, cutoffs: list[date], horizon_days: int,
           data_end: date) -> pd.DataFrame:
    """``customer_id``, ``cutoff``, ``churned`` for every customer paying on each cutoff whose
    horizon has passed (cutoff + horizon <= data_end)."""
    late = [c for c in cutoffs if c + timedelta(days=horizon_days) > data_end]
    if late:
        raise UserInputError(f"Cutoff {late[0]} + {horizon_days} days is after the data's last "
                             f"day {data_end}: its labels are not known yet.")
    frames = []
    for cutoff in cutoffs:
        paying = paying_on(con, settings, cutoff)
        later = paying_on(con, settings, cutoff + timedelta(days=horizon_days))
        frame = paying[["customer_id"]].copy()
        frame["cutoff"] = cutoff
        frame["churned"] = (~frame["customer_id"].isin(later["customer_id"])).astype(int)
        frames.append(frame)
    if not frames:
        return pd.DataFrame({"customer_id": [], "cutoff": [], "churned": []})
    return pd.concat(frames, ignore_index=True)
