"""The warehouse: one engine connection opened from the workspace's URL.

DuckDB is the embedded default. The raw DuckDB connection (``sql``) is used for loading files;
metric definitions use the Ibis connection (``ibis``) so they run on any Ibis engine.

Spark (``pyspark://...``, see ``engines.py``) is used in one of two ways:

- with ``[engine] lake = "DIR"``, the whole product runs on it: csmetrics keeps the canonical
  tables as Parquet in the lake (``lake.py``), written through Spark; metrics, health scores
  and rules are computed by Spark; the ledger, the lake's current versions and the computed
  results live in the workspace's DuckDB file, the *catalog* (``sql``), where the dashboard
  reads them;
- without a lake, Spark is query-only: the user's own pipeline fills its canonical tables,
  metrics are queried there, and everything that writes needs DuckDB or a lake.
"""

from __future__ import annotations

import contextlib
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import duckdb

from csmetrics._lazy import lazy_module
from csmetrics.config import EngineSection
from csmetrics.errors import UserInputError
from csmetrics.schema import TABLES
from csmetrics.store import engines, migrations
from csmetrics.store.ddl import create_all
from csmetrics.store.lake import Lake
from csmetrics.store.sources import SourceMap
from csmetrics.store.sources import attach as attach_sources
from csmetrics.store.sql import first, quote_literal

if TYPE_CHECKING:
    import ibis
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


SUPPORTED_SCHEMES = ("duckdb",)
#: The catalog file of a Spark workspace with a lake, in the workspace folder.
LAKE_CATALOG = "csmetrics.duckdb"
_UMASK_LOCK = threading.Lock()


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files created in the block are private to their owner (umask 077). The umask is the
    process's: other threads' files created meanwhile are private too, which errs safe."""
    with _UMASK_LOCK:
        previous = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(previous)


def duckdb_path(url: str, base_dir: Path) -> str:
    """The database file a ``duckdb:///path`` URL points at (``:memory:`` allowed)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SUPPORTED_SCHEMES:
        raise UserInputError(
            f"engine.url = {url!r}: csmetrics can load into {', '.join(SUPPORTED_SCHEMES)} "
            "warehouses; write it as 'duckdb:///csmetrics.duckdb' (relative to the workspace) "
            "or 'duckdb:////absolute/path.duckdb'; to query metrics on Spark, "
            "'pyspark://local[2]' (see README, 'Running on your warehouse')."
        )
    path = rest.removeprefix("/")
    if path in ("", ":memory:"):
        return ":memory:"
    candidate = Path(path)
    return str(candidate if candidate.is_absolute() else base_dir / candidate)


class Warehouse:
    """An open warehouse. Use as a context manager, or call ``close()``."""

    def __init__(
        self, sql: duckdb.DuckDBPyConnection | None, timezone: str, *, url: str = "",
        engine: EngineSection | None = None,
    ) -> None:
        self._sql = sql
        self.timezone = timezone
        self.url = url
        self._engine = engine
        self._ibis: BaseBackend | None = None
        self._file: Path | None = None  # the DuckDB file, when there is one
        self.lake: Lake | None = None  # the Parquet tables Spark reads, with a lake
        self.base_dir = Path(".")  # the workspace folder, where relative paths start
        #: The canonical tables mapped to the company's own (``[engine] tables``), once the
        #: engine is connected.
        self.sources: SourceMap | None = None

    @classmethod
    def open(
        cls, engine: EngineSection, base_dir: Path, timezone: str, *, read_only: bool = False
    ) -> Warehouse:
        """Connect to the engine the settings name and make sure every canonical table exists,
        and every app table, at the current schema version (``migrations.py``).

        A query-only engine (Spark) is connected on first use of ``ibis``, so commands that
        need DuckDB fail at once, before a Spark session starts.
        """
        spark = engines.scheme_of(engine.url) in engines.QUERY_ONLY_SCHEMES
        if spark and not engine.lake:
            query_only = cls(None, timezone, url=engine.url, engine=engine)
            query_only.base_dir = base_dir
            return query_only
        path = (str(base_dir / LAKE_CATALOG) if spark
                else duckdb_path(engine.url, base_dir))
        config: dict[str, str | int] = {}
        if engine.memory_limit:
            config["memory_limit"] = engine.memory_limit
        if engine.temp_directory:
            config["temp_directory"] = engine.temp_directory
        if engine.threads:
            config["threads"] = engine.threads
        try:
            with _private_files():  # a new warehouse file (and log) is rw for its owner only
                con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise UserInputError(
                f"Cannot open the warehouse {path}: {exc}. If another csmetrics process "
                "(a server or a running ingest) has it open, stop it or wait for it to finish."
            ) from None
        # Calendar dates are read in the workspace's zone (TIMESTAMPTZ -> local TIMESTAMP).
        con.execute(f"SET TimeZone = {quote_literal(timezone)}")
        warehouse = cls(con, timezone, url=engine.url, engine=engine)
        warehouse._file = None if path == ":memory:" else Path(path)
        warehouse.base_dir = base_dir
        try:
            if read_only:
                migrations.check(con)  # a read-only warehouse is read as it is
            else:
                with _private_files():
                    create_all(con)  # app tables migrated to the current version
                warehouse.protect_files()
            if spark:
                root = Path(engine.lake)
                warehouse.lake = Lake(root if root.is_absolute() else base_dir / root, con)
                if read_only:
                    warehouse.lake.attach_catalog()
                else:
                    warehouse.lake.ensure_every_table()
            elif engine.tables:
                _ = warehouse.ibis  # the mapped tables' views, which belong to the connection
        except BaseException:
            con.close()
            raise
        return warehouse

    def cursor(self) -> Warehouse:
        """Another connection to this open warehouse, for one thread: it runs queries side by
        side with the others, sees every committed change, and has temporary tables of its
        own. Closing it leaves this one open. A query-only engine (Spark) has no such thing:
        the same warehouse is returned."""
        if self._sql is None or self.lake is not None:
            return self
        con = self._sql.cursor()
        con.execute(f"SET TimeZone = {quote_literal(self.timezone)}")
        other = Warehouse(con, self.timezone, url=self.url, engine=self._engine)
        other._file = self._file
        other.base_dir = self.base_dir
        if self.sources is not None:
            _ = other.ibis  # its own views of the mapped tables
        return other

    @property
    def embedded(self) -> bool:
        """Whether the canonical tables live in the DuckDB database ``sql`` opens, rather
        than in Spark."""
        return self._sql is not None and self.lake is None

    @property
    def has_catalog(self) -> bool:
        """Whether csmetrics can write here: ingest, stored results, health snapshots
        (DuckDB, or Spark with a lake)."""
        return self._sql is not None

    @property
    def shares_connections(self) -> bool:
        """Whether ``cursor()`` gives connections that may run side by side (DuckDB)."""
        return self._sql is not None and self.lake is None

    def protect_files(self) -> None:
        """Make the DuckDB file and its write-ahead log readable by their owner only (0600):
        they hold password hashes and session ids. Called when the warehouse opens and after
        each piece of server work, since DuckDB re-creates the log after a checkpoint."""
        if self._file is None:
            return
        for file in (self._file, self._file.with_name(self._file.name + ".wal")):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                if stat.S_IMODE(file.stat().st_mode) & 0o077:
                    os.chmod(file, 0o600)

    @property
    def sql(self) -> duckdb.DuckDBPyConnection:
        """The raw DuckDB connection, for loading and for the tables csmetrics writes; a
        query-only engine (Spark) has none, and the error says what to do instead."""
        if self._sql is None:
            raise UserInputError(
                f"engine.url = {self.url!r} is a query-only warehouse: csmetrics computes "
                "metrics there ('csmetrics metrics show', Workspace.query) but loads data "
                "('csmetrics ingest'), stores results "
                "('csmetrics refresh', health snapshots, text sentiment, predictions) and "
                "dashboard accounts (unless [app] url names PostgreSQL) only with a lake or in a "
                "DuckDB warehouse. Add "
                "'lake = \"lake\"' under [engine] in csmetrics.toml to let csmetrics keep the "
                "tables as Parquet that Spark reads, or fill them with your own pipeline, in "
                "the schema 'csmetrics schema' prints."
            )
        return self._sql

    @property
    def ibis(self) -> BaseBackend:
        """The Ibis connection over the same database, for metric expressions."""
        if self._ibis is None:
            if self.lake is not None:
                engine = self._engine or EngineSection(url=self.url)
                self._ibis = engines.connect(self.url, engine.spark, self.timezone)
                self.lake.attach_spark(self._ibis)
                self.sources = attach_sources(self._ibis, engine, self.base_dir)
            elif self._sql is not None:
                self._ibis = ibis.duckdb.from_connection(self._sql)
                # Ibis sets the session's zone to UTC; loads read offsets in the workspace's
                self._sql.execute(f"SET TimeZone = {quote_literal(self.timezone)}")
                self.sources = attach_sources(self._ibis, self._engine or EngineSection(),
                                              self.base_dir)
            else:
                self._ibis = self._connect_query_only()
        return self._ibis

    def _connect_query_only(self) -> BaseBackend:
        engine = self._engine or EngineSection(url=self.url)
        con = engines.connect(self.url, engine.spark, self.timezone)
        self.sources = attach_sources(con, engine, self.base_dir)
        present = set(con.list_tables())
        missing = [name for name in TABLES if name not in present]
        if missing:
            raise UserInputError(
                f"engine.url = {self.url!r}: the warehouse has no table "
                f"{', '.join(missing)}. csmetrics reads the canonical tables by these names; "
                "create every one (an empty table is fine) with the columns and types "
                "'csmetrics schema' lists."
            )
        return con

    def mirror_sources(self, names: Sequence[str] | None = None) -> list[str]:
        """With a lake, copy the mapped tables (of ``names``, default all) into it as they
        are now: the catalog's DuckDB, which the dashboard's row lists and ingest's checks
        read, cannot read the company's tables in Spark. Returns the tables copied."""
        if self.lake is None:
            return []
        con = self.ibis  # reads the mapping file
        if self.sources is None:
            return []
        copied = [name for name in (names or list(self.sources.sources))
                  if name in self.sources.sources]
        for name in copied:
            self.lake.mirror(con, name)
        return copied

    def published(self, table: str) -> None:
        """Note that the catalog table ``table``, one metric definitions read on the engine
        (``lake.PUBLISHED``), was written: with a lake, Spark gets the new rows too."""
        if self.lake is not None:
            self.lake.publish(self._ibis, table)

    def table(self, name: str) -> ibis.Table:
        """A canonical or materialised table as an Ibis expression."""
        return self.ibis.table(name)

    def count(self, table: str) -> int:
        """Rows in a canonical table."""
        if table not in TABLES and not table.startswith("_"):
            raise UserInputError(f"Unknown table {table!r}.")
        if self._sql is None:
            value: Any = self.ibis.table(table).count().execute()
            return int(value)
        row = first(self._sql.execute(f'SELECT count(*) FROM "{table}"'))
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Release the database file. A Spark session is left running: it may be shared
        with the caller (a notebook) and ends with the Python process."""
        if self._sql is not None:
            self._sql.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
