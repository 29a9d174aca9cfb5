"""Materialised metric results: what refresh computed, read by the API and the dashboard."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

METRIC_VALUES_DDL = """
CREATE TABLE IF NOT EXISTS _metric_values (
  metric VARCHAR,
  grain VARCHAR,
  period_start DATE,
  segment_by VARCHAR,      -- '' for the total, else the segment columns joined by ','
  segment VARCHAR,         -- JSON object of the segment values ('{}' for the total)
  value DOUBLE,
  n BIGINT,
  ci_low DOUBLE,
  ci_high DOUBLE,
  null_reason VARCHAR,
  target DOUBLE,
  details VARCHAR          -- JSON object of the metric's extra columns
)
"""

REFRESHES_DDL = """
CREATE TABLE IF NOT EXISTS _refreshes (
  refreshed_at TIMESTAMPTZ,
  grains VARCHAR[],
  segments VARCHAR[],
  first_period DATE,
  last_period DATE,
  rows BIGINT,
  seconds DOUBLE
)
"""

#: What the stored results rest on, so the next refresh can tell what it must recompute.
BASIS_DDL = """
CREATE TABLE IF NOT EXISTS _refresh_basis (
  config VARCHAR,          -- fingerprint of the settings, grains, segments and metric code
  last_batch BIGINT,       -- the newest ingest batch the results include
  first_day DATE,          -- the first day of the data
  known_until DATE,        -- the last day of the data
  rows BIGINT              -- rows written to _metric_values
)
"""

COLUMNS = ["metric", "grain", "period_start", "segment_by", "segment", "value", "n", "ci_low",
           "ci_high", "null_reason", "target", "details"]


def replace_metric_values(
    con: duckdb.DuckDBPyConnection, rows: pd.DataFrame, run: dict[str, object],
    basis: dict[str, object] | None = None,
) -> None:
    """Swap the materialised results for ``rows`` in one transaction, and log the run
    (with ``basis``, what the results rest on: see ``BASIS_DDL``)."""
    con.execute(METRIC_VALUES_DDL)
    con.execute(REFRESHES_DDL)
    con.execute(BASIS_DDL)
    frame = rows[COLUMNS]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM _metric_values")
        con.register("__refreshed", frame)
        con.execute("INSERT INTO _metric_values SELECT * FROM __refreshed")
        con.unregister("__refreshed")
        con.execute(
            "INSERT INTO _refreshes VALUES ($at, $grains, $segments, $first, $last, $rows, "
            "$seconds)", {k: run[k] for k in ("grains", "segments", "first", "last", "rows",
                                              "seconds")} | {"at": datetime.now().astimezone()},
        )
        con.execute("DELETE FROM _refresh_basis")
        if basis is not None:
            con.execute("INSERT INTO _refresh_basis VALUES ($config, $last_batch, $first_day, "
                        "$known_until, $rows)", {**basis, "rows": len(frame)})
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_metric_values(
    con: duckdb.DuckDBPyConnection, metric: str | None = None, grain: str | None = None,
    segment_by: str | None = None,
) -> pd.DataFrame:
    """Materialised rows, optionally for one metric, grain and segmentation."""
    con.execute(METRIC_VALUES_DDL)
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
    con.execute(METRIC_VALUES_DDL)
    con.execute(BASIS_DDL)
    rows = con.execute("SELECT config, last_batch, first_day, known_until, rows "
                       "FROM _refresh_basis").fetchall()
    if len(rows) != 1:
        return None
    basis = dict(zip(("config", "last_batch", "first_day", "known_until", "rows"), rows[0],
                     strict=True))
    stored = con.execute("SELECT count(*) FROM _metric_values").fetchall()[0][0]
    return basis if stored == basis["rows"] else None
