"""Materialised metric results: what refresh computed, read by the API and the dashboard
(``_metric_values``, ``_refreshes``, ``_refresh_basis``: see ``store/app_tables.py``)."""

from __future__ import annotations

import duckdb
import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.store.sql import replace_rows, transaction

COLUMNS = ["metric", "grain", "period_start", "segment_by", "segment", "value", "n", "ci_low",
           "ci_high", "null_reason", "target", "details"]
BASIS_COLUMNS = ["config", "last_batch", "first_day", "known_until", "rows"]


def replace_metric_values(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, run: dict[str, object],
    basis: dict[str, object] | None = None,
) -> None:
    """Swap the materialised results for ``rows`` in one transaction, and log the run
    (with ``basis``, what the results rest on: see ``_refresh_basis`` in
    ``store/app_tables.py``)."""
    frame = rows[COLUMNS]
    based = pd.DataFrame([] if basis is None else [{**basis, "rows": len(frame)}],
                         columns=BASIS_COLUMNS)
    with transaction(con):
        replace_rows(con, "_metric_values", frame)
        con.execute(
            "INSERT INTO _refreshes VALUES ($at, $grains, $segments, $first, $last, $rows, "
            "$seconds)", {k: run[k] for k in ("grains", "segments", "first", "last", "rows",
                                              "seconds")} | {"at": default_clock().now()},
        )
        replace_rows(con, "_refresh_basis", based)


def read_metric_values(
    con: duckdb.DuckDBPyConnection, metric: str | None = None, grain: str | None = None,
    segment_by: str | None = None,
) -> pd.DataFrame:
    """Materialised rows, optionally for one metric, grain and segmentation."""
    sql = "SELECT * FROM _metric_values WHERE 1 = 1"
    params: dict[str, object] = {}
    for column, value in (("metric", metric), ("grain", grain), ("segment_by", segment_by)):
        if value is not None:
            sql += f" AND {column} = ${column}"
            params[column] = value
    return con.execute(sql + " ORDER BY metric, grain, segment_by, segment, period_start",
                       params).df()


def read_basis(con: duckdb.DuckDBPyConnection) -> dict[str, object] | None:
    """What the stored results rest on, or None when they cannot be trusted as a base for an
    incremental refresh (never refreshed, or ``_metric_values`` changed since)."""
    rows = con.execute("SELECT config, last_batch, first_day, known_until, rows "
                       "FROM _refresh_basis").fetchall()
    if len(rows) != 1:
        return None
    basis = dict(zip(("config", "last_batch", "first_day", "known_until", "rows"), rows[0],
                     strict=True))
    stored = con.execute("SELECT count(*) FROM _metric_values").fetchall()[0][0]
    return basis if stored == basis["rows"] else None
