"""A generated company as it stood on an earlier day: the rows known by then, with the
values revealed later (an end date, a resolution) still empty. Loading the earlier files and
then the full ones is a company receiving its next month of data."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from csmetrics.demo.generator import LOAD_ORDER
from csmetrics.metrics.context import AS_OF


def table_of(path: Path) -> str:
    """The canonical table a generated file holds (``usage_events-003.parquet``)."""
    return path.name.split(".")[0].split("-")[0]


def files_by_table(folder: Path) -> list[tuple[str, list[Path]]]:
    """The Parquet files of ``folder`` per table, in ``LOAD_ORDER`` (customers and exchange
    rates first: the other tables refer to them)."""
    files = sorted(folder.glob("*.parquet"))
    order = {t: i for i, t in enumerate(LOAD_ORDER)}
    tables = sorted({table_of(p) for p in files}, key=lambda t: (order.get(t, len(order)), t))
    return [(t, [p for p in files if table_of(p) == t]) for t in tables]


def write_as_of(source: Path, target: Path, cut: date, memory_limit: str = "") -> None:
    """Copy every Parquet file of ``source`` to ``target`` as it stood on ``cut``."""
    target.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit} if memory_limit else {})
    for path in sorted(source.glob("*.parquet")):
        known, revealed = AS_OF[table_of(path)]
        blanked = ", ".join(f"CASE WHEN CAST({c} AS DATE) <= $cut THEN {c} END AS {c}"
                            for c in revealed)
        select = f"* REPLACE ({blanked})" if revealed else "*"
        con.execute(f"COPY (SELECT {select} FROM read_parquet($src) "
                    f"WHERE CAST({known} AS DATE) <= $cut) TO '{target / path.name}'",
                    {"src": str(path), "cut": cut})
    con.close()
