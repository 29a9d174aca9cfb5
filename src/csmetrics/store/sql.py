"""Quoting and parameters for the SQL csmetrics writes for DuckDB.

Values always travel as parameters; only names from our own schema, or quoted file headers,
are spelled into the text.
"""

from __future__ import annotations

import re
from typing import Any


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
