"""The benchmark's company: the demo generator's files, cached per scale, and the same
company as it stood a month before its end (to measure loading and refreshing a new month)."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb

from csmetrics.demo import write_company
from csmetrics.metrics.context import AS_OF

HERE = Path(__file__).parent
END = date(2025, 12, 31)  # fixed, so cached data stays valid
CUT = date(END.year, END.month, 1) - timedelta(days=1)  # "then": the data ends a month earlier
FIRST = ("customers", "exchange_rates")  # loaded first: the other tables refer to them


def table_of(path: Path) -> str:
    """The canonical table a generated file holds (``usage_events-003.parquet``)."""
    return path.name.split(".")[0].split("-")[0]


def company(scale: float, months: int, memory_limit: str) -> Path:
    """``now/`` (Parquet), ``then/`` (as of ``CUT``) and ``usage_events.csv``, generated
    once per scale and months and cached under ``bench/.cache``."""
    folder = HERE / ".cache" / f"scale-{scale:g}-{months}m"
    if (folder / "done-v2").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    customers = max(100, int(200_000 * scale))
    write_company(folder / "now", customers=customers, months=months, seed=1, end=END)
    con = duckdb.connect(config={"memory_limit": memory_limit} if memory_limit else {})
    (folder / "then").mkdir()
    for path in sorted((folder / "now").glob("*.parquet")):
        known, revealed = AS_OF[table_of(path)]
        blanked = ", ".join(f"CASE WHEN CAST({c} AS DATE) <= $cut THEN {c} END AS {c}"
                            for c in revealed)
        select = f"* REPLACE ({blanked})" if revealed else "*"
        con.execute(f"COPY (SELECT {select} FROM read_parquet($src) "
                    f"WHERE CAST({known} AS DATE) <= $cut) TO '{folder / 'then' / path.name}'",
                    {"src": str(path), "cut": CUT})
    con.execute(f"COPY (SELECT * FROM read_parquet('{folder}/now/usage_events-*.parquet')) "
                f"TO '{folder}/usage_events.csv' (HEADER)")
    (folder / "done-v2").touch()
    return folder


def tables_in_order(folder: Path) -> list[tuple[str, list[Path]]]:
    """Each table's files, customers and exchange rates first."""
    files = sorted(folder.glob("*.parquet"))
    tables = sorted({table_of(p) for p in files}, key=lambda t: (t not in FIRST, t))
    return [(t, [p for p in files if table_of(p) == t]) for t in tables]
