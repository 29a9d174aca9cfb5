"""The app store: where csmetrics keeps its own state (users, API tokens, dashboard sessions,
tasks, notifications, report schedule runs, alert rule state, trained models), apart from the
warehouse.

``[app] url`` in ``csmetrics.toml`` chooses it:

- empty (the default): the warehouse's own DuckDB database, over the same connection, so an
  app change and a warehouse change can share one transaction (as before there were two
  stores);
- ``postgresql://user:password@host:port/database`` (or ``postgres://``): a PostgreSQL
  database that several servers share. :class:`PgConnection` gives it the part of a DuckDB
  connection the app modules use (``execute`` with ``?`` or ``$name`` parameters, results
  with ``fetchall``, ``description`` and ``df``, ``cursor`` for a thread, ``close``);
- ``duckdb:///app.duckdb``: a DuckDB file of its own (relative to the workspace), for a
  warehouse that has no DuckDB file (Spark).

The app modules take either connection and write SQL both databases read: explicit column
lists, ``ON CONFLICT`` rather than ``INSERT OR ...``, and the few spellings that differ
(:func:`next_ids`, :func:`insert_rows`, :func:`delete_rows`, :func:`insertion_order`) here.
Their tables are declared once, in ``app_tables.py``; a separate store gets them translated
(sqlglot, DuckDB to PostgreSQL) at the current schema version, with its ``_schema_version``
row. A migration that changes an app-state table must therefore bring the separate stores
along too (:func:`prepare`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import duckdb
import pandas as pd

from csmetrics._version import __version__
from csmetrics.clock import default_clock
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.store import migrations
from csmetrics.store.app_tables import APP_TABLES, SEQUENCES, VERSION_TABLE, VERSION_TABLE_DDL
from csmetrics.store.sql import first, quote_ident, quote_literal, transaction

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "APP_STATE_SEQUENCES",
    "APP_STATE_TABLES",
    "AppConnection",
    "PgConnection",
    "cursor_for_thread",
    "delete_rows",
    "exclusive",
    "insert_rows",
    "insertion_order",
    "is_postgres",
    "next_ids",
    "open_app_store",
    "prepare",
    "serialize",
    "shares_warehouse",
    "to_pyformat",
]

#: The app-state tables: in the app store. Every other ``_`` table stays in the warehouse.
APP_STATE_TABLES = ("_users", "_api_tokens", "_sessions", "_tasks", "_task_steps",
                    "_task_events", "_rule_state", "_notifications",
                    "_notification_attachments", "_schedule_runs", "_models")
#: The sequences their ids come from.
APP_STATE_SEQUENCES = ("_notifications_seq", "_task_ids")
#: Key of the PostgreSQL advisory lock held while a server creates the tables ("csm app").
_LOCK_KEY = 0x63736D_617070


def _scheme(url: str) -> str:
    return url.partition("://")[0]


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def shares_warehouse(settings: Settings, base_dir: Path) -> bool:
    """Whether the app state lives in the warehouse's own DuckDB database (``[app] url``
    empty, or naming the warehouse's DuckDB file)."""
    url = settings.app.url
    if not url:
        return True
    if _scheme(url) != "duckdb" or _scheme(settings.engine.url) != "duckdb":
        return False
    from csmetrics.store.warehouse import duckdb_path

    return duckdb_path(url, base_dir) == duckdb_path(settings.engine.url, base_dir)


def open_app_store(url: str, base_dir: Path, timezone: str) -> AppConnection:
    """A connection to the app store ``url`` names (PostgreSQL, or a DuckDB file of its own),
    its tables created at the current schema version if need be. Times are read in
    ``timezone``, as the warehouse reads them."""
    if _scheme(url) in ("postgresql", "postgres"):
        con: AppConnection = PgConnection.connect(url, timezone)
    else:
        from csmetrics.store.warehouse import duckdb_path

        path = duckdb_path(url, base_dir)
        try:
            con = duckdb.connect(path)
        except duckdb.IOException as exc:
            raise UserInputError(
                f"app.url = {url!r}: cannot open {path}: {exc}. If another csmetrics "
                "process has it open, stop it or wait for it to finish; several servers "
                "share an app store in PostgreSQL (app.url = 'postgresql://...').") from None
        con.execute(f"SET TimeZone = {quote_literal(timezone)}")
        if path != ":memory:":
            for file in (Path(path), Path(path + ".wal")):  # holds password hashes
                with contextlib.suppress(FileNotFoundError, PermissionError):
                    os.chmod(file, 0o600)
    try:
        prepare(con)
    except BaseException:
        con.close()
        raise
    return con


def cursor_for_thread(con: AppConnection, timezone: str) -> AppConnection:
    """Another connection to the same app store, for one thread of a server, reading times
    in ``timezone`` like ``con``."""
    if isinstance(con, PgConnection):
        return con.cursor()
    other = con.cursor()
    other.execute(f"SET TimeZone = {quote_literal(timezone)}")
    return other


# -- the tables --------------------------------------------------------------------------


@functools.cache
def _postgres_ddl(statement: str) -> str:
    """A DuckDB statement of ``app_tables.py`` in PostgreSQL's spelling."""
    import sqlglot

    return str(sqlglot.transpile(statement, read="duckdb", write="postgres")[0])


def _ddl(con: AppConnection, statement: str) -> str:
    return _postgres_ddl(statement) if is_postgres(con) else statement


def _version(con: AppConnection) -> int:
    """The app store's schema version (0: no tables yet)."""
    if not is_postgres(con):
        return migrations.current_version(con)  # type: ignore[arg-type]
    # the catalog as a table (to_regclass would answer from a cache that misses a table
    # another server has just created while we waited for the lock)
    row = first(con.execute("SELECT count(*) FROM information_schema.tables WHERE "
                            "table_name = ? AND table_schema = current_schema()",
                            [VERSION_TABLE]))
    if not row or not row[0]:
        return 0
    row = first(con.execute(f"SELECT coalesce(max(version), 0) FROM {VERSION_TABLE}"))
    return int(row[0]) if row else 0


def _check(con: AppConnection, version: int) -> None:
    if version > migrations.LATEST:
        row = first(con.execute(f"SELECT applied_by FROM {VERSION_TABLE} "
                                "ORDER BY version DESC LIMIT 1"))
        by = f" (by csmetrics {row[0]})" if row else ""
        raise UserInputError(
            f"The app store (app.url) is at schema version {version}{by}, newer than the "
            f"version {migrations.LATEST} this csmetrics {__version__} knows. Upgrade "
            "csmetrics (pip install --upgrade csmetrics) on this machine to use it; an older "
            "csmetrics could damage it.")


def prepare(con: AppConnection) -> int:
    """Create the app-state tables and sequences of a separate app store, at the current
    schema version, with the ``_schema_version`` row that says so; refuse a store newer than
    this code knows. Returns the version found. Several servers may start at once: the
    creation runs in one transaction under an advisory lock (PostgreSQL), so one creates and
    the others see the result."""
    version = _version(con)
    _check(con, version)
    if version == migrations.LATEST:
        return version
    with transaction(con):
        if is_postgres(con):
            con.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
            version = _version(con)  # another server may have created them meanwhile
            _check(con, version)
            if version == migrations.LATEST:
                return version
        for name in APP_STATE_SEQUENCES:
            con.execute(_ddl(con, SEQUENCES[name]))
        for name in APP_STATE_TABLES:
            con.execute(_ddl(con, APP_TABLES[name]))
        con.execute(_ddl(con, VERSION_TABLE_DDL))
        con.execute(f"INSERT INTO {VERSION_TABLE} (version, description, applied_by, "
                    "applied_at) VALUES (?, ?, ?, ?)",
                    [migrations.LATEST, "create the app-state tables (csmetrics.store.appstore)",
                     __version__, default_clock().now()])
    return version


# -- SQL that differs --------------------------------------------------------------------


def is_postgres(con: Any) -> bool:
    """Whether ``con`` is a PostgreSQL app store (else DuckDB)."""
    return isinstance(con, PgConnection)


def next_ids(con: AppConnection, sequence: str, count: int) -> list[int]:
    """``count`` new values of ``sequence``, ascending."""
    if count <= 0:
        return []
    rows = "generate_series(1, ?)" if is_postgres(con) else "range(?)"
    return sorted(int(i) for (i,) in con.execute(
        f"SELECT nextval({quote_literal(sequence)}) FROM {rows}", [count]).fetchall())


def _lock_key(what: str) -> int:
    """The PostgreSQL advisory lock key that stands for ``what``."""
    return int.from_bytes(hashlib.sha256(what.encode()).digest()[:7], "big")


def serialize(con: AppConnection, what: str) -> None:
    """Inside a transaction: wait until no other server's transaction is doing ``what`` (a
    PostgreSQL advisory lock, released at commit). Two servers evaluating the rules at once
    would otherwise both open a task for the same new condition. DuckDB has one writing
    process, whose server already takes its writer lock: nothing to do."""
    if is_postgres(con):
        con.execute(f"SELECT pg_advisory_xact_lock({_lock_key(what)})")


@contextlib.contextmanager
def exclusive(con: AppConnection, what: str) -> Iterator[None]:
    """Run the block while no other server runs a block doing ``what`` (it waits for it to
    end): a PostgreSQL session advisory lock, for work longer than a transaction should be,
    such as sending mail. Two servers sending the due reports or the outbox at once would
    otherwise send a message twice. DuckDB: one writing process, nothing to do."""
    if not is_postgres(con):
        yield
        return
    key = _lock_key(what)
    con.execute(f"SELECT pg_advisory_lock({key})")
    try:
        yield
    finally:
        con.execute(f"SELECT pg_advisory_unlock({key})")


def insertion_order(con: AppConnection) -> str:
    """An expression that orders an insert-only table's rows as they were written, for ties
    (DuckDB's ``rowid``; PostgreSQL's ``ctid``, which follows the writes for a table whose
    rows are never updated or deleted)."""
    return "ctid" if is_postgres(con) else "rowid"


def insert_rows(con: AppConnection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], *, upsert_keys: Sequence[str] = ()) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) in one statement (DuckDB) or one
    pipelined batch (PostgreSQL). With ``upsert_keys``, a row whose keys are taken replaces
    the other columns of the row there."""
    if not rows:
        return
    names = ", ".join(quote_ident(c) for c in columns)
    conflict = ""
    if upsert_keys:
        others = [c for c in columns if c not in upsert_keys]
        conflict = (f" ON CONFLICT ({', '.join(quote_ident(c) for c in upsert_keys)}) DO "
                    + ("UPDATE SET " + ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}"
                                                 for c in others) if others else "NOTHING"))
    if isinstance(con, PgConnection):
        values = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {quote_ident(table)} ({names}) VALUES ({values})"
                        + conflict, rows)
        return
    con.register("__csm_app_rows", pd.DataFrame([tuple(r) for r in rows],
                                                 columns=list(columns)))
    try:
        con.execute(f"INSERT INTO {quote_ident(table)} ({names}) SELECT {names} FROM "
                    "__csm_app_rows" + conflict)
    finally:
        con.unregister("__csm_app_rows")


def delete_rows(con: AppConnection, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Delete the rows of ``table`` whose ``columns`` equal one of ``rows``."""
    if not rows:
        return
    match = " AND ".join(f"t.{quote_ident(c)} = x.{quote_ident(c)}" for c in columns)
    if isinstance(con, PgConnection):
        where = " AND ".join(f"{quote_ident(c)} = ?" for c in columns)
        con.executemany(f"DELETE FROM {quote_ident(table)} WHERE {where}", rows)
        return
    con.register("__csm_app_rows", pd.DataFrame([tuple(r) for r in rows],
                                                 columns=list(columns)))
    try:
        con.execute(f"DELETE FROM {quote_ident(table)} t USING __csm_app_rows x WHERE {match}")
    finally:
        con.unregister("__csm_app_rows")


# -- PostgreSQL --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """DuckDB's parameters in psycopg's spelling: ``?`` -> ``%s``, ``$name`` ->
    ``%(name)s``, a literal ``%`` doubled; quoted strings, names and comments are left as
    they are."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        char = sql[i]
        if char in "'\"":
            end = i + 1
            while end < n:
                if sql[end] == char:
                    if end + 1 < n and sql[end + 1] == char:  # a doubled quote
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i:end + 1].replace("%", "%%"))
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif char == "?":
            out.append("%s")
            i += 1
        elif char == "$" and (name := re.match(r"\$([A-Za-z_]\w*)", sql[i:])):
            out.append(f"%({name.group(1)})s")
            i += len(name.group(0))
        elif char == "%":
            out.append("%%")
            i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


#: PostgreSQL type ids, to give frames the dtypes DuckDB's ``df()`` gives.
_BOOL, _INTS, _FLOATS = 16, {20, 21, 23}, {700, 701, 1700}
_DATE, _TIMESTAMP, _TIMESTAMPTZ = 1082, 1114, 1184


class PgResult:
    """The rows of one statement, read at once (as DuckDB's result is used here)."""

    def __init__(self, description: Any, rows: list[tuple[Any, ...]], timezone: str) -> None:
        self.description = description
        self._rows = rows
        self._timezone = timezone

    def fetchall(self) -> list[tuple[Any, ...]]:
        """Every row (none for a statement that returns none)."""
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        """The next row, or None."""
        return self._rows.pop(0) if self._rows else None

    def df(self) -> pd.DataFrame:
        """The rows as a data frame with DuckDB's dtypes: dates as ``datetime64[us]``,
        TIMESTAMPTZ in the session's zone, integers ``int64`` (``Int64`` with nulls)."""
        rows = self.fetchall()
        columns = []
        for index, column in enumerate(self.description or []):
            values = pd.Series([row[index] for row in rows], dtype=object)
            kind = column.type_code
            if kind == _DATE:
                values = pd.to_datetime(values).astype("datetime64[us]")
            elif kind == _TIMESTAMPTZ:
                values = pd.to_datetime(values, utc=True).dt.tz_convert(self._timezone)
                values = values.astype(f"datetime64[us, {self._timezone}]")
            elif kind == _TIMESTAMP:
                values = pd.to_datetime(values).astype("datetime64[us]")
            elif kind in _INTS:
                values = values.astype("Int64" if values.isna().any() else "int64")
            elif kind in _FLOATS:
                values = values.astype("float64")
            elif kind == _BOOL and not values.isna().any():
                values = values.astype(bool)
            columns.append(values)
        frame = pd.concat(columns, axis=1) if columns else pd.DataFrame()
        frame.columns = [column.name for column in self.description or []]
        return frame


class PgConnection:
    """A PostgreSQL app store, used like a DuckDB connection by the app modules.

    It runs in autocommit mode: a statement is its own transaction unless the caller opened
    one (``csmetrics.store.sql.transaction`` sends ``BEGIN TRANSACTION`` ... ``COMMIT``).
    Parameters are written as for DuckDB (``?`` or ``$name``) and translated
    (:func:`to_pyformat`). One connection serves one thread at a time: ``cursor()`` opens
    another for another thread.
    """

    def __init__(self, raw: psycopg.Connection[Any], url: str, timezone: str) -> None:
        self.raw = raw
        self.url = url
        self.timezone = timezone

    @classmethod
    def connect(cls, url: str, timezone: str) -> PgConnection:
        """Connect to ``url``, reading times in ``timezone``; errors name ``app.url``."""
        try:
            import psycopg
        except ImportError:
            raise UserInputError(
                f"app.url = {redact(url)!r} needs the PostgreSQL driver: pip install "
                "'csmetrics[postgres]' (psycopg 3).") from None
        try:
            raw = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise UserInputError(
                f"app.url = {redact(url)!r}: cannot connect to PostgreSQL: "
                f"{str(exc).strip()}. Check that the server runs and accepts this user, "
                "password and database, or empty app.url to keep the app state in the "
                "warehouse.") from None
        raw.execute("SELECT set_config('TimeZone', %s, false)", [timezone])
        return cls(raw, url, timezone)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
                ) -> PgResult:
        """Run one statement; its rows are read at once."""
        with self.raw.cursor() as cur:
            cur.execute(to_pyformat(sql), _params(params))  # type: ignore[arg-type]
            rows = cur.fetchall() if cur.description is not None else []
            return PgResult(cur.description, rows, self.timezone)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each of ``rows`` (pipelined: one round trip)."""
        with self.raw.cursor() as cur:
            cur.executemany(to_pyformat(sql), [list(r) for r in rows])  # type: ignore[arg-type]

    def cursor(self) -> PgConnection:
        """Another connection to the same database, for one thread."""
        return PgConnection.connect(self.url, self.timezone)

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()

    def __del__(self) -> None:
        # like a DuckDB connection, closed when dropped (a server's thread connections are)
        with contextlib.suppress(Exception):
            self.raw.close()


def _params(params: Sequence[Any] | dict[str, Any] | None) -> Any:
    if params is None:
        return None
    return dict(params) if isinstance(params, dict) else list(params)


#: What the app modules take: the warehouse's DuckDB connection, a DuckDB connection of its
#: own, or PostgreSQL.
AppConnection: TypeAlias = duckdb.DuckDBPyConnection | PgConnection
