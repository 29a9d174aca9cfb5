"""Creating the canonical tables and the bookkeeping tables csmetrics needs."""

from __future__ import annotations

import duckdb

from csmetrics.schema import TABLES

#: The ledger of loads: one row per batch, written in the same transaction as the data.
BATCHES_DDL = """
CREATE TABLE IF NOT EXISTS _batches (
  batch_id BIGINT,
  table_name VARCHAR,
  files VARCHAR[],
  content_hash VARCHAR,
  mode VARCHAR,
  rows_read BIGINT,
  inserted BIGINT,
  updated BIGINT,
  unchanged BIGINT,
  deleted BIGINT,
  orphans BIGINT,
  loaded_by VARCHAR,
  loaded_at TIMESTAMPTZ
)
"""


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical table and the batch ledger if they do not exist yet, and add
    the optional columns a newer csmetrics declares to the tables of an older warehouse."""
    con.execute("BEGIN")
    for table in TABLES.values():
        con.execute(table.ddl())
    con.execute(BATCHES_DDL)
    existing = {(t, c) for t, c in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema()").fetchall()}
    for table in TABLES.values():
        for column in table.columns:
            if (table.name, column.name) not in existing:
                con.execute(f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                            f"{column.dtype.sql}")
    con.execute("COMMIT")
