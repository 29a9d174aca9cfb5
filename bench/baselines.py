"""The baselines csmetrics is measured against: hand-written DuckDB SQL (several formulations
of the same numbers; the best one is the engine floor) and plain pandas, as an analyst would
write them. Every formulation returns one row per month with the same columns, so the
benchmark checks they agree before it times them.

MRR: on each month's last day, the sum over active subscription lines (started on or
before it, not ended by it) of amount less discount over the interval's months, at the
exchange rate in force that day; movements compare each customer with the month before.

Stickiness: DAU / MAU of the month, both averages over the month's days: DAU counts the
users active that day, MAU the users active in the 30 days ending that day.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

_MONTHS = """
months AS (
  SELECT CAST(m AS DATE) AS month_start,
         CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS last_day
  FROM generate_series(DATE '{before}', DATE '{last}', INTERVAL 1 MONTH) t(m)
), lines AS (
  SELECT customer_id, currency, start_date, end_date,
         (amount - coalesce(discount, 0)) / CASE billing_interval WHEN 'month' THEN 1.0
           WHEN 'quarter' THEN 3.0 WHEN 'year' THEN 12.0 ELSE 12.0 / 52 END AS monthly
  FROM subscriptions WHERE end_date IS NULL OR end_date > start_date
), rates AS (SELECT currency, date, rate_to_reporting FROM exchange_rates),
firsts AS (
  SELECT customer_id, min(start_date) FILTER (WHERE monthly > 0) AS first_paid
  FROM lines GROUP BY 1
)"""

_SNAPSHOT = """, snap AS (
  SELECT m.month_start, l.customer_id,
         sum(CAST(l.monthly * coalesce(r.rate_to_reporting, 1.0) AS DECIMAL(38, 6))) AS mrr
  FROM months m JOIN lines l ON l.start_date <= m.last_day
                            AND (l.end_date IS NULL OR l.end_date > m.last_day)
  ASOF LEFT JOIN rates r ON l.currency = r.currency AND m.last_day >= r.date
  GROUP BY ALL
)"""

_MOVEMENTS = """
SELECT CAST(month_start AS DATE) AS month_start,
       sum(after) AS mrr, count(*) FILTER (WHERE after > 0) AS paying,
       coalesce(sum(after) FILTER (WHERE before = 0 AND after > 0 AND first_paid >= month_start),
                0) AS new,
       count(*) FILTER (WHERE before = 0 AND after > 0 AND first_paid >= month_start) AS new_n,
       coalesce(sum(after) FILTER (WHERE before = 0 AND after > 0 AND first_paid < month_start),
                0) AS reactivation,
       count(*) FILTER (WHERE before = 0 AND after > 0 AND first_paid < month_start)
         AS reactivation_n,
       coalesce(sum(after - before) FILTER (WHERE before > 0 AND after > before), 0)
         AS expansion,
       count(*) FILTER (WHERE before > 0 AND after > before) AS expansion_n,
       coalesce(sum(before - after) FILTER (WHERE before > 0 AND after < before AND after > 0),
                0) AS contraction,
       count(*) FILTER (WHERE before > 0 AND after < before AND after > 0) AS contraction_n,
       coalesce(sum(before) FILTER (WHERE before > 0 AND after = 0), 0) AS churned,
       count(*) FILTER (WHERE before > 0 AND after = 0) AS churned_n
FROM pairs LEFT JOIN firsts USING (customer_id)
WHERE month_start BETWEEN DATE '{first}' AND DATE '{last}'
GROUP BY 1 ORDER BY 1
"""

#: Each customer's MRR at the end of a month beside the month before, from ``snap``.
_PAIRS = """, pairs AS (
  SELECT coalesce(c.month_start, p.month_start + INTERVAL 1 MONTH) AS month_start,
         coalesce(c.customer_id, p.customer_id) AS customer_id,
         coalesce(p.mrr, 0) AS before, coalesce(c.mrr, 0) AS after
  FROM snap c FULL OUTER JOIN snap p
    ON c.customer_id = p.customer_id AND c.month_start = p.month_start + INTERVAL 1 MONTH
)"""

#: The movements every formulation returns, as csmetrics' metrics, each with its count.
MOVEMENTS = {"mrr": "mrr", "paying": None, "new": "mrr_new",
             "reactivation": "mrr_reactivation", "expansion": "mrr_expansion",
             "contraction": "mrr_contraction", "churned": "mrr_churned"}

#: Self-join: each month's snapshot joined to the month before's.
MRR_SELF_JOIN = "WITH" + _MONTHS + _SNAPSHOT + _PAIRS + _MOVEMENTS

#: Window: the snapshot plus a zero row the month after each, then lag() per customer.
MRR_WINDOW = "WITH" + _MONTHS + _SNAPSHOT + """, dense AS (
  SELECT month_start, customer_id, sum(mrr) AS mrr FROM (
    SELECT month_start, customer_id, mrr FROM snap
    UNION ALL
    SELECT CAST(month_start + INTERVAL 1 MONTH AS DATE), customer_id, 0 FROM snap
  ) GROUP BY ALL
), pairs AS (
  SELECT month_start, customer_id, mrr AS after,
         CASE WHEN lag(month_start) OVER w = month_start - INTERVAL 1 MONTH
              THEN lag(mrr) OVER w ELSE 0 END AS before
  FROM dense WINDOW w AS (PARTITION BY customer_id ORDER BY month_start)
)""" + _MOVEMENTS

#: Pre-aggregated: each customer's and currency's monthly amount changes (starts add, ends
#: remove) summed per day once, a running total per customer, read on every month's last
#: day with an as-of join; no subscription line is joined with every month.
MRR_PRE_AGGREGATED = "WITH" + _MONTHS + """, steps AS (
  SELECT customer_id, currency, day, sum(delta) AS delta FROM (
    SELECT customer_id, currency, start_date AS day, monthly AS delta FROM lines
    UNION ALL
    SELECT customer_id, currency, end_date, -monthly FROM lines WHERE end_date IS NOT NULL
  ) GROUP BY ALL
), running AS (
  SELECT customer_id, currency, day,
         round(sum(delta) OVER (PARTITION BY customer_id, currency ORDER BY day), 9) AS monthly
  FROM steps
), keys AS (SELECT DISTINCT customer_id, currency FROM running),
snap AS (
  SELECT m.month_start, k.customer_id,
         sum(CAST(r.monthly * coalesce(x.rate_to_reporting, 1.0) AS DECIMAL(38, 6))) AS mrr
  FROM months m CROSS JOIN keys k
  ASOF JOIN running r ON r.customer_id = k.customer_id
                      AND r.currency IS NOT DISTINCT FROM k.currency AND m.last_day >= r.day
  ASOF LEFT JOIN rates x ON k.currency = x.currency AND m.last_day >= x.date
  WHERE r.monthly > 0
  GROUP BY ALL
)""" + _PAIRS + _MOVEMENTS

#: Range join: the lines in force on each month's last day found with plain inequalities
#: (an open end as a far-future day, so the engine runs a range join, not a nested loop),
#: each (month, currency) rate looked up once with an as-of join, then an equality join.
MRR_RANGE_JOIN = "WITH" + _MONTHS + """, rate_on AS (
  SELECT m.last_day, c.currency, x.rate_to_reporting AS rate
  FROM months m CROSS JOIN (SELECT DISTINCT currency FROM rates) c
  ASOF JOIN rates x ON x.currency = c.currency AND m.last_day >= x.date
), snap AS (
  SELECT m.month_start, l.customer_id,
         sum(CAST(l.monthly * coalesce(r.rate, 1.0) AS DECIMAL(38, 6))) AS mrr
  FROM months m JOIN lines l ON l.start_date <= m.last_day
                            AND coalesce(l.end_date, DATE '9999-12-31') > m.last_day
  LEFT JOIN rate_on r ON r.last_day = m.last_day AND r.currency = l.currency
  GROUP BY ALL
)""" + _PAIRS + _MOVEMENTS

MRR_SQL = {"self-join": MRR_SELF_JOIN, "window (lag)": MRR_WINDOW,
           "pre-aggregated running total": MRR_PRE_AGGREGATED, "range join": MRR_RANGE_JOIN}


def mrr_sql(name: str, first: date, last: date) -> str:
    """One MRR-movements formulation for the months ``first`` .. ``last`` (month starts)."""
    before = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return MRR_SQL[name].format(first=first, last=last, before=before)


def mrr_pandas(subs: pd.DataFrame, rates: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """MRR and its movements per month with pandas, the way an analyst would write it."""
    months = pd.date_range(pd.Timestamp(first) - pd.offsets.MonthBegin(1), last, freq="MS")
    per_month = {"month": 1.0, "quarter": 3.0, "year": 12.0, "week": 12 / 52}
    subs = subs.assign(monthly=(subs.amount.astype(float) - subs.discount.astype(float)
                                .fillna(0)) / subs.billing_interval.map(per_month))
    subs = subs.assign(start_date=pd.to_datetime(subs.start_date),
                       end_date=pd.to_datetime(subs.end_date))
    rates = rates.assign(date=pd.to_datetime(rates.date))
    subs = subs[subs.end_date.isna() | (subs.end_date > subs.start_date)]
    first_paid = subs[subs.monthly > 0].groupby("customer_id").start_date.min()
    rows = []
    for month in months:
        day = month + pd.offsets.MonthEnd(0)
        active = subs[(subs.start_date <= day)
                      & (subs.end_date.isna() | (subs.end_date > day))].copy()
        known = rates[rates.date <= day].sort_values("date").groupby("currency").last()
        active["rate"] = active.currency.map(known.rate_to_reporting).fillna(1.0)
        active["mrr"] = (active.monthly * active.rate).round(6)
        rows.append(active.groupby("customer_id").mrr.sum().rename(month))
    wide = pd.concat(rows, axis=1).fillna(0.0)
    before = wide.shift(1, axis=1).fillna(0.0)
    delta = wide - before
    first = first_paid.reindex(wide.index)
    is_new = pd.DataFrame({m: first >= m for m in wide.columns})
    gained = (before == 0) & (wide > 0)
    out = pd.DataFrame({
        "mrr": wide.sum(),
        "new": wide.where(gained & is_new).sum(),
        "reactivation": wide.where(gained & ~is_new).sum(),
        "expansion": delta.where((before > 0) & (delta > 0)).sum(),
        "contraction": (-delta).where((before > 0) & (delta < 0) & (wide > 0)).sum(),
        "churned": before.where((before > 0) & (wide == 0)).sum(),
    })
    return out.iloc[1:]


_USER_DAYS = """
WITH ud AS (
  SELECT DISTINCT customer_id, user_id, CAST(occurred_at AS DATE) AS day FROM usage_events
  WHERE occurred_at >= TIMESTAMP '{lo}' AND occurred_at < TIMESTAMP '{hi}'
), months AS (
  SELECT CAST(m AS DATE) AS month_start, CAST(m + INTERVAL 1 MONTH AS DATE) AS month_end
  FROM generate_series(DATE '{first}', DATE '{last}', INTERVAL 1 MONTH) t(m)
), dau AS (
  SELECT CAST(date_trunc('month', day) AS DATE) AS month_start, count(*) AS dau_days
  FROM ud WHERE day >= DATE '{first}' GROUP BY 1
)"""

_STICKINESS = """
SELECT m.month_start, d.dau_days / c.mau_days AS stickiness
FROM months m JOIN dau d USING (month_start) JOIN mau c USING (month_start)
ORDER BY 1
"""

#: Daily series: for every day, the distinct users of the 30 days ending that day.
STICKINESS_DAILY = _USER_DAYS + """, days AS (
  SELECT CAST(d AS DATE) AS day
  FROM generate_series(DATE '{first}', DATE '{end}', INTERVAL 1 DAY) t(d)
), per_day AS (
  SELECT s.day, count(DISTINCT (u.customer_id, u.user_id)) AS users
  FROM days s JOIN ud u ON u.day BETWEEN s.day - 29 AND s.day GROUP BY 1
), mau AS (
  SELECT CAST(date_trunc('month', day) AS DATE) AS month_start, sum(users) AS mau_days
  FROM per_day GROUP BY 1
)""" + _STICKINESS

#: Two-level group-by: each user-day spread over the 30 days it counts for, de-duplicated.
STICKINESS_TWO_LEVEL = _USER_DAYS + """, covered AS (
  SELECT DISTINCT customer_id, user_id, day + CAST(offs AS INTEGER) AS counted
  FROM ud, (SELECT unnest(range(30)) AS offs)
), mau AS (
  SELECT CAST(date_trunc('month', counted) AS DATE) AS month_start, count(*) AS mau_days
  FROM covered WHERE counted BETWEEN DATE '{first}' AND DATE '{end}' GROUP BY 1
)""" + _STICKINESS

#: Runs: each active day counts until 30 days later or the user's next active day,
#: whichever comes first (lead()), each run split over the months it touches.
STICKINESS_RUNS = _USER_DAYS + """, runs AS (
  SELECT day, least(day + 30, lead(day) OVER (PARTITION BY customer_id, user_id
                                              ORDER BY day)) AS run_end
  FROM ud
), split AS (
  SELECT day, run_end, CAST(unnest(generate_series(date_trunc('month', day),
                                                   date_trunc('month', run_end - 1),
                                                   INTERVAL 1 MONTH)) AS DATE) AS month_start
  FROM runs
), mau AS (
  SELECT s.month_start,
         sum(least(s.run_end, m.month_end, DATE '{end}' + 1) - greatest(s.day, s.month_start))
           AS mau_days
  FROM split s JOIN months m USING (month_start) GROUP BY 1
)""" + _STICKINESS

STICKINESS_SQL = {"daily distinct over 30 days": STICKINESS_DAILY,
                  "two-level group-by": STICKINESS_TWO_LEVEL,
                  "runs with lead()": STICKINESS_RUNS}


def stickiness_sql(name: str, first: date, last: date, end: date) -> str:
    """One stickiness formulation for the months ``first`` .. ``last`` with data to ``end``."""
    lo = pd.Timestamp(first) - pd.Timedelta(days=29)
    hi = pd.Timestamp(end) + pd.Timedelta(days=1)
    return STICKINESS_SQL[name].format(first=first, last=last, end=end, lo=lo, hi=hi)


def stickiness_pandas(events: pd.DataFrame, first: date, end: date) -> pd.DataFrame:
    """Monthly DAU / MAU with pandas: user-days, then each user's runs of counted days."""
    lo, hi = pd.Timestamp(first) - pd.Timedelta(days=29), pd.Timestamp(end) + pd.Timedelta(days=1)
    e = events[(events.occurred_at >= lo) & (events.occurred_at < hi)]
    ud = pd.DataFrame({"customer_id": e.customer_id, "user_id": e.user_id,
                       "day": e.occurred_at.dt.normalize()}).drop_duplicates()
    ud = ud.sort_values(["customer_id", "user_id", "day"])
    nxt = ud.groupby(["customer_id", "user_id"]).day.shift(-1)
    start = ud.day.to_numpy()
    run_end = np.minimum((ud.day + pd.Timedelta(days=30)).to_numpy(),
                         nxt.fillna(pd.Timestamp.max).to_numpy())
    months = pd.date_range(first, end, freq="MS")
    rows = []
    for month in months:
        month_end = min(month + pd.offsets.MonthBegin(1), hi)
        days = (np.minimum(run_end, month_end.to_datetime64())
                - np.maximum(start, month.to_datetime64())) / np.timedelta64(1, "D")
        mau_days = days[days > 0].sum()
        dau_days = ((ud.day >= month) & (ud.day < month_end)).sum()
        rows.append((month, dau_days / mau_days))
    return pd.DataFrame(rows, columns=["month_start", "stickiness"]).set_index("month_start")
