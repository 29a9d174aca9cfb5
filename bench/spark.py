"""Spark local against DuckDB, and how each grows from 20,000 to 200,000 customers.

For each size, the same company (``company.py``: months of history, the data a month before
its end, then the month after) goes through the same steps in two workspaces, one on DuckDB
and one on Spark (local mode) with a lake (``[engine] lake``, see ``docs/stores.md``): ingest
the files as of a month before the end, full refresh by month (total and the default
segments; the command, so text sentiment, the health snapshot and the alert rules too), load
the month after (an upsert of every table), incremental refresh. Each step is timed, and the
two workspaces' stored results (``metric_values()``) are compared after each refresh (counts
exactly, values within 1e-9 relative). Each size and engine runs in a process of its own (one
JVM per size, sized for it). Figures are medians of ``--rounds``.

    python bench/spark.py --sizes 2000 --months 6 --rounds 1 --out /tmp/spark.md  # ~5 min
    python bench/spark.py --sizes 20000,40000,80000,160000 --months 12
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from company import HERE, company
from run import load, workspace

from csmetrics import Workspace

SECTION = "## Spark local vs DuckDB"
#: Kept from one run to the next: the hand-written part of this file's section.
HAND = "### Notes (by hand)"
KEYS = ["metric", "grain", "period_start", "segment_by", "segment"]
GRAINS = ["month"]
CACHE = HERE / ".cache" / "spark"
REL, ABS = 1e-9, 1e-12
#: The customers of the company the docs extrapolate to.
TARGET_CUSTOMERS = 20_000_000
ENGINES = {"duckdb": "DuckDB", "spark": "Spark"}


# --- one engine, one size (a child process) -------------------------------------------

def run_steps(engine: str, size: int, months: int, rounds: int, memory_limit: str,
              cores: int, spark_memory: str) -> dict[str, object]:
    """Ingest, full refresh, the month after, incremental refresh in a new workspace on
    ``engine``; the stored results after each refresh go to ``CACHE/<size>/<engine>-*``."""
    files = company(size / 200_000, months, memory_limit)
    out = CACHE / str(size)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{engine}-*.parquet"):
        old.unlink()
    root = out / f"{engine}-ws"
    events = sum(pq.ParquetFile(f).metadata.num_rows
                 for f in (files / "now").glob("usage_events-*.parquet"))
    settings = spark_settings(events, cores, spark_memory)
    ingests, fulls, loads, incrementals = [], [], [], []
    for _ in range(rounds):
        ws = (workspace(root, memory_limit) if engine == "duckdb"
              else lake_workspace(root, memory_limit, settings))
        ingests.append(timed(load, ws, files / "then"))
        fulls.append(timed(ws.refresh, full=True, grains=GRAINS))
        ws.metric_values().to_parquet(out / f"{engine}-full.parquet")
        loads.append(timed(load, ws, files / "now"))
        incrementals.append(again := timed(ws.refresh, grains=GRAINS))
        assert again[1]["mode"] == "incremental", again[1]["reason"]
        ws.metric_values().to_parquet(out / f"{engine}-incremental.parquet")
        assert engine == "duckdb" or ws.warehouse.lake is not None
        ws.close()
    result: dict[str, object] = {
        "rows_then": ingests[-1][1], "events": events,
        "ingest": statistics.median(s for s, _ in ingests),
        "full": statistics.median(s for s, _ in fulls),
        "full_metrics": statistics.median(r["seconds"] for _, r in fulls),
        "load_after": statistics.median(s for s, _ in loads),
        "incremental": statistics.median(s for s, _ in incrementals),
        "incremental_metrics": statistics.median(r["seconds"] for _, r in incrementals)}
    if engine == "spark":
        result["shuffle_partitions"] = int(settings["spark.sql.shuffle.partitions"])
    return result


def timed(step: Callable[..., Any], *args: object, **kwargs: object) -> tuple[float, Any]:
    """The seconds ``step(*args, **kwargs)`` took, and what it returned."""
    started = time.perf_counter()
    returned = step(*args, **kwargs)
    return time.perf_counter() - started, returned


def lake_workspace(root: Path, memory_limit: str, spark: dict[str, str]) -> Workspace:
    """A new Spark workspace with a lake (``root/lake``), the Spark ``settings`` under
    ``[engine.spark]`` and the catalog's DuckDB limits as on the DuckDB side."""
    shutil.rmtree(root, ignore_errors=True)
    Workspace.init(root, name="bench", engine_url=f"pyspark://{spark['spark.master']}",
                   lake="lake").close()
    config = root / "csmetrics.toml"
    text = config.read_text()
    text = text.replace('memory_limit = ""', f'memory_limit = "{memory_limit}"')
    text = text.replace('temp_directory = ""', f'temp_directory = "{root / "spill"}"')
    text += "\n[engine.spark]\n" + "".join(f'"{k}" = "{v}"\n' for k, v in spark.items()
                                            if k != "spark.master")
    config.write_text(text)
    return Workspace.load(root)


def spark_settings(events: int, cores: int, memory: str) -> dict[str, str]:
    """Spark settings for a company of ``events`` usage events on ``cores`` local cores:
    about one shuffle partition per 500,000 events and at least two per core (adaptive
    execution merges the small ones), the driver's memory (local mode: it is the executor
    too), results to pandas through Arrow."""
    from csmetrics.store.engines import SPARK_DEFAULTS

    scratch = CACHE / "spark-tmp"
    return {**SPARK_DEFAULTS,
            "spark.master": f"local[{cores}]",
            "spark.driver.memory": memory,
            "spark.sql.shuffle.partitions": str(max(2 * cores, math.ceil(events / 500_000))),
            "spark.sql.adaptive.enabled": "true",
            "spark.sql.adaptive.coalescePartitions.enabled": "true",
            "spark.local.dir": str(scratch / "local"),
            "spark.sql.warehouse.dir": str(scratch / "warehouse")}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(KEYS, kind="stable").reset_index(drop=True)


# --- comparison -----------------------------------------------------------------------

def differences(left: pd.DataFrame, right: pd.DataFrame) -> list[str]:
    """How two engines' stored results differ (empty: identical): the same rows, the same
    counts, null reasons and text, numbers within ``REL`` relative."""
    left, right = (_sorted(f.assign(period_start=pd.to_datetime(f.period_start).dt.date))
                   for f in (left, right))
    if len(left) != len(right) or not left[KEYS].equals(right[KEYS]):
        extra = pd.concat([left[KEYS], right[KEYS]]).drop_duplicates(keep=False)
        return [f"{len(left):,} rows against {len(right):,}; first unmatched: "
                f"{extra.head(3).to_dict('records')}"]
    found = []
    for column in ("n", "null_reason"):
        a, b = (f[column].astype(object).where(f[column].notna(), "-").astype(str)
                for f in (left, right))
        bad = (a != b).to_numpy()
        found += [f"{column}: {_where(left, i)} {a[i]!r} against {b[i]!r}"
                  for i in np.flatnonzero(bad)[:3]]
    for column in ("value", "ci_low", "ci_high", "target"):
        a = left[column].astype(float).to_numpy()
        b = right[column].astype(float).to_numpy()
        bad = ~np.isclose(a, b, rtol=REL, atol=ABS, equal_nan=True)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            worst = np.nanmax(np.abs(a[bad] - b[bad]) / np.abs(a[bad]))
            metrics = ", ".join(sorted(set(left.metric[bad])))
            found.append(f"{column}: {bad.sum():,} of {len(a):,} rows ({metrics}), at most "
                         f"{worst:.1e} relative; first {_where(left, i)}: {float(a[i])!r} "
                         f"against {float(b[i])!r}")
    for i, (a, b) in enumerate(zip(left["details"], right["details"], strict=True)):
        a, b = json.loads(a or "{}"), json.loads(b or "{}")
        if a.keys() != b.keys() or any(
                not math.isclose(v, b[k], rel_tol=REL, abs_tol=ABS)
                if isinstance(v, float) and isinstance(b[k], int | float) else v != b[k]
                for k, v in a.items()):
            found.append(f"details: {_where(left, i)} {a} against {b}")
            if len(found) > 8:
                break
    return found


def _where(frame: pd.DataFrame, i: int) -> str:
    row = frame.iloc[i]
    return f"{row.metric} {row.period_start:%Y-%m} {row.segment_by}={row.segment}"


# --- the run: sizes in turn, each engine in its own process ----------------------------

def child(args: list[str], timeout: float) -> dict[str, object] | str:
    """The JSON a child run printed, or why it gave none (its process group is ended after
    ``timeout`` seconds)."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        process.communicate()
        return f"stopped after {timeout / 60:.0f} min"
    if process.returncode != 0:
        return f"failed (exit {process.returncode}; its error is above)"
    return json.loads(stdout.strip().splitlines()[-1])


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """k of the least-squares fit seconds ~ a * size^k (log-log)."""
    if len(sizes) < 2:
        return float("nan")
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def predicted(sizes: list[int], seconds: list[float], size: int) -> float:
    """Seconds the fitted curve gives for ``size`` (linear growth from one point)."""
    if len(sizes) < 2:
        return seconds[-1] * size / sizes[-1]
    k, log_a = np.polyfit(np.log(sizes), np.log(seconds), 1)
    return float(math.exp(log_a) * size ** k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,40000,80000,160000",
                        help="customers, comma-separated, smallest first")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--memory-limit", default="3GB", help="DuckDB memory limit")
    parser.add_argument("--spark-memory", default="4g", help="Spark driver memory")
    parser.add_argument("--cores", type=int, default=2, help="Spark local[cores]")
    parser.add_argument("--budget", type=float, default=30.0,
                        help="minutes per engine: a size whose predicted time does not fit "
                             "in what is left is skipped, and a child run stops after it")
    parser.add_argument("--reuse", action="store_true",
                        help="take a size's figures from an earlier run with the same "
                             "arguments where it saved them (a run cut short goes on)")
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "benchmarks.md")
    parser.add_argument("--child", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_steps(args.child, args.size, args.months, args.rounds,
                                   args.memory_limit, args.cores, args.spark_memory)))
        return
    started = time.perf_counter()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    common = ["--months", str(args.months), "--rounds", str(args.rounds), "--memory-limit",
              args.memory_limit, "--spark-memory", args.spark_memory, "--cores", str(args.cores)]
    results: dict[int, dict[str, object]] = {}
    spent = {"duckdb": 0.0, "spark": 0.0}
    earlier = 0.0  # the seconds of the children an earlier run did (--reuse)
    for size in sizes:
        company(size / 200_000, args.months, args.memory_limit)  # generated outside the clock
        result: dict[str, object] = {}
        for engine in ("duckdb", "spark"):
            done = [s for s in results if isinstance(results[s].get(engine), dict)]
            left = args.budget * 60 - spent[engine]
            saved = CACHE / str(size) / f"result-{engine}.json"
            saved.parent.mkdir(parents=True, exist_ok=True)
            if args.reuse and saved.exists():
                result[engine] = earlier_run = json.loads(saved.read_text())
                earlier += float(earlier_run["seconds"]) if isinstance(earlier_run, dict) else 0
                spent[engine] += float(earlier_run["seconds"]) if isinstance(earlier_run,
                                                                             dict) else 0
                continue
            if done:
                guess = predicted(done, [results[s][engine]["seconds"] for s in done], size)
                if guess > left:
                    result[engine] = (f"skipped: about {guess / 60:.0f} min predicted, "
                                      f"{left / 60:.0f} min of the budget left")
                    continue
            sys.stderr.write(f"{engine}, {size:,} customers...\n")
            begun = time.perf_counter()
            result[engine] = outcome = child(["--child", engine, "--size", str(size), *common],
                                             timeout=max(left, 60))
            spent[engine] += time.perf_counter() - begun
            if isinstance(outcome, dict):
                outcome["seconds"] = time.perf_counter() - begun
            saved.write_text(json.dumps(outcome))  # a stop is a result too
            sys.stderr.write(f"  {result[engine]}\n")
        if all(isinstance(result.get(engine), dict) for engine in ENGINES):
            out = CACHE / str(size)
            result["same"] = {step: differences(pd.read_parquet(out / f"duckdb-{step}.parquet"),
                                                pd.read_parquet(out / f"spark-{step}.parquet"))
                              for step in ("full", "incremental")}
            for step, found in result["same"].items():
                for line in found:
                    sys.stderr.write(f"  {step} differs: {line}\n")
        results[size] = result
    text = section(args, results, (time.perf_counter() - started + earlier) / 60)
    sys.stdout.write(text + "\n")
    write_section(args.out, text)


# --- the docs section ------------------------------------------------------------------

def section(args: argparse.Namespace, results: dict[int, dict[str, object]],
            minutes: float) -> str:
    """The generated part of the docs section: command, machine, tables, extrapolation."""
    import duckdb
    import pyspark

    lines = [
        SECTION, "",
        f"Command: `python bench/spark.py --sizes {args.sizes} --months {args.months} "
        f"--rounds {args.rounds} --memory-limit {args.memory_limit} --spark-memory "
        f"{args.spark_memory} --cores {args.cores} --budget {args.budget:g}` (companies from "
        f"`bench/company.py`: {args.months} months to the end of 2025; refresh by month only, "
        f"total and the default segments; the month after is December 2025, loaded as an "
        f"upsert of every table; figures are medians of {args.rounds} run(s); run took "
        f"{minutes:.0f} min).",
        f"Machine: {platform.machine()}, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores shared with other jobs, DuckDB "
        f"{duckdb.__version__} (memory limit {args.memory_limit}), Spark {pyspark.__version__} "
        f"local[{args.cores}] (driver memory {args.spark_memory}).",
        "Both engines ran the same steps, each in a new workspace: DuckDB (the default) and "
        "Spark with a lake (`[engine] lake`: the tables as versioned Parquet written through "
        "Spark; the ledger and the stored results in the workspace's DuckDB catalog). Times "
        "are the whole call: `Workspace.ingest` of every table's files, and "
        "`Workspace.refresh`, which adds text sentiment, the health snapshot and the alert "
        "rules to the metrics (the metrics part in brackets); after Spark's, its ratio to "
        "DuckDB's. *Same results*: the stored metric values after the full and after the "
        "incremental refresh, row for row (counts exactly, numbers within 1e-9 relative).", "",
        "| customers | usage events | engine | ingest | full refresh: command (metrics) "
        "| load the month after | incremental refresh: command (metrics) | same results |",
        "|---|---|---|---|---|---|---|---|"]
    for size, result in results.items():
        duck = result.get("duckdb")
        events = next((r["events"] for r in (duck, result.get("spark"))
                       if isinstance(r, dict)), None)
        for engine, label in ENGINES.items():
            ran = result.get(engine)
            first = [f"{size:,}", f"{events:,}" if events else ""] if engine == "duckdb" \
                else ["", ""]
            if not isinstance(ran, dict):
                lines.append("| " + " | ".join([*first, label, f"{ran}", "", "", "", ""])
                             + " |")
                continue
            base = duck if engine == "spark" and isinstance(duck, dict) else None
            same = result.get("same")
            verdict = "" if engine == "duckdb" or same is None else (
                "yes" if not any(same.values()) else
                "**no**: " + "; ".join(f"{k}: {'; '.join(v)}" for k, v in same.items() if v))
            lines.append("| " + " | ".join([
                *first, label, _cell(ran, base, "ingest"),
                _cell(ran, base, "full", "full_metrics"), _cell(ran, base, "load_after"),
                _cell(ran, base, "incremental", "incremental_metrics"), verdict])
                + " |")
    lines += ["", *growth(results), "", *extrapolation(args, results)]
    return "\n".join(lines)


def _cell(ran: dict, base: dict | None, key: str, metrics: str = "") -> str:
    """A step's seconds, its metrics part in brackets, and its ratio to ``base``'s."""
    text = f"{ran[key]:.1f} s"
    if metrics:
        text += f" ({ran[metrics]:.1f} s)"
    if base is not None:
        text += f", {ran[key] / base[key]:.1f}x"
    return text


def _series(results: dict[int, dict[str, object]], engine: str, key: str
            ) -> tuple[list[int], list[float]]:
    sizes = [s for s, r in results.items() if isinstance(r.get(engine), dict)]
    return sizes, [float(results[s][engine][key]) for s in sizes]


CURVES = [("ingest", "ingest"), ("full refresh, command", "full"),
          ("full refresh, metrics", "full_metrics"), ("load the month after", "load_after"),
          ("incremental, command", "incremental"), ("incremental, metrics",
                                                    "incremental_metrics")]


def growth(results: dict[int, dict[str, object]]) -> list[str]:
    """Per engine and step: time(2N) / time(N) between consecutive sizes, and the fitted
    exponent k of time ~ N^k."""
    lines = ["Growth with the customers: time(next size) / time(size) for each step of sizes "
             "(a doubling gives 2.0x when the time is linear), and k of the least-squares fit "
             "time ~ N^k over all sizes run.", "",
             "| step | " + " | ".join(f"{a:,} -> {b:,}" for a, b in pairwise(results))
             + " | fitted k |",
             "|---|" + "---|" * len(results)]
    for engine, name in ENGINES.items():
        for label, key in CURVES:
            sizes, seconds = _series(results, engine, key)
            steps = {(a, b): tb / ta for (a, ta), (b, tb) in
                     pairwise(zip(sizes, seconds, strict=True))}
            cells = [f"{steps[(a, b)]:.2f}x" if (a, b) in steps else "-"
                     for a, b in pairwise(results)]
            k = exponent(sizes, seconds)
            lines.append(f"| {name} {label} | " + " | ".join(cells)
                         + (f" | {k:.2f} |" if not math.isnan(k) else " | - |"))
    return lines


def affine(sizes: list[int], seconds: list[float]) -> tuple[float, float]:
    """``(c, b)`` of the least-squares line seconds = c + b * size: a fixed cost (planning and
    starting each of a refresh's queries) and a cost per customer (the rows); c is at least
    0 (with two noisy sizes the line can cross below it)."""
    b, c = np.polyfit(np.array(sizes, dtype=float), np.array(seconds), 1)
    return max(float(c), 0.0), float(b)


def extrapolation(args: argparse.Namespace, results: dict[int, dict[str, object]]) -> list[str]:
    """The paragraph on a 20 M-customer company, with its arithmetic: a fixed cost plus a
    cost per customer fitted on each engine's sizes (the power law's k, fitted where the
    fixed cost dominates, would understate the growth), the per-customer part spread over
    a cluster's cores."""
    lines = ["**What a 20 M-customer company needs.**"]
    spark_sizes, _ = _series(results, "spark", "full")
    duck_sizes, _ = _series(results, "duckdb", "full")
    if len(duck_sizes) < 2 or len(spark_sizes) < 2:
        return [*lines, "Too few sizes ran on both engines to fit a curve (two at least)."]
    n, cores, budget, history = TARGET_CUSTOMERS, args.cores, 3600.0, 3
    fit = {(e, k): affine(*_series(results, e, k)) for e in ENGINES
           for k in ("ingest", "full", "load_after", "incremental")}

    def line(engine: str, key: str, what: str) -> str:
        c, b = fit[(engine, key)]
        return (f"- {ENGINES[engine]} {what}: {c:,.0f} s + {b * 1000:.2f} s per 1,000 "
                f"customers on {cores} cores; at {n:,} customers the per-customer part is "
                f"{b:.2e} x {n:,} = {b * n:,.0f} s = {b * n * cores / 3600:,.1f} core-hours.")

    (cg, bg), (cf, bf) = fit[("spark", "ingest")], fit[("spark", "full")]
    (cl, bl), (ci, bi) = fit[("spark", "load_after")], fit[("spark", "incremental")]
    work = (bg + bf) * n * cores  # core-seconds: the first load and a full refresh
    fixed = cg + cf
    need = math.ceil(2 * history * work / (budget - fixed))  # x2: a cluster's shuffles
    month = cl + ci + 2 * history * (bl + bi) * n * cores / need
    dg, df = fit[("duckdb", "ingest")], fit[("duckdb", "full")]
    missing = [f"{s:,} ({r['spark']})" for s, r in results.items()
               if not isinstance(r.get("spark"), dict)]
    lines += [
        f"Each step's time fitted as a fixed cost plus a cost per customer (least squares "
        f"over the sizes each engine ran: Spark {', '.join(f'{s:,}' for s in spark_sizes)}; "
        f"DuckDB {', '.join(f'{s:,}' for s in duck_sizes)} customers; {args.months} months, "
        f"month grain), then taken {n / spark_sizes[-1]:,.0f}x beyond the largest Spark size:",
        line("spark", "ingest", "ingest (the data a month before the end)"),
        line("spark", "full", "full refresh (command)"),
        line("spark", "load_after", "load of the month after"),
        line("spark", "incremental", "incremental refresh (command)"),
        f"- DuckDB, for comparison: ingest {dg[0] + dg[1] * n:,.0f} s and full refresh "
        f"{df[0] + df[1] * n:,.0f} s ({(df[0] + df[1] * n) / 3600:,.1f} h) at {n:,} on this "
        f"2-core machine if the data fitted its memory, which it does not (below).",
        f"- A cluster that loads three years of history and refreshes it in full within an "
        f"hour: ({bg * n * cores / 3600:,.1f} + {bf * n * cores / 3600:,.1f}) core-hours x "
        f"{history} (36 months, not {args.months}) x 2 (shuffles over the network, which "
        f"local mode does not pay) = {2 * history * work / 3600:,.0f} core-hours, in the "
        f"{budget - fixed:,.0f} s an hour leaves after the fixed {cg:,.0f} s + {cf:,.0f} s: "
        f"about {need:,} cores, e.g. {math.ceil(need / 16):,} executors of 16 cores (at "
        f"least {args.spark_memory} per {cores} cores, as here). On it, each month's load "
        f"and incremental refresh: {cl:,.0f} s + {ci:,.0f} s fixed + "
        f"{2 * history * (bl + bi) * n * cores:,.0f} core-seconds / {need:,} cores = about "
        f"{month / 60:,.0f} min.",
        "",
        "Assumptions: (1) the queries are shuffle-bound group-bys and joins by customer and "
        "period, which Spark spreads over executors near-linearly, so the per-customer "
        "core-hours of local mode carry over, doubled for network shuffles; the fixed cost "
        "(some hundreds of jobs, each planned and scheduled) does not shrink with executors; "
        "(2) the data grows linearly with the customers (the generator's usage events, "
        "tickets and orders per customer are constant) and the work linearly with the data"
        + (f"; Spark did not reach {', '.join(missing)} here, so the growth beyond "
           f"{spark_sizes[-1]:,} customers is not measured and the cluster above is a lower "
           "bound" if missing else "")
        + "; (3) history multiplies the work about linearly where metrics scan every period; "
        "(4) ingest on a lake reads and checks the files in the catalog's DuckDB, on the "
        "machine that runs csmetrics, and only writes the new table versions through Spark: "
        "the check does not spread over the cluster (DuckDB's own ingest above is a guide "
        f"to its share: {dg[0] + dg[1] * n:,.0f} s at {n:,} customers, times {history} for "
        f"the history), so a first load of that size takes at least "
        f"{history * (dg[0] + dg[1] * n) / 60:,.0f} min whatever the cluster (and the bench's "
        "monthly load, every table's files again, about as long). DuckDB is one "
        "machine bounded by its memory: 200,000 customers over 36 months already needed a "
        "3 GB limit with spilling (the first table of this file); 100x the customers is a "
        "working set of a few hundred GB, beyond one ordinary machine, which is why a "
        "company of this size runs its refresh on Spark."]
    return lines


def write_section(path: Path, text: str) -> None:
    """Put the generated ``text`` in ``path`` in place of its ``SECTION`` (at the end when
    it has none), keeping the section's hand-written notes and every other section."""
    old = path.read_text() if path.exists() else ""
    before, found, rest = old.partition(SECTION)
    after = ""
    if found:
        ends = rest.find("\n## ")
        body, after = (rest, "") if ends < 0 else (rest[:ends + 1], rest[ends + 1:])
        notes = body.partition(HAND)
        if notes[1]:
            text += "\n\n" + HAND + notes[2].rstrip("\n")
    else:
        before = old.rstrip("\n") + "\n\n" if old else ""
    path.write_text(before + text.rstrip("\n") + "\n" + ("\n" + after if after else ""))


if __name__ == "__main__":
    main()
