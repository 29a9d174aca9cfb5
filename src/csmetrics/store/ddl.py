"""Creating the canonical tables and, through the migrations, the tables csmetrics keeps for
itself (declared in ``app_tables.py``, versioned in ``migrations.py``)."""

from __future__ import annotations

import duckdb

from csmetrics.schema import TABLES
from csmetrics.store import migrations
from csmetrics.store.sql import transaction


def create_canonical(con: duckdb.DuckDBPyConnection) -> None:
    """Create every canonical table that does not exist yet, and add the optional columns a
    newer csmetrics declares to the tables of an older warehouse (the canonical layout is
    ``csmetrics.schema``'s declaration, not a migration)."""
    with transaction(con):
        for table in TABLES.values():
            con.execute(table.ddl())
        existing = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()").fetchall()}
        for table in TABLES.values():
            for column in table.columns:
                if (table.name, column.name) not in existing:
                    con.execute(f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                                f"{column.dtype.sql}")


def create_all(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a warehouse opened for writing up to date: the app tables to the current schema
    version (refusing one newer than this code knows, before anything is written), then the
    canonical tables."""
    migrations.upgrade(con)
    create_canonical(con)
