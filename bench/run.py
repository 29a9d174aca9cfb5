"""Benchmarks of csmetrics against baselines measured in the same run (``make bench``).

Each query figure is the median of ``--repeat`` runs; ratios to the baselines matter, not
absolute times (the machine's speed wanders). Baselines: the raw engine floor (hand-written
DuckDB SQL for the same numbers, several formulations, the best one counts) and a plain pandas
implementation, as an analyst would write it (``bench/baselines.py``).

    python bench/run.py --scale 0.05          # 10,000 customers: a quick run
    python bench/run.py                       # 200,000 customers, 36 months (the target)
"""

from __future__ import annotations

import argparse
import json
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
from typing import NamedTuple

import duckdb
import numpy as np
import pandas as pd
from baselines import MOVEMENTS as MRR_COLUMNS
from baselines import MRR_SQL, STICKINESS_SQL, mrr_sql, stickiness_sql
from company import CUT, END, HERE, company

from csmetrics import Workspace
from csmetrics.demo import files_by_table

MOVEMENTS = ["mrr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned",
             "mrr_reactivation"]
OVERVIEW = ("mrr", "nrr", "grr", "customer_churn_rate", "nps", "csat", "ltv_cac_ratio")
Row = tuple[str, str, str, str]
#: The hand-written part of ``docs/benchmarks.md`` starts here; a run keeps it.
NOTES = "## Notes"


#: A measurement is not repeated once its runs have taken this long (a slow baseline at the
#: default scale would otherwise take many minutes per repeat).
REPEAT_BUDGET_SECONDS = 60.0


def timed(work: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Median seconds of ``repeat`` runs (fewer once they took ``REPEAT_BUDGET_SECONDS``),
    and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
        if sum(times) > REPEAT_BUDGET_SECONDS:
            break
    return statistics.median(times), result


def workspace(root: Path, memory_limit: str) -> Workspace:
    """A new workspace with DuckDB's memory limit and spill folder set for the benchmark."""
    shutil.rmtree(root, ignore_errors=True)
    Workspace.init(root, name="bench").close()
    config = root / "csmetrics.toml"
    text = config.read_text()
    text = text.replace('memory_limit = ""', f'memory_limit = "{memory_limit}"')
    text = text.replace('temp_directory = ""', f'temp_directory = "{root / "spill"}"')
    config.write_text(text)
    return Workspace.load(root)


def load(ws: Workspace, folder: Path, skip: tuple[str, ...] = ()) -> int:
    """Load every table's files from ``folder``; the rows read."""
    rows = 0
    for table, paths in files_by_table(folder):
        if table not in skip:
            rows += ws.ingest(table, paths, allow_orphans=True).rows_read
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(rows: list[Row], row: Row) -> None:
    """Add a result and show it at once (a long run shows its progress)."""
    rows.append(row)
    sys.stderr.write(" | ".join(row) + "\n")


def verdict(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def bench_ingest(files: Path, memory_limit: str, repeat: int, rows: list[Row]) -> None:
    """CSV and Parquet ingest of the usage events: each the median of ``repeat`` loads, the
    CSV one into an empty table each time."""
    root = HERE / ".cache" / "ingest-ws"
    csv = files / "usage_events.csv"
    events = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{csv}')").fetchall()[0][0]
    scan, _ = timed(lambda: duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT user_id) FROM read_csv('{csv}')").fetchall(), repeat)
    loads = []
    for _ in range(repeat):
        ws = workspace(root, memory_limit)
        ws.ingest("customers", sorted((files / "now").glob("customers*.parquet")))
        seconds, _ = timed(lambda w=ws: w.ingest("usage_events", [csv]), 1)
        loads.append(seconds)
        ws.close()
    seconds = statistics.median(loads)
    rate = events / seconds
    report(rows, ("CSV ingest, usage events (empty table)", f"{rate:,.0f} rows/s",
                 f"raw read_csv scan takes {scan / seconds:.2f}x the ingest time (median of "
                 f"{repeat} loads: {', '.join(f'{t:.1f}' for t in loads)} s)",
                 f"target >= 1,000,000 rows/s: {verdict(rate >= 1e6)}"))
    parquet = sorted((files / "now").glob("usage_events-*.parquet"))
    with Workspace.load(root) as ws:
        seconds, _ = timed(lambda: ws.ingest("usage_events", parquet, replace=True), repeat)
    report(rows, ("Parquet ingest (replace), usage events", f"{events / seconds:,.0f} rows/s",
                 "", ""))


def bench_refresh(files: Path, memory_limit: str, repeat: int, rows: list[Row]) -> Workspace:
    """Full refresh, a month appended, incremental refresh (the median of ``repeat``, each
    on its own copy of the workspace as the load left it), and a full refresh of the same
    data to check the incremental one; returns the workspace with all the data."""
    root = HERE / ".cache" / "workspace"
    ws = workspace(root, memory_limit)
    load(ws, files / "then")
    full, first = timed(lambda: ws.refresh(), 1)
    started = time.perf_counter()
    appended = load(ws, files / "now")
    append_seconds = time.perf_counter() - started
    report(rows, ("load the month after (every table, upsert)", f"{append_seconds:.1f} s",
                 f"{appended:,} rows read, {appended / append_seconds:,.0f} rows/s", ""))
    ws.close()
    incremental, run = _incremental(root, repeat)
    copy = HERE / ".cache" / "workspace-full"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy)
    with Workspace.load(copy) as other:
        again, again_run = timed(lambda: other.refresh(full=True), 1)
        right = other.metric_values()
    ws = Workspace.load(root)
    left = ws.metric_values()
    same = _same_values(left, right)
    report(rows, ("refresh, full (every metric, month + quarter, 5 segments)",
                 f"{full:.1f} s (metrics {first['seconds']:.1f} s)",
                 f"{first['rows']:,} values; the rest is text sentiment, the health snapshot "
                 "and the alert rules, which every refresh runs", ""))
    ratio = again_run["seconds"] / run["seconds"]
    report(rows, ("refresh, incremental after the month after",
                 f"{incremental:.1f} s (metrics {run['seconds']:.1f} s; medians of "
                 f"{repeat} runs)",
                 f"full refresh of the same data {again:.1f} s (metrics "
                 f"{again_run['seconds']:.1f} s): metrics {ratio:.1f}x faster, whole command "
                 f"{again / incremental:.1f}x ({run['mode']}, {run['reason']}); identical "
                 f"results: {'yes' if same else 'NO'}",
                 f"target >= 10x (metrics): {verdict(ratio >= 10 and same)}"))
    return ws


def _incremental(root: Path, repeat: int) -> tuple[float, dict[str, object]]:
    """The median seconds of ``repeat`` incremental refreshes of the workspace at ``root``
    (each but the last on a fresh copy of it), and the run whose metrics took the median
    time, with its ``seconds`` the median of them all."""
    runs = []
    for i in range(repeat):
        copy = root.with_name(f"{root.name}-again") if i < repeat - 1 else root
        if copy != root:
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(root, copy)
        with Workspace.load(copy) as ws:
            started = time.perf_counter()
            run = ws.refresh()
            runs.append((time.perf_counter() - started, run))
        if copy != root:
            shutil.rmtree(copy)
    middle = statistics.median_low([run["seconds"] for _, run in runs])
    run = next(run for _, run in runs if run["seconds"] == middle)
    return statistics.median([seconds for seconds, _ in runs]), run


def _same_values(left: pd.DataFrame, right: pd.DataFrame) -> bool:
    """Whether two ``_metric_values`` tables agree (floats to 1e-9)."""
    if len(left) != len(right):
        return False
    keys = ["metric", "grain", "period_start", "segment_by", "segment", "n", "null_reason"]
    if not left[keys].fillna("-").equals(right[keys].fillna("-")):
        return False
    for column in ("value", "ci_low", "ci_high", "target"):
        if not np.allclose(left[column], right[column], rtol=1e-9, equal_nan=True):
            return False
    for a, b in zip(left["details"], right["details"], strict=True):
        a, b = json.loads(a), json.loads(b)
        if a.keys() != b.keys() or any(
                not np.isclose(v, b[k], rtol=1e-9) if isinstance(v, float) else v != b[k]
                for k, v in a.items()):
            return False
    return True


def bench_queries(ws: Workspace, repeat: int, rows: list[Row]) -> None:
    """MRR movements and stickiness: csmetrics against every SQL formulation and pandas,
    run in turns."""
    first, last = date(END.year - 2, 1, 1), date(END.year, 12, 1)
    sql = ws.warehouse.sql
    export = HERE / ".cache" / "pandas-input"
    shutil.rmtree(export, ignore_errors=True)
    export.mkdir(parents=True)
    for table, columns in (("subscriptions", "*"), ("exchange_rates", "*"),
                           ("usage_events", "customer_id, user_id, occurred_at")):
        sql.execute(f"COPY (SELECT {columns} FROM {table}) TO '{export / table}.parquet'")

    works = {name: (lambda n=name: sql.execute(mrr_sql(n, first, last)).df()) for name in MRR_SQL}
    times = interleaved({"ours": lambda: ws.query(MOVEMENTS, start=first, end=END), **works,
                         "pandas": lambda: pandas_baseline("mrr", export, first, last)}, repeat)
    ours, frame = times.pop("ours")
    panda, values = times.pop("pandas")
    expected = {column: frame[frame.metric == (metric or "mrr")][
        "value" if metric else "n"].to_numpy() for column, metric in MRR_COLUMNS.items()}
    for column, metric in MRR_COLUMNS.items():
        if metric:
            expected[f"{column}_n"] = frame[frame.metric == metric].n.to_numpy()
    hand = {name: (seconds, _agree(result, expected)) for name, (seconds, result) in times.items()}
    panda_agree = _agree(pd.DataFrame(values), expected)
    report(rows, _versus("MRR + movements, 36 months", ours, hand, panda, panda_agree))

    works = {name: (lambda n=name: sql.execute(stickiness_sql(n, first, last, END)).df())
             for name in STICKINESS_SQL}
    times = interleaved({"ours": lambda: ws.query(["stickiness"], start=first, end=END),
                         **works,
                         "pandas": lambda: pandas_baseline("stickiness", export, first, last)},
                        repeat)
    ours, frame = times.pop("ours")
    panda, result = times.pop("pandas")
    values = frame.value.to_numpy()
    hand = {name: (seconds, np.allclose(r.stickiness.astype(float), values, rtol=1e-9))
            for name, (seconds, r) in times.items()}
    panda_agree = np.allclose(result["stickiness"], values, rtol=1e-9)
    report(rows, _versus("Stickiness (DAU / MAU), 36 months", ours, hand, panda, panda_agree))


def interleaved(works: dict[str, Callable[[], object]], repeat: int
                ) -> dict[str, tuple[float, object]]:
    """Each work's median seconds over ``repeat`` runs and its last result. The works run in
    turns, one run of each per round, so that a slow spell of a shared machine falls on all
    of them alike; a work stops repeating once its runs took ``REPEAT_BUDGET_SECONDS``.
    A work that times itself returns ``Timed``: its own seconds count, not the wall time."""
    times: dict[str, list[float]] = {name: [] for name in works}
    results: dict[str, object] = {}
    for _ in range(repeat):
        for name, work in works.items():
            if sum(times[name]) > REPEAT_BUDGET_SECONDS:
                continue
            started = time.perf_counter()
            result = work()
            seconds = time.perf_counter() - started
            if isinstance(result, Timed):
                seconds, result = result
            times[name].append(seconds)
            results[name] = result
    return {name: (statistics.median(times[name]), results[name]) for name in works}


def _agree(result: pd.DataFrame, expected: dict[str, np.ndarray]) -> bool:
    """Whether a baseline's columns (those it has) match csmetrics' figures per month: money
    to 1e-9 relative, counts exactly."""
    return all(np.allclose(result[c].astype(float), v.astype(float), rtol=1e-9, atol=1e-6)
               for c, v in expected.items() if c in result.columns)


class Timed(NamedTuple):
    """A result with the seconds its work measured itself."""

    seconds: float
    result: object


def pandas_baseline(kind: str, folder: Path, first: date, last: date) -> Timed:
    """One run of a pandas baseline in its own process (``pandas_job.py``): the seconds of
    its computation (reading the files not included) and its values per month, by column."""
    done = subprocess.run(
        [sys.executable, str(HERE / "pandas_job.py"), kind, str(folder), first.isoformat(),
         last.isoformat(), END.isoformat(), "1"],
        capture_output=True, text=True, check=True)
    out = json.loads(done.stdout)
    return Timed(out["seconds"], out["values"])


def _versus(work: str, ours: float, hand: dict[str, tuple[float, bool]], panda: float,
            panda_agree: bool) -> Row:
    best = min((s for s, ok in hand.values() if ok), default=float("nan"))
    formulations = "; ".join(f"{n} {s:.2f} s{'' if ok else ' (DISAGREES)'}"
                             for n, (s, ok) in hand.items())
    ok = ours <= 1.25 * best and panda >= 4 * ours
    return (work, f"{ours:.2f} s",
            f"hand SQL: {formulations}; best {best:.2f} s, ours {ours / best:.2f}x of it. "
            f"pandas {panda:.2f} s ({panda / ours:.2f}x ours"
            f"{'' if panda_agree else ', DISAGREES'})",
            f"targets <= 1.25x best SQL, pandas >= 4x: {verdict(ok)}")


COLD = """
import sys, time
from pathlib import Path
from typing import NamedTuple
from csmetrics import Workspace
started = time.perf_counter()
with Workspace.load(Path(sys.argv[1])) as ws:
    ws.query(list(sys.argv[2].split(',')), period='month', stored=sys.argv[3] == 'stored')
print(time.perf_counter() - started)
"""


def bench_serving(ws: Workspace, repeat: int, rows: list[Row]) -> None:
    """The dashboard overview's data (cold: a new process; warm: again in this one), health
    scoring and churn-model scoring."""
    ws.close()
    for how in ("live", "stored"):
        colds = [float(subprocess.run(
            [sys.executable, "-c", COLD, str(ws.root), ",".join(OVERVIEW), how],
            capture_output=True, text=True, check=True).stdout) for _ in range(repeat)]
        warm, _ = timed(lambda h=how: ws.query(list(OVERVIEW), period="month",
                                               stored=h == "stored"), repeat)
        ws.close()  # the next cold process opens the workspace's database file
        report(rows, (f"dashboard overview data (7 metrics, 12 months), {how}",
                     f"cold {statistics.median(colds):.2f} s, warm {warm:.2f} s",
                     "cold: a new process (opening the workspace included); stored: read "
                     "from the refresh's results, as the dashboard does while they are "
                     "current" if how == "stored" else "computed from the data", ""))
    health, scores = timed(lambda: ws.health(), repeat)
    report(rows, ("health scoring, all accounts", f"{health:.2f} s",
                 f"{len(scores.scores):,} accounts", ""))
    try:
        train, _ = timed(lambda: ws.churn_train(), 1)
        score, frame = timed(lambda: ws.churn_scores(), repeat)
    except Exception as exc:  # noqa: BLE001 - a failure is a result to report, not to hide
        report(rows, ("churn model: train / score", "failed", f"{type(exc).__name__}: {exc}",
                     ""))
        return
    report(rows, ("churn model: train (once) / score every paying account",
                 f"{train:.1f} s / {score:.2f} s", f"{len(frame):,} accounts scored", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 200,000 customers")
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    args = parser.parse_args()
    started = time.perf_counter()
    files = company(args.scale, args.months, args.memory_limit)
    rows: list[Row] = []
    bench_ingest(files, args.memory_limit, args.repeat, rows)
    ws = bench_refresh(files, args.memory_limit, args.repeat, rows)
    bench_queries(ws, args.repeat, rows)
    bench_serving(ws, args.repeat, rows)
    ws.close()
    rss = peak_rss_mb()
    report(rows, ("peak RSS of the benchmark process", f"{rss:,.0f} MB",
                 f"DuckDB memory_limit {args.memory_limit}", f"target < 4 GiB: "
                 f"{verdict(rss < 4096)}"))
    customers = max(100, int(200_000 * args.scale))
    events = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{files}/now/usage_events-*.parquet')").fetchall()[0][0]
    lines = [
        "# Benchmarks", "",
        f"Command: `python bench/run.py --scale {args.scale:g} --months {args.months} "
        f"--repeat {args.repeat} --memory-limit {args.memory_limit}` "
        f"({customers:,} customers, {events:,} usage events; query figures are medians of "
        f"{args.repeat} runs; the month after is the data from "
        f"{CUT + pd.Timedelta(days=1):%Y-%m-%d} to {END}; run took "
        f"{(time.perf_counter() - started) / 60:.0f} min).",
        f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, "
        f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores, "
        f"DuckDB {duckdb.__version__}; shared with other jobs, so compare ratios within a run.",
        "", "| work | csmetrics | baselines, same run | target |", "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows], "",
    ]
    text = "\n".join(lines)
    sys.stdout.write(text + "\n")
    notes = args.out.read_text().partition(NOTES)[2] if args.out.exists() else ""
    args.out.write_text(text + ("\n" + NOTES + notes if notes else ""))


if __name__ == "__main__":
    main()
