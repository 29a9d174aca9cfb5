"""The layout of csmetrics' own tables, versioned: numbered migrations and ``_schema_version``.

Opening a warehouse for writing (``Warehouse.open``) calls :func:`upgrade`: every migration
newer than the warehouse's version runs in order, each in its own transaction together with
the row in ``_schema_version`` that records it, so an interrupted upgrade resumes where it
stopped. A warehouse made before versions were recorded (no ``_schema_version``: some app
tables present, some missing, some with an older column set) counts as version 0 and is
brought to the current version by the same migrations, which are written to accept it.
A warehouse whose version is newer than this code knows is refused (:func:`check`).

Adding a migration: append ``Migration(N + 1, "what it does", function)`` to ``MIGRATIONS``
(never renumber or change a released one) and update the table's statement in
``app_tables.py`` so that a new warehouse gets the same layout directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from csmetrics._version import __version__
from csmetrics.clock import default_clock
from csmetrics.errors import UserInputError
from csmetrics.store.app_tables import APP_TABLES, SEQUENCES, VERSION_TABLE, VERSION_TABLE_DDL
from csmetrics.store.sql import first, quote_ident, transaction

__all__ = ["LATEST", "MIGRATIONS", "Migration", "check", "current_version", "upgrade"]


@dataclass(frozen=True)
class Migration:
    """One step of the layout: ``apply`` runs inside the migration's transaction."""

    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
        "AND schema_name = current_schema()", [table]).fetchall()}


def _add_column(con: duckdb.DuckDBPyConnection, table: str, column: str, dtype: str) -> bool:
    """Add ``column`` to ``table`` unless it has it; whether it was added."""
    if column in _columns(con, table):
        return False
    con.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(column)} {dtype}")
    return True


def _create_app_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every app table (and the sequences their ids come from) as the code of schema
    version 1 declares it; a table that exists already (an older warehouse) is kept as it
    is, for the later migrations to bring up to date."""
    for statement in SEQUENCES.values():
        con.execute(statement)
    for statement in APP_TABLES.values():
        con.execute(statement)


def _batch_changes_beyond_facts(con: duckdb.DuckDBPyConnection) -> None:
    """``_batch_changes.earliest_beyond_facts``: batches recorded before later facts were
    told apart count from their ``earliest`` day for every metric."""
    if _add_column(con, "_batch_changes", "earliest_beyond_facts", "DATE"):
        con.execute("UPDATE _batch_changes SET earliest_beyond_facts = earliest")


def _batch_changes_fact_days(con: duckdb.DuckDBPyConnection) -> None:
    """``_batch_changes.fact_days``: batches recorded before the days of the rows whose later
    facts changed were listed have no list, so they count from ``earliest`` again."""
    if _add_column(con, "_batch_changes", "fact_days", "DATE[]"):
        con.execute("UPDATE _batch_changes SET earliest_beyond_facts = earliest")


def _health_runs_basis(con: duckdb.DuckDBPyConnection) -> None:
    """``_health_runs.settings`` and ``last_batch``: what a snapshot was computed from, so a
    server can read it instead of scoring again. Older snapshots have neither, and are
    never taken as current."""
    _add_column(con, "_health_runs", "settings", "VARCHAR")
    _add_column(con, "_health_runs", "last_batch", "BIGINT")


def _survival_outputs(con: duckdb.DuckDBPyConnection) -> None:
    """The survival run's confidence-band transform and restricted mean lifetime, stored
    with its curves and summary (older runs have them empty)."""
    _add_column(con, "_survival_curves", "ci_transform", "VARCHAR")
    _add_column(con, "_survival_summary", "ci_transform", "VARCHAR")
    _add_column(con, "_survival_summary", "rmst_months", "DOUBLE")
    _add_column(con, "_survival_summary", "rmst_horizon_months", "DOUBLE")


def _health_scores_coverage(con: duckdb.DuckDBPyConnection) -> None:
    """``_health_scores.coverage``: the share of the scorecard's weight backed by data.
    Older snapshots have it empty (their scorecard had no coverage rule)."""
    _add_column(con, "_health_scores", "coverage", "DOUBLE")


def _table_versions(con: duckdb.DuckDBPyConnection) -> None:
    """``_table_versions``: the current version of each table of a Spark workspace's lake."""
    con.execute(APP_TABLES["_table_versions"])


def _models(con: duckdb.DuckDBPyConnection) -> None:
    """``_models``: the trained models, in the app store so that several servers share
    them. Models saved before have their files only (``models/``), which still load."""
    con.execute(APP_TABLES["_models"])


#: Every migration, in order; the position of each is its version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "create the app tables", _create_app_tables),
    Migration(2, "add _batch_changes.earliest_beyond_facts", _batch_changes_beyond_facts),
    Migration(3, "add _batch_changes.fact_days", _batch_changes_fact_days),
    Migration(4, "add _health_runs.settings and last_batch", _health_runs_basis),
    Migration(5, "add the survival band transform and restricted mean", _survival_outputs),
    Migration(6, "add _health_scores.coverage", _health_scores_coverage),
    Migration(7, "add _table_versions (the lake's current versions)", _table_versions),
    Migration(8, "add _models (trained models, shared by the servers)", _models),
)
#: The version this code writes and expects.
LATEST = MIGRATIONS[-1].version


def _has_version_table(con: duckdb.DuckDBPyConnection) -> bool:
    row = first(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? "
        "AND schema_name = current_schema()", [VERSION_TABLE]))
    return bool(row and row[0])


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The warehouse's version: the newest migration applied (0: none recorded, a new
    warehouse or one made before versions were recorded)."""
    if not _has_version_table(con):
        return 0
    row = first(con.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}"))
    return int(row[0]) if row else 0


def check(con: duckdb.DuckDBPyConnection) -> int:
    """The warehouse's version; an error when it is newer than this code knows."""
    version = current_version(con)
    if version > LATEST:
        row = first(con.execute(f"SELECT applied_by FROM {VERSION_TABLE} "
                                "ORDER BY version DESC LIMIT 1"))
        by = f" (by csmetrics {row[0]})" if row else ""
        raise UserInputError(
            f"This warehouse's tables are at schema version {version}{by}, newer than the "
            f"version {LATEST} this csmetrics {__version__} knows. Upgrade csmetrics "
            "(pip install --upgrade csmetrics) to open it; an older csmetrics could damage "
            "it."
        )
    return version


def upgrade(con: duckdb.DuckDBPyConnection) -> list[Migration]:
    """Apply every pending migration in order, each in its own transaction with its
    ``_schema_version`` row; returns those applied (none when the warehouse is current)."""
    version = check(con)
    if version == LATEST:
        return []
    con.execute(VERSION_TABLE_DDL)
    applied = []
    for migration in MIGRATIONS:
        if migration.version <= version:
            continue
        with transaction(con):
            # another connection may have applied it since we looked
            if current_version(con) >= migration.version:
                continue
            migration.apply(con)
            con.execute(f"INSERT INTO {VERSION_TABLE} VALUES (?, ?, ?, ?)",
                        [migration.version, migration.description, __version__,
                         default_clock().now()])
        applied.append(migration)
    return applied
