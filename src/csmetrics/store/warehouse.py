"""The warehouse: one engine connection opened from the workspace's URL.

DuckDB is the embedded default. The raw DuckDB connection (``sql``) is used for loading files;
metric definitions use the Ibis connection (``ibis``) so they run on any Ibis engine.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import duckdb
import ibis
from ibis.backends.duckdb import Backend as DuckDBBackend

from csmetrics.config import EngineSection
from csmetrics.errors import UserInputError
from csmetrics.schema import TABLES
from csmetrics.store.ddl import create_all
from csmetrics.store.sql import first, quote_literal

SUPPORTED_SCHEMES = ("duckdb",)


def duckdb_path(url: str, base_dir: Path) -> str:
    """The database file a ``duckdb:///path`` URL points at (``:memory:`` allowed)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SUPPORTED_SCHEMES:
        raise UserInputError(
            f"engine.url = {url!r}: csmetrics can load into {', '.join(SUPPORTED_SCHEMES)} "
            "warehouses; write it as 'duckdb:///csmetrics.duckdb' (relative to the workspace) "
            "or 'duckdb:////absolute/path.duckdb'."
        )
    path = rest.removeprefix("/")
    if path in ("", ":memory:"):
        return ":memory:"
    candidate = Path(path)
    return str(candidate if candidate.is_absolute() else base_dir / candidate)


class Warehouse:
    """An open warehouse. Use as a context manager, or call ``close()``."""

    def __init__(self, sql: duckdb.DuckDBPyConnection, timezone: str) -> None:
        self.sql = sql
        self.timezone = timezone
        self._ibis: DuckDBBackend | None = None

    @classmethod
    def open(
        cls, engine: EngineSection, base_dir: Path, timezone: str, *, read_only: bool = False
    ) -> Warehouse:
        """Connect to the engine the settings name and make sure every canonical table exists."""
        path = duckdb_path(engine.url, base_dir)
        config: dict[str, str | int] = {}
        if engine.memory_limit:
            config["memory_limit"] = engine.memory_limit
        if engine.temp_directory:
            config["temp_directory"] = engine.temp_directory
        if engine.threads:
            config["threads"] = engine.threads
        try:
            con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise UserInputError(
                f"Cannot open the warehouse {path}: {exc}. If another csmetrics process "
                "(a server or a running ingest) has it open, stop it or wait for it to finish."
            ) from None
        # Calendar dates are read in the workspace's zone (TIMESTAMPTZ -> local TIMESTAMP).
        con.execute(f"SET TimeZone = {quote_literal(timezone)}")
        warehouse = cls(con, timezone)
        if not read_only:
            create_all(con)
        return warehouse

    @property
    def ibis(self) -> DuckDBBackend:
        """The Ibis connection over the same database, for metric expressions."""
        if self._ibis is None:
            self._ibis = ibis.duckdb.from_connection(self.sql)
        return self._ibis

    def table(self, name: str) -> ibis.Table:
        """A canonical or materialised table as an Ibis expression."""
        return self.ibis.table(name)

    def count(self, table: str) -> int:
        """Rows in a canonical table."""
        if table not in TABLES and not table.startswith("_"):
            raise UserInputError(f"Unknown table {table!r}.")
        row = first(self.sql.execute(f'SELECT count(*) FROM "{table}"'))
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Release the database file."""
        self.sql.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
