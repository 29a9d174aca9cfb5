"""Renewals: when each subscription in service renews next, and what that renewal is worth.

The rule, for a subscription with start date S and billing interval I, seen on day D (the
data's last day):

- its period boundaries are S + k intervals, k = 1, 2, ... (``month``: the same day of the
  month k months later, ``quarter``: 3k months, ``year``: the k-th anniversary, ``week``: 7k
  days). A day that does not exist in the target month falls back to the month's last day:
  a subscription started on Jan 31 renews on Feb 28 (Feb 29 in a leap year), Mar 31, ...;
  one started on Feb 29 renews on Feb 28 in other years and Feb 29 in leap years. Each
  boundary is counted from S, so a short month never shifts the later ones.
- the next renewal is the first boundary after D;
- there is none when the subscription was canceled on or before D (``canceled_at``: it runs
  to its end and stops) or when its service ends on or before that boundary (``end``, the
  first day without service, as the MRR metric reads it).
- its value is the subscription's MRR times the months in its interval: one month's MRR for
  monthly, three for quarterly, its ARR (12 x MRR) for annual, 12/52 of a month for weekly.

``renewals`` lists the renewals due within a number of days after D with each customer's
owner and health band; ``at_risk`` sums their ARR per band.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import pandas as pd

from csmetrics.errors import UserInputError
from csmetrics.metrics.money import MONTHS_PER_INTERVAL

__all__ = ["BANDS", "WINDOWS", "at_risk", "next_renewal", "renewal_value", "renewals",
           "with_renewals"]

#: The windows the renewals view offers, in days after the data's last day.
WINDOWS = (30, 60, 90)
#: The health bands ARR at risk is summed over, worst first; accounts without a score count
#: as "insufficient data".
BANDS = ("red", "yellow", "green", "insufficient data")

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` calendar months on, clamped to the last day of that month."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def next_renewal(start: date, interval: str, day: date, end: date | None = None,
                 canceled_at: date | None = None) -> date | None:
    """The first period boundary of a subscription after ``day`` (see the module's rule);
    None when it was canceled on or before ``day``, ends on or before that boundary, or has
    an interval without boundaries."""
    if canceled_at is not None and canceled_at <= day:
        return None
    if interval == "week":
        weeks = max((day - start).days // 7 + 1, 1)
        boundary = start + timedelta(days=7 * weeks)
    elif interval in _MONTHS:
        step = _MONTHS[interval]
        k = max(((day.year - start.year) * 12 + day.month - start.month) // step, 1)
        boundary = add_months(start, k * step)
        while boundary <= day:  # k starts at most one step short: the months in between
            k += 1
            boundary = add_months(start, k * step)
    else:
        return None
    if end is not None and end <= boundary:
        return None
    return boundary


def renewal_value(mrr: float, interval: str) -> float:
    """What one renewal brings: the MRR times the months in the interval (ARR for annual)."""
    return mrr * MONTHS_PER_INTERVAL.get(interval, 0.0)


def with_renewals(subscriptions: pd.DataFrame, day: date) -> pd.DataFrame:
    """``subscriptions`` (as ``metrics.drilldown.subscription_mrr`` lists them) with
    ``next_renewal``, ``renewal_value`` and ``arr`` (12 x MRR) added."""
    out = subscriptions.copy()
    out["next_renewal"] = [
        next_renewal(r.start, r.billing_interval, day, r.end, r.canceled_at)
        for r in out.itertuples()]
    out["renewal_value"] = [
        renewal_value(float(r.mrr), r.billing_interval) if r.next_renewal else None
        for r in out.itertuples()]
    out["arr"] = out["mrr"].astype("float64") * 12
    return out


def renewals(subscriptions: pd.DataFrame, customers: pd.DataFrame, day: date,
             within: int) -> pd.DataFrame:
    """The subscriptions renewing in the ``within`` days after ``day`` (``day`` excluded,
    ``day + within`` included), soonest first: customer, name, owner, plan, interval,
    renewal date, ARR, renewal value and health band. ``customers`` has ``customer_id``,
    ``name``, ``owner`` and ``band`` (missing: "insufficient data")."""
    if within <= 0:
        raise UserInputError(f"The renewals window must be a positive number of days, e.g. "
                             f"30, 60 or 90, not {within}.")
    rows = with_renewals(subscriptions, day)
    last = day + timedelta(days=within)
    due = rows[rows["next_renewal"].map(lambda d: d is not None and day < d <= last)]
    people = customers[["customer_id", "name", "owner", "band"]]
    due = due.merge(people, on="customer_id", how="left")
    due["band"] = due["band"].where(due["band"].isin(BANDS[:3]), BANDS[3])
    columns = ["customer_id", "name", "owner", "plan", "billing_interval", "next_renewal",
               "arr", "renewal_value", "band", "subscription_id"]
    return due.sort_values(["next_renewal", "customer_id"])[columns].reset_index(drop=True)


def at_risk(due: pd.DataFrame) -> pd.DataFrame:
    """ARR renewing in ``due`` (``renewals``' rows) per health band, every band listed:
    ``band``, ``subscriptions``, ``arr``."""
    grouped = due.groupby("band")["arr"].agg(["count", "sum"])
    return pd.DataFrame({
        "band": list(BANDS),
        "subscriptions": [int(grouped["count"].get(b, 0)) for b in BANDS],
        "arr": [float(grouped["sum"].get(b, 0.0)) for b in BANDS]})
