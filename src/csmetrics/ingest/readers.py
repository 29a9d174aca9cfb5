"""Reading input files into staging tables with DuckDB's own readers (never row by row)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import duckdb

from csmetrics.errors import FieldError, UserInputError
from csmetrics.store.sql import Params, first


class FileFormat(Enum):
    """File formats csmetrics reads; gzip-compressed variants too."""

    CSV = "csv"
    PARQUET = "parquet"
    JSONL = "jsonl"


_SUFFIXES = {
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".txt": FileFormat.CSV,
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
    ".json": FileFormat.JSONL,
}


def detect_format(path: Path) -> FileFormat:
    """The format a file's name says it has (``.csv``, ``.parquet``, ``.jsonl``, ``.gz`` too)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]
    raise UserInputError(
        f"{path}: cannot tell the format from the name; use .csv, .tsv, .parquet or .jsonl "
        "(optionally with .gz)."
    )


def check_upload_name(filename: str | None, field: str = "file") -> str:
    """The name an uploaded file came with, when it is a plain file name (its suffix says the
    format); an error naming ``field`` when it is empty, ``.`` or ``..``, or holds a path
    separator or a control character."""
    name = filename or ""
    if (not name.strip() or name.strip() in (".", "..") or "/" in name or "\\" in name
            or any(ord(c) < 32 for c in name)):
        raise FieldError(field, f"{field}: {name!r} is not a file name; send the file under a "
                         "plain name such as customers.csv (no folders, not '.' or '..').")
    return name


def check_file(path: Path) -> FileFormat:
    """Refuse a path that is no file or an empty one; the format its name says it has."""
    if not path.is_file():
        raise UserInputError(f"{path}: no such file.")
    if path.stat().st_size == 0:
        raise UserInputError(f"{path}: the file is empty; export it again with a header and rows.")
    return detect_format(path)


def reader_sql(path: Path, params: Params, *, encoding: str | None = None) -> str:
    """The DuckDB table function that reads ``path``, its arguments added to ``params``.

    CSV cells stay text (so validation can show exactly what was written); Parquet and JSON
    keep their own types.
    """
    fmt = detect_format(path)
    if fmt is FileFormat.CSV:
        return (f"read_csv({params.add(str(path))}, all_varchar = true, header = true, "
                f"encoding = {params.add(encoding or 'utf-8')})")
    if fmt is FileFormat.PARQUET:
        return f"read_parquet({params.add(str(path))})"
    return f"read_json({params.add(str(path))}, format = 'newline_delimited', records = true)"


def file_columns(
    con: duckdb.DuckDBPyConnection, path: Path, *, encoding: str | None = None
) -> list[tuple[str, str]]:
    """The columns (name, DuckDB type) ``reader_sql`` gives for ``path``, from its header and
    the sample of rows DuckDB sniffs (Parquet: its metadata); the file is not read to its end,
    so a bad row further down is not noticed here."""
    fmt = check_file(path)
    params = Params()
    sql = f"DESCRIBE SELECT * FROM {reader_sql(path, params, encoding=encoding)}"
    try:
        columns = con.execute(sql, params.values).fetchall()
    except duckdb.Error as exc:
        raise UserInputError(_explain_read_error(path, fmt, str(exc))) from None
    return [(str(row[0]), str(row[1])) for row in columns]


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    staging: str,
    *,
    encoding: str | None = None,
) -> list[tuple[str, str]]:
    """Read ``path`` into the temp table ``staging``, in file order; return its columns.

    The table's ``rowid + 1`` is the row's position in the file (1 = first data row).
    """
    fmt = check_file(path)
    params = Params()
    source = reader_sql(path, params, encoding=encoding)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {staging} AS SELECT * FROM {source}",
                    params.values)
    except duckdb.Error as exc:
        raise UserInputError(_explain_read_error(path, fmt, str(exc))) from None
    columns = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() "
        "WHERE table_name = ? ORDER BY column_index",
        [staging],
    ).fetchall()
    rows = first(con.execute(f"SELECT count(*) FROM {staging}"))
    if not rows or rows[0] == 0:
        raise UserInputError(f"{path}: the file has a header but no rows.")
    return [(str(name), str(dtype)) for name, dtype in columns]


def _explain_read_error(path: Path, fmt: FileFormat, message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else message
    if "unicode" in message.lower() or "utf-8" in message.lower():
        return (
            f"{path}: the file is not UTF-8 text ({first}). Save it as UTF-8, or pass the "
            "encoding it has, e.g. --encoding latin-1 or --encoding utf-16."
        )
    if fmt is FileFormat.PARQUET:
        return f"{path}: not a readable Parquet file ({first})."
    if fmt is FileFormat.JSONL:
        return f"{path}: not valid JSON lines, one object per line ({first})."
    return f"{path}: cannot read it as CSV ({first})."
