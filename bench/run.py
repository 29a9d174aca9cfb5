"""Benchmarks of csmetrics against baselines measured in the same run (``make bench``).

Each figure is the median of ``--repeat`` runs; ratios to the baselines matter, not absolute
times (the machine's speed wanders). Baselines: the raw engine floor (hand-written DuckDB SQL
for the same numbers) and a plain pandas implementation, as an analyst would write it.

    python bench/run.py --scale 0.05          # 10,000 customers: a quick run
    python bench/run.py                       # 200,000 customers, 36 months (the target)
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from csmetrics import Workspace
from csmetrics.demo import write_company

HERE = Path(__file__).parent
END = date(2025, 12, 31)  # fixed, so cached data stays valid


def timed(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def company(scale: float, months: int) -> Path:
    """The synthetic company as Parquet and CSV files, generated once per scale and cached."""
    folder = HERE / ".cache" / f"scale-{scale:g}-{months}m"
    if not (folder / "done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        customers = max(100, int(200_000 * scale))
        write_company(folder / "parquet", customers=customers, months=months, seed=1, end=END)
        con = duckdb.connect()
        con.execute(f"COPY (SELECT * FROM read_parquet('{folder}/parquet/usage_events-*.parquet'))"
                    f" TO '{folder}/usage_events.csv' (HEADER)")
        (folder / "done").touch()
    return folder


MRR_SQL = """
WITH months AS (
  SELECT CAST(m AS DATE) AS month_start,
         CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS last_day
  FROM generate_series(DATE '{first}', DATE '{last}', INTERVAL 1 MONTH) t(m)
), lines AS (
  SELECT customer_id, currency, start_date, end_date,
         (amount - coalesce(discount, 0)) / CASE billing_interval WHEN 'month' THEN 1.0
           WHEN 'quarter' THEN 3.0 WHEN 'year' THEN 12.0 ELSE 12.0 / 52 END AS monthly
  FROM subscriptions
), rates AS (SELECT currency, date, rate_to_reporting FROM exchange_rates),
snap AS (
  SELECT m.month_start, l.customer_id,
         sum(CAST(l.monthly * coalesce(r.rate_to_reporting, 1.0) AS DECIMAL(38, 6))) AS mrr
  FROM months m JOIN lines l ON l.start_date <= m.last_day
                            AND (l.end_date IS NULL OR l.end_date > m.last_day)
  ASOF LEFT JOIN rates r ON l.currency = r.currency AND m.last_day >= r.date
  GROUP BY ALL
), pairs AS (
  SELECT coalesce(c.month_start, p.month_start + INTERVAL 1 MONTH) AS month_start,
         coalesce(p.mrr, 0) AS before, coalesce(c.mrr, 0) AS after
  FROM snap c FULL OUTER JOIN snap p
    ON c.customer_id = p.customer_id AND c.month_start = p.month_start + INTERVAL 1 MONTH
)
SELECT CAST(month_start AS DATE) AS month_start,
       sum(after) AS mrr,
       sum(after - before) FILTER (WHERE before = 0 AND after > 0) AS gained_from_zero,
       sum(after - before) FILTER (WHERE before > 0 AND after > before) AS expansion,
       sum(before - after) FILTER (WHERE before > 0 AND after < before AND after > 0)
         AS contraction,
       sum(before) FILTER (WHERE before > 0 AND after = 0) AS churned
FROM pairs WHERE month_start BETWEEN DATE '{first}' AND DATE '{last}'
GROUP BY 1 ORDER BY 1
"""


def mrr_pandas(subs: pd.DataFrame, rates: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """MRR and its movements per month with pandas, the way an analyst would write it."""
    months = pd.date_range(first, last, freq="MS")
    per_month = {"month": 1.0, "quarter": 3.0, "year": 12.0, "week": 12 / 52}
    subs = subs.assign(monthly=(subs.amount.astype(float) - subs.discount.astype(float)
                                .fillna(0)) / subs.billing_interval.map(per_month))
    subs = subs.assign(start_date=pd.to_datetime(subs.start_date),
                       end_date=pd.to_datetime(subs.end_date))
    rates = rates.assign(date=pd.to_datetime(rates.date))
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
    return pd.DataFrame({
        "mrr": wide.sum(),
        "expansion": delta.where((before > 0) & (delta > 0)).sum(),
        "churned": before.where((before > 0) & (wide == 0)).sum(),
    })


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 200,000 customers")
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    args = parser.parse_args()
    files = company(args.scale, args.months)
    parquet = files / "parquet"
    work = HERE / ".cache" / "workspace"
    shutil.rmtree(work, ignore_errors=True)
    ws = Workspace.init(work, name="bench")
    tables = sorted({p.name.split(".")[0].split("-")[0] for p in parquet.iterdir()})
    order = ["customers", "exchange_rates"] + [t for t in tables
                                               if t not in ("customers", "exchange_rates")]
    for table in order:
        if table != "usage_events":
            ws.ingest(table, sorted(parquet.glob(f"{table}*.parquet")))
    events_csv = files / "usage_events.csv"
    rows = duckdb.connect().execute(
        f"SELECT count(*) FROM read_csv('{events_csv}')").fetchall()[0][0]
    results: list[tuple[str, str, str]] = []

    floor, _ = timed(lambda: duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT user_id) FROM read_csv('{events_csv}')").fetchall(), 1)
    started = time.perf_counter()
    ws.ingest("usage_events", [events_csv])
    csv_seconds = time.perf_counter() - started
    results.append(("CSV ingest, usage events", f"{rows / csv_seconds:,.0f} rows/s",
                    f"raw read_csv scan {floor / csv_seconds:.2f}x of ingest time"))
    started = time.perf_counter()
    ws.ingest("usage_events", sorted(parquet.glob("usage_events-*.parquet")), replace=True)
    pq_seconds = time.perf_counter() - started
    results.append(("Parquet ingest (replace), usage events", f"{rows / pq_seconds:,.0f} rows/s",
                    ""))

    first, last = date(END.year - args.months // 12 + 1, 1, 1), date(END.year, 12, 1)
    movements = ["mrr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned",
                 "mrr_reactivation"]
    ours, frame = timed(lambda: ws.query(movements, start=first, end=END), args.repeat)
    sql = MRR_SQL.format(first=first, last=last)
    hand, hand_frame = timed(lambda: ws.warehouse.sql.execute(sql).df(), args.repeat)
    subs = ws.warehouse.sql.execute("SELECT * FROM subscriptions").df()
    rates = ws.warehouse.sql.execute("SELECT * FROM exchange_rates").df()
    panda, panda_frame = timed(lambda: mrr_pandas(subs, rates, first, last), 1)
    ours_mrr = frame[frame.metric == "mrr"].value.to_numpy()
    same = np.allclose(ours_mrr, hand_frame.mrr.astype(float).to_numpy(), rtol=1e-9) and \
        np.allclose(ours_mrr, panda_frame.mrr.to_numpy(), rtol=1e-9)
    results.append(("MRR + movements, monthly", f"{ours:.2f} s",
                    f"{ours / hand:.2f}x the time of hand-written DuckDB SQL ({hand:.2f} s); "
                    f"pandas takes {panda / ours:.2f}x our time ({panda:.2f} s); "
                    f"same MRR: {'yes' if same else 'NO'}"))

    stick, _ = timed(lambda: ws.query(["stickiness"], start=first, end=END), args.repeat)
    results.append(("Stickiness (DAU/MAU), monthly", f"{stick:.2f} s", "baselines: to do"))
    refresh, run = timed(lambda: ws.refresh(), 1)
    results.append(("refresh (every metric, month + quarter, 5 segments)", f"{refresh:.1f} s",
                    f"{run['rows']:,} values"))
    health, scores = timed(lambda: ws.health(), args.repeat)
    results.append(("health scoring, all accounts", f"{health:.2f} s",
                    f"{len(scores.scores):,} accounts"))
    results.append(("peak RSS of this process", f"{peak_rss_mb():,.0f} MB", ""))
    ws.close()

    customers = max(100, int(200_000 * args.scale))
    lines = [
        "# Benchmarks", "",
        f"Command: `python bench/run.py --scale {args.scale:g} --months {args.months}` "
        f"({customers:,} customers, {rows:,} usage events; medians of {args.repeat} runs).",
        f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores.",
        "", "| work | csmetrics | against the baselines, same run |", "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in results], "",
    ]
    args.out.write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
