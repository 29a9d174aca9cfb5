"""Exports: any table of rows (metric query, customer list, task list) to CSV, Parquet or Excel.

One writer per format behind two entry points: ``export_frame`` writes a file (the format is the
file's extension) and ``frame_bytes`` returns the encoded bytes with their media type, for HTTP
downloads. Every interface (CLI ``--out``, API ``?format=``, dashboard download links) calls one
of these, so the three formats look the same wherever they come from.

What a reader finds in the file:

- **Columns and rows in the frame's order.** A named index (``set_index("customer_id")``) becomes
  the first column(s); an unnamed index (0, 1, 2 ... or what filtering left) is dropped. Column
  names are written as text; a two-level column header is joined with " / ".
- **Missing values are empty**: NaN, None, NaT and ``pd.NA`` are an empty CSV field, a null in
  Parquet and an empty Excel cell.
- **Dates stay dates, numbers stay numbers.** Parquet keeps every type: ``datetime.date`` values
  are ``date32``, timestamps keep their time zone, decimals stay decimals. In Excel a date is a
  date cell (``yyyy-mm-dd``), a timestamp a date-time cell (``yyyy-mm-dd hh:mm:ss``).
  CSV is text: dates as ``2024-01-31``, timestamps ISO 8601 with their UTC offset if they had one.
- **No formulas from CSV**: a text cell (or column name) starting with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return gets a leading single quote (``'=HYPERLINK(...)``), so a
  spreadsheet opening the file shows it as text instead of running it. Numbers, negative ones
  included, are written as they are.
- **Time zones in Excel**: Excel cells cannot hold a time zone, so time-zone-aware timestamps are
  converted to ``timezone`` (the workspace zone, ``[workspace] timezone`` in csmetrics.toml) and
  written as that zone's local wall-clock time. Naive timestamps are written as they are.
- **Excel layout**: one sheet named ``sheet`` (characters Excel forbids, ``[]:*?/\\``, become
  "_", and the name is cut to Excel's 31 characters), a bold, frozen header row, and column
  widths fitted to the header and the first rows' values (between 8 and 60 characters). Text is
  always written as text, never as a formula, so a value such as ``=1+1`` arrives unchanged.
  Infinite numbers, which Excel cannot store, are written as the text ``inf`` / ``-inf``.
  Excel's limits (1,048,575 data rows, 16,384 columns, 32,767 characters in a cell) are errors
  that suggest CSV or Parquet instead.
- **Parquet**: a text column that mixes kinds of values (numbers and text, say) is written as
  text, since a Parquet column has one type.

Writes are atomic: the file is written beside the target under a temporary name and renamed over
it only when complete, so a failed or interrupted export never leaves half a file, and an
existing file at the target is replaced only by a complete one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import re
import stat
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import quote

import numpy as np
import pandas as pd

from csmetrics.errors import UserInputError

__all__ = [
    "FORMATS",
    "ExportFormat",
    "check_format",
    "content_disposition",
    "download_name",
    "export_frame",
    "format_of",
    "frame_bytes",
]


class ExportFormat(NamedTuple):
    """One file format rows can be exported to."""

    label: str
    """What a user calls it (link text, help)."""
    media_type: str
    """The HTTP ``Content-Type`` of a download."""
    extension: str
    """The file extension, with its dot."""


FORMATS: dict[str, ExportFormat] = {
    "csv": ExportFormat("CSV", "text/csv; charset=utf-8", ".csv"),
    "parquet": ExportFormat("Parquet", "application/vnd.apache.parquet", ".parquet"),
    "xlsx": ExportFormat(
        "Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"
    ),
}
"""The export formats by name (the name is also the file extension without its dot)."""

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
EXCEL_MAX_CELL_CHARS = 32_767
EXCEL_MAX_SHEET_NAME = 31
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# control characters the XML inside an .xlsx file cannot carry (tab, newline, return can)
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WIDTH_SAMPLE_ROWS = 200
_MIN_WIDTH, _MAX_WIDTH = 8, 60


def _accepted() -> str:
    return ", ".join(FORMATS)


def check_format(fmt: str) -> str:
    """The canonical name of export format ``fmt`` ("CSV", ".xlsx" -> "csv", "xlsx").

    An unknown name is a ``UserInputError`` that names it and the accepted ones.
    """
    name = fmt.strip().lower().lstrip(".")
    if name not in FORMATS:
        hint = " (Excel files are written as .xlsx)" if name in {"xls", "excel"} else ""
        raise UserInputError(
            f"unknown export format {fmt!r}{hint}; use one of: {_accepted()}"
        )
    return name


def download_name(stem: str, fmt: str) -> str:
    """A safe file name for a download of ``stem`` in format ``fmt`` ("mrr" -> "mrr.xlsx")."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "export"
    return safe + FORMATS[check_format(fmt)].extension


def content_disposition(name: str) -> str:
    """An ``attachment`` Content-Disposition for a file called ``name``: ``filename`` keeps
    only ``[A-Za-z0-9._-]`` (anything else becomes "_"); a name with non-ASCII letters also
    gets an RFC 5987 ``filename*`` that keeps them (percent-encoded UTF-8; quotes, slashes
    and control characters still become "_")."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "download"
    header = f'attachment; filename="{safe}"'
    readable = re.sub(r'[\x00-\x1f\x7f"\\/]+', "_", name).strip(" ._")
    if readable and not readable.isascii():
        header += "; filename*=UTF-8''" + quote(readable, safe="")
    return header


def export_frame(
    frame: pd.DataFrame, target: Path, *, sheet: str = "data", timezone: str = "UTC"
) -> Path:
    """Write the rows of ``frame`` to ``target``; the format is the file's extension.

    The extension (``.csv``, ``.parquet``, ``.xlsx``, any case) picks the format; any other is a
    ``UserInputError`` naming it and the accepted ones, as is a folder that does not exist. The
    write is atomic (a temporary file beside the target, renamed when complete), so a failed
    export never leaves half a file. ``sheet`` names the Excel sheet; ``timezone`` is the zone
    time-zone-aware timestamps are shown in when written to Excel (see the module docstring).

    Returns the path written.
    """
    target = Path(target)
    fmt = format_of(target)
    folder = target.parent
    if not folder.is_dir():
        raise UserInputError(
            f"cannot write {target}: the folder {folder} does not exist; create it first "
            "or choose another path"
        )
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _WRITERS[fmt](frame, out, sheet, timezone)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; give it the mode of the file it replaces, or the
        # usual rw-r--r-- (reading the umask would mean changing it, racing other threads)
        os.chmod(temp, stat.S_IMODE(target.stat().st_mode) if target.exists() else 0o644)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    return target


def frame_bytes(
    frame: pd.DataFrame, fmt: str, *, sheet: str = "data", timezone: str = "UTC"
) -> tuple[bytes, str]:
    """The rows of ``frame`` encoded as ``fmt`` (csv, parquet, xlsx), with its media type.

    For HTTP downloads; the content is exactly what ``export_frame`` writes to a file.
    """
    name = check_format(fmt)
    buffer = io.BytesIO()
    _WRITERS[name](frame, buffer, sheet, timezone)
    return buffer.getvalue(), FORMATS[name].media_type


def format_of(target: Path) -> str:
    """The export format a file name asks for, by its extension (any case); an unknown one is
    a ``UserInputError`` naming it and the accepted ones."""
    suffix = target.suffix.lower()
    for name, spec in FORMATS.items():
        if suffix == spec.extension:
            return name
    shown = f"extension {target.suffix!r}" if target.suffix else "no extension"
    hint = " (Excel files are written as .xlsx)" if suffix == ".xls" else ""
    raise UserInputError(
        f"cannot export to {target}: {shown}{hint}; end the file name with one of: "
        + ", ".join(spec.extension for spec in FORMATS.values())
    )


# --- shaping the frame ------------------------------------------------------------------------


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a named index as columns and every column name as text, order kept."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    else:
        frame = frame.reset_index(drop=True)
    if isinstance(frame.columns, pd.MultiIndex):
        names = [" / ".join(str(part) for part in key if str(part) != "") for key in frame.columns]
    else:
        names = [str(name) for name in frame.columns]
    if list(frame.columns) != names:
        frame = frame.set_axis(names, axis="columns")
    return frame


# --- CSV --------------------------------------------------------------------------------------


#: What a spreadsheet reads as the start of a formula (OWASP's "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: Any) -> Any:
    """A text value a spreadsheet would run as a formula, quoted; anything else as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (flat) with its text cells and column names neutralised by ``_csv_text``."""
    out = frame.set_axis([_csv_text(name) for name in frame.columns], axis="columns")
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if column.dtype == object or isinstance(column.dtype,
                                                pd.StringDtype | pd.CategoricalDtype):
            out.isetitem(position, column.astype(object).map(_csv_text))
    return out


def _write_csv(frame: pd.DataFrame, out: IO[bytes], sheet: str, timezone: str) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        _csv_safe(_flat(frame)).to_csv(text, index=False, na_rep="", lineterminator="\n",
                                       quoting=csv.QUOTE_MINIMAL)
    finally:
        text.detach()


# --- Parquet ----------------------------------------------------------------------------------


def _write_parquet(frame: pd.DataFrame, out: IO[bytes], sheet: str, timezone: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = _flat(frame)
    for name in flat.columns:
        if flat[name].dtype == object:
            try:
                pa.array(flat[name], from_pandas=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                # one Parquet column has one type: a column mixing kinds of values becomes text
                flat[name] = flat[name].map(lambda v: None if _missing(v) else str(v))
    table = pa.Table.from_pandas(flat, preserve_index=False)
    pq.write_table(table, out)


# --- Excel ------------------------------------------------------------------------------------


def _sheet_title(sheet: str) -> str:
    title = _SHEET_FORBIDDEN.sub("_", sheet).strip("'")[:EXCEL_MAX_SHEET_NAME]
    return title or "data"


def _write_xlsx(frame: pd.DataFrame, out: IO[bytes], sheet: str, timezone: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    flat = _flat(frame)
    rows, width = flat.shape
    if rows + 1 > EXCEL_MAX_ROWS or width > EXCEL_MAX_COLUMNS:
        raise UserInputError(
            f"{rows:,} rows x {width:,} columns do not fit in an Excel sheet (at most "
            f"{EXCEL_MAX_ROWS - 1:,} rows and {EXCEL_MAX_COLUMNS:,} columns); "
            "export to .csv or .parquet instead"
        )
    converters = [_excel_converter(flat[name], timezone) for name in flat.columns]
    columns = [conv(flat[name]) for conv, name in zip(converters, flat.columns, strict=True)]
    for name, values in zip(flat.columns, columns, strict=True):
        _check_text_fits(name, [name, *values])  # before the workbook: fail with nothing open

    book = Workbook(write_only=True)
    ws = book.create_sheet(_sheet_title(sheet))
    ws.freeze_panes = "A2"

    for index, name in enumerate(flat.columns, start=1):
        sample = columns[index - 1][:_WIDTH_SAMPLE_ROWS]
        longest = max([len(name), *(_shown_width(v) for v in sample)])
        ws.column_dimensions[get_column_letter(index)].width = (
            min(max(longest + 2, _MIN_WIDTH), _MAX_WIDTH))

    bold = Font(bold=True)
    header = []
    for name in flat.columns:
        cell = WriteOnlyCell(ws, value=_excel_text(name))
        cell.data_type = "s"
        cell.font = bold
        header.append(cell)
    ws.append(header)

    for row in zip(*columns, strict=True):
        ws.append([_excel_cell(ws, value) for value in row])
    book.save(out)


def _excel_cell(ws: Any, value: Any) -> Any:
    """``value`` as openpyxl should store it: text as text (never a formula), dates formatted."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, str):
        value = _excel_text(value)
        if value.startswith("="):  # openpyxl would store it as a formula
            cell = WriteOnlyCell(ws, value=value)
            cell.data_type = "s"
            return cell
        return value
    if isinstance(value, datetime):  # before date: a datetime is a date too
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    return value  # a date gets openpyxl's own "yyyy-mm-dd" format


def _check_text_fits(column: str, values: list[Any]) -> None:
    """Excel cells hold at most 32,767 characters: name the first value that does not fit."""
    for row, value in enumerate(values):
        if isinstance(value, str) and len(value) > EXCEL_MAX_CELL_CHARS:
            place = "header" if row == 0 else f"row {row}"
            raise UserInputError(
                f"column {column!r}, {place}: {len(value):,} characters do not fit in an Excel "
                f"cell (at most {EXCEL_MAX_CELL_CHARS:,}); export to .csv or .parquet instead"
            )


def _excel_text(value: str) -> str:
    """``value`` without the control characters an .xlsx file cannot carry."""
    return _XML_ILLEGAL.sub("", value)


def _shown_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return len(f"{value:.6g}")
    text = str(value)
    return max((len(line) for line in text.splitlines()), default=0)


def _excel_converter(series: pd.Series, timezone: str) -> Callable[[pd.Series], list[Any]]:
    """How to turn one column into values openpyxl writes as the right kind of cell."""
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return lambda s: _timestamps(s.dt.tz_convert(timezone).dt.tz_localize(None))
    if pd.api.types.is_datetime64_dtype(dtype):
        return _timestamps
    if pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return lambda s: [None if _missing(v) else bool(v) for v in s.astype(object)]
    if pd.api.types.is_integer_dtype(dtype):
        return lambda s: [None if _missing(v) else int(v) for v in s.astype(object)]
    return lambda s: [_excel_scalar(v, timezone) for v in s.astype(object)]


def _timestamps(series: pd.Series) -> list[datetime | None]:
    return [None if pd.isna(v) else v.to_pydatetime() for v in series]


def _excel_scalar(value: Any, timezone: str) -> Any:
    """One value as a Python object openpyxl stores as the matching kind of cell."""
    if _missing(value):
        return None
    if isinstance(value, str | bool | int | Decimal):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        return number
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = pd.Timestamp(value).tz_convert(timezone).tz_localize(None).to_pydatetime()
        return value
    if isinstance(value, date):
        return value
    if isinstance(value, timedelta | pd.Timedelta):
        return str(pd.Timedelta(value))
    return str(value)


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


_WRITERS: dict[str, Callable[[pd.DataFrame, IO[bytes], str, str], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "xlsx": _write_xlsx,
}
