"""Quoting, parameters and transactions for the SQL csmetrics writes for DuckDB.

Values always travel as parameters; only names from our own schema, or quoted file headers,
are spelled into the text. :func:`transaction` runs statements all-or-nothing, and
:func:`replace_rows` swaps a table's rows (all, or those matching a condition) for a data
frame's in one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb
    import pandas as pd


def quote_ident(name: str) -> str:
    """A safely quoted identifier: ``a"b`` -> ``"a""b"``."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A safely quoted string literal, for statements that take no parameters (``SET``)."""
    return "'" + value.replace("'", "''") + "'"


class Params:
    """Named parameters collected while building a statement: ``add(v)`` gives ``$p0``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        """A placeholder for ``value``."""
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def add_all(self, values: tuple[Any, ...] | list[Any]) -> str:
        """Comma-separated placeholders for ``values`` (for ``IN (...)``)."""
        return ", ".join(self.add(v) for v in values)

    def used_by(self, sql: str) -> dict[str, Any]:
        """The parameters ``sql`` mentions (DuckDB refuses named parameters it does not use)."""
        mentioned = set(re.findall(r"\$(p\d+)\b", sql))
        return {k: v for k, v in self.values.items() if k in mentioned}


def first(result: Any) -> tuple[Any, ...] | None:
    """The first row of an executed statement, reading the result to its end (DuckDB 2
    refuses other work on a connection whose last result was only partly fetched)."""
    rows = result.fetchall()
    return rows[0] if rows else None


#: Connections inside a :func:`transaction` (by ``id``), with how deeply it is nested.
_OPEN: dict[int, int] = {}


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """Run the block in one transaction: committed when it ends, rolled back (and the error
    raised again) when it fails. Nested blocks on the same connection join the outer
    transaction, so helpers that use one (``replace_rows``) can be combined atomically."""
    key = id(con)
    if key in _OPEN:
        _OPEN[key] += 1
        try:
            yield con
        finally:
            _OPEN[key] -= 1
        return
    con.execute("BEGIN TRANSACTION")
    _OPEN[key] = 1
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")
    finally:
        del _OPEN[key]


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """The columns of ``table`` (in the current schema), in order; an unknown table is an
    error naming it."""
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
        "AND schema_name = current_schema() ORDER BY column_index", [table]).fetchall()
    if not rows:
        raise ValueError(f"There is no table {table!r} in this warehouse.")
    return [r[0] for r in rows]


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
                 where: Mapping[str, object] | None = None) -> int:
    """Replace the rows of ``table`` matching ``where`` (column -> value, compared with ``IS
    NOT DISTINCT FROM``; every row when None or empty) by the rows of ``frame``, in one
    transaction (or in the caller's :func:`transaction`): a reader sees the old rows or the
    new ones, never a mix, and a failure leaves the old rows in place.

    ``frame``'s columns are matched to the table's by name (missing ones are NULL). The table,
    the ``where`` columns and the frame's columns must exist (checked against the catalog
    before anything is written); values travel as parameters. Returns the rows deleted.
    """
    known = {c.lower(): c for c in table_columns(con, table)}
    unknown = [str(c) for c in [*(where or {}), *frame.columns] if str(c).lower() not in known]
    if unknown:
        raise ValueError(f"Table {table!r} has no column {', '.join(map(repr, unknown))}; "
                         f"its columns are {', '.join(known.values())}.")
    target = quote_ident(table)
    columns = ", ".join(quote_ident(str(c)) for c in frame.columns)
    condition = " AND ".join(f"{quote_ident(k)} IS NOT DISTINCT FROM ?" for k in where or {})
    with transaction(con):
        row = first(con.execute(f"DELETE FROM {target}" + (f" WHERE {condition}"
                                                             if condition else ""),
                                list((where or {}).values())))
        if columns:
            # registering is part of the transaction: a failure's rollback undoes it too
            con.register("__csm_rows", frame)
            con.execute(f"INSERT INTO {target} ({columns}) SELECT {columns} FROM __csm_rows")
            con.unregister("__csm_rows")
    return int(row[0]) if row else 0
