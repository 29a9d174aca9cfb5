"""The benchmark's company: the demo generator's files, cached per scale, and the same
company as it stood a month before its end (to measure loading and refreshing a new month)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb

from csmetrics.demo import write_as_of, write_company

HERE = Path(__file__).parent
END = date(2025, 12, 31)  # fixed, so cached data stays valid
CUT = date(END.year, END.month, 1) - timedelta(days=1)  # "then": the data ends a month earlier


def company(scale: float, months: int, memory_limit: str) -> Path:
    """``now/`` (Parquet), ``then/`` (as of ``CUT``) and ``usage_events.csv``, generated
    once per scale and months and cached under ``bench/.cache``."""
    folder = HERE / ".cache" / f"scale-{scale:g}-{months}m"
    if (folder / "done-v2").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    customers = max(100, int(200_000 * scale))
    write_company(folder / "now", customers=customers, months=months, seed=1, end=END)
    write_as_of(folder / "now", folder / "then", CUT, memory_limit)
    con = duckdb.connect(config={"memory_limit": memory_limit} if memory_limit else {})
    con.execute(f"COPY (SELECT * FROM read_parquet('{folder}/now/usage_events-*.parquet')) "
                f"TO '{folder}/usage_events.csv' (HEADER)")
    (folder / "done-v2").touch()
    return folder
