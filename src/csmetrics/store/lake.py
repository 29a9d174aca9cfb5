"""The lake: canonical tables as folders of Parquet files that Spark reads and writes.

A Spark workspace (``engine.url = "pyspark://..."`` with ``[engine] lake = "DIR"``) keeps each
canonical table as a *version*: a folder ``DIR/<table>/v-<id>/`` of Parquet files, written
whole and never changed. Which version is current is one row of ``_table_versions`` in the
workspace's catalog (its DuckDB file, which also holds the ingest ledger and the results).

A batch is atomic by "write aside, then swap": Spark writes the new version into a new
folder (the stored rows the batch leaves alone, plus the batch's new and changed rows); then
one catalog transaction records the batch in the ledger and points the table at the new
folder. A failure before the swap leaves a folder nobody points at (removed at once, or,
after a crash, when the workspace next opens for writing and by the next load of that table);
readers see the old version or the new one, never a mix.

Both engines read the current versions: Spark through temporary views of the session
(metrics, health scores, rules run there), the catalog's DuckDB through views over the same
files (the dashboard's row lists, ingest's checks against stored rows).

Results that metric definitions read back on the engine (text sentiment, the survival
summary) live in the catalog and are *published*: copied into the lake as a version after
they are written, so Spark sees them too. The other way round, a canonical table mapped to
the company's own (``[engine] tables``) is *mirrored* at each refresh: Spark copies it into
the lake, so the catalog's readers see it as of that refresh while Spark reads it live.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csmetrics.clock import default_clock
from csmetrics.schema import TABLES
from csmetrics.store.sql import first, quote_ident, quote_literal, transaction

if TYPE_CHECKING:
    import duckdb
    from ibis.backends import BaseBackend

__all__ = ["PUBLISHED", "Lake"]

#: Catalog tables metric definitions read on the engine, copied into the lake when written.
PUBLISHED = ("_text_sentiment", "_survival_summary")
#: Versions kept besides the current one, for queries that started before a swap.
KEEP_PREVIOUS = 1


class Lake:
    """The lake folder ``root`` and the catalog connection ``catalog`` that says which version
    of each table is current."""

    def __init__(self, root: Path, catalog: duckdb.DuckDBPyConnection) -> None:
        self.root = root
        self.catalog = catalog

    # -- what is current ---------------------------------------------------------------------

    def current(self) -> dict[str, Path]:
        """Table -> the folder of its current version."""
        rows = self.catalog.execute(
            "SELECT table_name, location FROM _table_versions").fetchall()
        return {name: self.root / location for name, location in rows}

    def ensure_every_table(self) -> None:
        """Give every canonical table a version (an empty one when nothing was loaded yet),
        so both engines always find all of them, with their columns and types; remove the
        staging folders an interrupted load left."""
        # only one process writes (the catalog file is locked): staging folders are leftovers
        shutil.rmtree(self.root / "_staging", ignore_errors=True)
        present = self.current()
        for name in TABLES:
            if name not in present:
                folder = self._new_folder(name)
                folder.mkdir(parents=True)
                self.catalog.execute(
                    f"COPY (SELECT * FROM {quote_ident(name)} LIMIT 0) TO "
                    f"{quote_literal(str(folder / 'part-0.parquet'))} (FORMAT parquet)")
                self._point(name, 0, folder, 0)
        for name in PUBLISHED:
            if name not in present:
                self.publish(None, name)
        self.attach_catalog()

    def attach_catalog(self) -> None:
        """The catalog's canonical tables as views over the current versions' files (an empty
        table the catalog made first is replaced; one holding rows is refused)."""
        for name, folder in self.current().items():
            if name not in TABLES:
                continue
            kind = first(self.catalog.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = ? "
                "AND table_schema = current_schema()", [name]))
            if kind and kind[0] == "BASE TABLE":
                rows = first(self.catalog.execute(f"SELECT count(*) FROM {quote_ident(name)}"))
                if rows and rows[0]:
                    from csmetrics.errors import UserInputError

                    raise UserInputError(
                        f"The workspace's DuckDB file holds {rows[0]:,} loaded rows of {name}, "
                        "but engine.url names Spark with a lake, where csmetrics keeps the "
                        "canonical tables. Export them ('csmetrics export') and load them "
                        "again, or point engine.url back at DuckDB.")
                self.catalog.execute(f"DROP TABLE {quote_ident(name)}")
            self.catalog.execute(self._view_sql(name, folder))

    def _view_sql(self, name: str, folder: Path) -> str:
        table = TABLES[name]
        columns = [f"CAST({c.name} AS {c.dtype.sql}) AS {c.name}" for c in table.columns]
        columns.append("CAST(attributes AS MAP(VARCHAR, VARCHAR)) AS attributes")
        files = quote_literal(str(folder / "*.parquet"))
        return (f"CREATE OR REPLACE VIEW {quote_ident(name)} AS SELECT {', '.join(columns)} "
                f"FROM read_parquet({files})")

    def attach_spark(self, con: BaseBackend, names: Sequence[str] | None = None) -> None:
        """Spark's temporary views of the current versions (of ``names``, default every table
        the lake has), with the canonical column types."""
        session = con._session
        current = self.current()
        for name in names or list(current):
            if name not in current:
                continue
            frame = session.read.parquet(str(current[name]))
            if name in TABLES:
                frame = frame.selectExpr(*_spark_casts(name, frame.columns))
            frame.createOrReplaceTempView(name)

    # -- writing -----------------------------------------------------------------------------

    def stage(self, sql: str, params: dict[str, Any] | None = None) -> Path:
        """The rows of the catalog query ``sql`` written to a staging folder (for Spark to
        read), with the canonical types the query gives them."""
        folder = self.root / "_staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        target = quote_literal(str(folder / "part-0.parquet"))
        self.catalog.execute(f"COPY ({sql}) TO {target} (FORMAT parquet)", params or {})
        return folder

    def write_version(self, con: BaseBackend, table: str, changed: Path, *, key: Sequence[str],
                      replace: bool) -> Path:
        """A new version of ``table`` written by Spark: the rows of the staging folder
        ``changed``, plus (unless ``replace``) the current version's rows whose key none of
        them has. Returns its folder, to point the table at with ``swap``."""
        session = con._session
        rows = session.read.parquet(str(changed))
        current = self.current().get(table)
        if not replace and current is not None:
            stored = session.read.parquet(str(current))
            keys = rows.select(*[rows[k].alias(f"__key_{k}") for k in key])
            same = [stored[k].eqNullSafe(keys[f"__key_{k}"]) for k in key]
            condition = same[0]
            for clause in same[1:]:
                condition = condition & clause
            rows = stored.join(keys, on=condition, how="left_anti").unionByName(rows)
        folder = self._new_folder(table)
        rows.write.mode("errorifexists").parquet(str(folder))
        return folder

    def publish(self, con: BaseBackend | None, table: str) -> None:
        """Copy the catalog table ``table`` into the lake as its new version (and, when Spark
        is connected, point its temporary view at it)."""
        folder = self._new_folder(table)
        folder.mkdir(parents=True)
        self.catalog.execute(f"COPY {quote_ident(table)} TO "
                             f"{quote_literal(str(folder / 'part-0.parquet'))} (FORMAT parquet)")
        rows = first(self.catalog.execute(f"SELECT count(*) FROM {quote_ident(table)}"))
        self._point(table, 0, folder, int(rows[0]) if rows else 0)
        if con is not None:
            self.attach_spark(con, [table])
        self.prune(table)

    def mirror(self, con: BaseBackend, table: str) -> None:
        """Copy Spark's view ``table``, a mapped table (the company's own, ``[engine]
        tables``), into the lake as the table's new version, for the catalog's readers (the
        dashboard's row lists, ingest's customer check), which cannot read the company's
        tables in Spark. Spark's view stays on their table."""
        folder = self._new_folder(table)
        con._session.table(table).write.mode("errorifexists").parquet(str(folder))
        try:
            with transaction(self.catalog):
                self.swap(table, 0, folder)
        except BaseException:
            self.discard(folder)
            raise
        self.prune(table)

    def swap(self, table: str, batch_id: int, folder: Path) -> None:
        """Point ``table`` at ``folder`` (inside the caller's catalog transaction, with the
        ledger rows of the batch that wrote it)."""
        self._point(table, batch_id, folder, None)
        if table in TABLES:
            self.catalog.execute(self._view_sql(table, folder))

    def prune(self, table: str) -> None:
        """Remove the table's folders older than the current version and the ones kept for
        queries already running, and staging folders left by failed loads."""
        current = self.current().get(table)
        base = self.root / table
        if current is None or not base.is_dir():
            return
        others = sorted((f for f in base.iterdir() if f.is_dir() and f != current),
                        key=lambda f: f.stat().st_mtime, reverse=True)
        for folder in others[KEEP_PREVIOUS:]:
            shutil.rmtree(folder, ignore_errors=True)

    def discard(self, folder: Path) -> None:
        """Remove a staging or unused version folder."""
        shutil.rmtree(folder, ignore_errors=True)

    def _new_folder(self, table: str) -> Path:
        stamp = default_clock().now().strftime("%Y%m%dT%H%M%S")
        return self.root / table / f"v-{stamp}-{uuid.uuid4().hex[:8]}"

    def _point(self, table: str, batch_id: int, folder: Path, rows: int | None) -> None:
        location = str(folder.relative_to(self.root))
        self.catalog.execute("DELETE FROM _table_versions WHERE table_name = ?", [table])
        self.catalog.execute("INSERT INTO _table_versions VALUES (?, ?, ?, ?, ?)",
                             [table, batch_id, location, rows, default_clock().now()])


def _spark_casts(name: str, present: Sequence[str]) -> list[str]:
    """Spark SQL expressions giving the canonical columns their types (timestamps are read
    as wall-clock times in the session's zone, the workspace's, as DuckDB reads them)."""
    import ibis
    from ibis.backends.pyspark.datatypes import PySparkType

    out = []
    for column, dtype in TABLES[name].ibis_types().items():
        spark_type = PySparkType.from_ibis(ibis.dtype(dtype)).simpleString()
        source = f"`{column}`" if column in present else "NULL"
        out.append(f"CAST({source} AS {spark_type}) AS `{column}`")
    return out

