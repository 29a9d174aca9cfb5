"""Turning input files into one typed batch, and checking every row of it.

The batch is a temp table ``__batch`` with ``__file`` (the file's place in ``file_names``),
every canonical column typed and ``attributes``. It is built in one of two ways:

- straight from the files (the fast way, for a batch expected to be clean): no row numbers and
  no original cells are kept, and a cell that does not parse stops the statement, so a batch
  that gets built has none;
- from staging tables, one per file: then it also has ``__row`` (the row's place in its file)
  and, for each column parsed from text, the original cell as ``__raw_<column>``, so an error
  can show where and what was written.

Both ways type every cell with the same expressions, so they give the same rows. All checks
run as SQL over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb

from csmetrics.clock import EARLIEST_DAY, LATEST_DAY
from csmetrics.errors import Issue, UserInputError, ValidationError, closest
from csmetrics.ingest.mapping import Mapping, normalise_header, resolve_columns
from csmetrics.ingest.readers import FileFormat, detect_format, reader_sql
from csmetrics.schema import Column, DType, Table
from csmetrics.schema.tables import DEFAULT_SCALE_MAX
from csmetrics.store.sql import Params, first, quote_ident

BATCH = "__batch"
#: The name a mapping's constant column has in the batch's sources (it is in no file).
CONSTANT = "__constant_"
MAX_SHOWN = 20
#: The row numbers an issue lists for a value found on many rows.
ROWS_SHOWN = 3
_TEXT_TYPES = ("VARCHAR", "JSON")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                  "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
#: The range of an integer column (DuckDB's BIGINT).
INTEGER_RANGE = (-(2**63), 2**63 - 1)
#: The days a loaded date may fall on unless ``[ingest]`` in csmetrics.toml narrows them.
DEFAULT_WINDOW = (EARLIEST_DAY, LATEST_DAY)


@dataclass
class StagedFile:
    """One input file of the batch: where its rows come from (a staging table, or the file
    itself) and the canonical columns it carries."""

    path: Path
    #: The staging table holding the file's rows, or None: read straight into the batch.
    staging: str | None
    columns: list[tuple[str, str]]
    found: dict[str, str] = field(default_factory=dict)  # canonical column -> header
    extras: list[str] = field(default_factory=list)  # headers kept in ``attributes``
    encoding: str | None = None  # of a CSV file read straight into the batch

    @property
    def first_row(self) -> int:
        """Number of the first data row as a person finds it: line 2 of a CSV (after the
        header), line 1 of JSON lines, row 1 of Parquet."""
        return 2 if detect_format(self.path) is FileFormat.CSV else 1


@dataclass(frozen=True)
class Check:
    """One rule over the batch: rows matching ``where`` break it; ``value`` shows the culprit."""

    column: str | None
    where: str
    value: str
    expected: str
    #: A cheaper query for the number of rows breaking the rule (``where`` then only finds
    #: the examples, when there are any).
    count_sql: str | None = None
    #: An aggregate over the batch that is 0 when no row breaks the rule, cheaper than the
    #: count (it may be above 0 when none does; ``screen_checks`` says more).
    screen: str | None = None
    #: The column's allowed values, when the rule is that the value is one of them: the
    #: error then suggests the [values.<column>] line that translates the file's value.
    allowed: tuple[str, ...] = ()


def match_columns(table: Table, staged: StagedFile, mapping: Mapping) -> list[Issue]:
    """Find the canonical columns in a file's header (and the mapping's constants, added to
    the file's columns); issues for required ones that are missing, and for mapping entries
    naming a column the file does not have."""
    headers = [name for name, _ in staged.columns if not name.startswith(CONSTANT)]
    staged.columns = [(h, t) for h, t in staged.columns if not h.startswith(CONSTANT)]
    staged.columns += [(CONSTANT + name, "VARCHAR") for name in mapping.constants]
    staged.found = resolve_columns(headers, table, mapping)
    staged.found.update({name: CONSTANT + name for name in mapping.constants})
    used = set(staged.found.values())
    staged.extras = [h for h in headers if h not in used]
    issues = []
    # a format for a column neither the file nor [columns] knows is a misspelt header
    for header in mapping.formats.columns:
        if header not in headers and header not in mapping.columns:
            issues.append(Issue(
                str(staged.path), None, None, None,
                f"the column {header!r} that the mapping's [formats.columns] names; the file "
                f"has {', '.join(headers)}.{closest(header, headers)} Fix the name in the "
                "mapping (it is the file's header, as written)."))
    for name in table.required:
        if name not in staged.found:
            hint = closest(name, staged.extras) or closest(
                name, [normalise_header(h) for h in staged.extras]
            )
            issues.append(
                Issue(
                    str(staged.path), None, name, None,
                    f"a column named {name!r} (required for {table.name}); the file has "
                    f"{', '.join(headers)}.{hint} Rename it, or map it in a --mapping file "
                    f"([columns] \"Their name\" = \"{name}\").",
                )
            )
    return issues


def build_batch(
    con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[StagedFile], mapping: Mapping
) -> None:
    """Create ``__batch``: every file's rows, typed and mapped onto ``table``.

    Files without a staging table are read straight from disk; a cell of theirs that does not
    parse makes the statement fail (a ``duckdb.Error``): stage the files to find it.
    """
    params = Params()
    selects: list[str] = []
    names = file_names(files)
    for staged in files:
        source_types = dict(staged.columns)
        exprs = [f"{params.add(names.index(str(staged.path)))} AS __file"]
        if staged.staging is not None:
            exprs.append(f"__rowid + {staged.first_row} AS __row")
        texts = []  # each cell's cleaned text, computed once in an inner query
        typed_columns: dict[str, str] = {}
        # derived and multiplied columns last: they read the typed columns they come from
        later = [c for c in table.columns if c.name in mapping.derived
                 or c.name in mapping.multiply]
        derived = [c for c in later if c.name in mapping.derived]
        for column in [c for c in table.columns if c not in later] + later:
            header = staged.found.get(column.name)
            if header is None:
                exprs.append(f"CAST(NULL AS {column.dtype.sql}) AS {column.name}")
                continue
            source_type = source_types[header]
            text = quote_ident(f"__text_{len(texts)}")
            texts.append(f"{_cell_text(header, source_type, column, mapping, params)} AS {text}")
            if column.allowed and staged.staging is not None:
                original = _trimmed(_as_text(header, source_type))
                texts.append(f"{original} AS {quote_ident('__orig_' + column.name)}")
                exprs.append(quote_ident("__orig_" + column.name))
            if column in derived:
                after = typed_columns.get(mapping.derived[column.name].after, "NULL")
                typed = _after_minutes(after, text)
            else:
                typed = _typed(header, text, source_type, column, mapping, params)
            if column.name in mapping.multiply:
                by = typed_columns.get(mapping.multiply[column.name], "NULL")
                typed = f"CAST({typed} * coalesce({by}, 1) AS {column.dtype.sql})"
            typed_columns[column.name] = typed
            if _converted(column, source_type):
                if staged.staging is None:
                    typed = _or_stop(typed, text, params)
                else:
                    exprs.append(f"{text} AS {quote_ident('__raw_' + column.name)}")
            exprs.append(f"{typed} AS {column.name}")
        if staged.extras:
            values = ", ".join(f"CAST({quote_ident(h)} AS VARCHAR)" for h in staged.extras)
            exprs.append(f"map([{params.add_all(staged.extras)}], [{values}]) AS attributes")
        else:
            exprs.append("CAST(NULL AS MAP(VARCHAR, VARCHAR)) AS attributes")
        constants = "".join(
            f", CAST({params.add(_constant_text(value))} AS VARCHAR) AS "
            f"{quote_ident(CONSTANT + name)}"
            for name, value in mapping.constants.items())
        if staged.staging is None:
            reader = reader_sql(staged.path, params, encoding=staged.encoding)
            source = f"SELECT *{constants} FROM {reader}"
        else:
            source = f"SELECT rowid AS __rowid, *{constants} FROM {staged.staging}"
        inner = f"SELECT *, {', '.join(texts)} FROM ({source})" if texts else source
        selects.append(f"SELECT {', '.join(exprs)} FROM ({inner})")
    sql = f"CREATE OR REPLACE TEMP TABLE {BATCH} AS " + " UNION ALL BY NAME ".join(selects)
    con.execute(sql, params.values)


def file_names(files: Sequence[StagedFile]) -> list[str]:
    """The batch's file names, sorted: a row's ``__file`` is its file's place in this list, so
    rows in ``__file`` order are in name order, and each row keeps a number, not a name."""
    return sorted({str(staged.path) for staged in files})


def _or_stop(typed: str, text: str, params: Params) -> str:
    """``typed``, or an error that stops the statement when the cell ``text`` does not parse
    (what the check on ``__raw_<column>`` finds in a staged batch)."""
    stop = params.add("a cell does not parse; stage the files to find it")
    return f"(CASE WHEN {typed} IS NULL AND {text} IS NOT NULL THEN error({stop}) ELSE {typed} END)"


def _converted(column: Column, source_type: str) -> bool:
    """Whether the column's cells are parsed from text or cast from another type: then a
    cell that gives NULL (does not parse, or overflows the column's type) is an error."""
    return column.dtype is not DType.STRING and (
        source_type in _TEXT_TYPES or source_type != column.dtype.sql)


def _constant_text(value: str | int | float | bool) -> str:
    """A mapping constant as the text a file would hold: ``true``, ``10``, ``nps``."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _after_minutes(after: str, minutes: str) -> str:
    """The timestamp ``after`` plus the number of minutes in the text ``minutes`` (NULL when
    it is no number or ``after`` is NULL)."""
    micros = f"CAST(round(TRY_CAST({minutes} AS DOUBLE) * 60000000) AS BIGINT)"
    return f"({after} + to_microseconds({micros}))"


def _as_text(header: str, source_type: str) -> str:
    """The file's cell as text."""
    ref = quote_ident(header)
    return f"{ref} ->> '$'" if source_type == "JSON" else f"CAST({ref} AS VARCHAR)"


def _cell_text(
    header: str, source_type: str, column: Column, mapping: Mapping, params: Params
) -> str:
    """The cell as trimmed text (empty = NULL), with the mapping's value translations applied
    (matched ignoring case)."""
    text = _trimmed(_as_text(header, source_type))
    translations = mapping.values.get(column.name, {})
    if translations:
        whens = " ".join(
            f"WHEN {params.add(theirs.lower())} THEN {params.add(ours)}"
            for theirs, ours in translations.items()
        )
        text = f"(CASE lower({text}) {whens} ELSE {text} END)"
    if column.allowed:
        text = f"lower({text})"
    elif column.name == "currency":
        text = f"upper({text})"
    return text


def _trimmed(text: str) -> str:
    """``NULLIF(trim(text), '')``: the text without the spaces around it, empty = NULL.

    ``trim`` is slow, and the usual cell has nothing to trim: a cell that is not empty, all
    ASCII (as many bytes as characters) and has no space at either end is kept as it is
    (the only ASCII character ``trim`` removes is the space; the other ones it removes are
    Unicode spaces, which are not ASCII).
    """
    usual = (f"{text} NOT LIKE ' %' AND {text} NOT LIKE '% ' AND {text} <> '' "
             f"AND strlen({text}) = length({text})")
    return f"(CASE WHEN {usual} THEN {text} ELSE NULLIF(trim({text}), '') END)"


def _typed(
    header: str, text: str, source_type: str, column: Column, mapping: Mapping, params: Params
) -> str:
    """The expression that gives the column its canonical type (NULL when it does not parse).

    Text cells are parsed (timestamps with an offset are converted to the workspace's zone;
    without one they are taken as local time); typed Parquet / JSON values are cast directly.
    """
    target = column.dtype
    if target is DType.STRING:
        return text
    if source_type not in _TEXT_TYPES:
        value = quote_ident(header)
        if target is DType.TIMESTAMP:
            return f"TRY_CAST(TRY_CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        if target is DType.INTEGER and source_type not in _INTEGER_TYPES:
            return _whole(f"TRY_CAST({value} AS DOUBLE)", None)
        return f"TRY_CAST({value} AS {target.sql})"
    fmt = mapping.format_for(target, header)
    if target is DType.DATE:
        if fmt:
            return f"CAST(try_strptime({text}, {params.add(fmt)}) AS DATE)"
        return (
            f"coalesce(TRY_CAST({text} AS DATE), "
            f"CAST(TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) AS DATE))"
        )
    if target is DType.TIMESTAMP:
        if fmt:
            return f"try_strptime({text}, {params.add(fmt)})"
        # 'YYYY-MM-DD HH:MM:SS' has no room for an offset: read it as local time directly
        # (the time-zone-aware parse below gives the same value, at twice the cost). The
        # pattern: 19 characters, '-' 5th, ':' 14th and 17th ('_' is any one character).
        plain = f"{text} LIKE '____-________:__:__'"
        return (f"(CASE WHEN {plain} THEN TRY_CAST({text} AS TIMESTAMP) "
                f"ELSE TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) END)")
    if target is DType.INTEGER:
        return _whole(f"TRY_CAST({text} AS DOUBLE)", text)
    return f"TRY_CAST({text} AS {target.sql})"


def _whole(number: str, text: str | None) -> str:
    """A whole ``number`` as a BIGINT; NULL when it has a fraction or does not fit (the exact
    ``text``, when there is one, is read directly: a double loses digits beyond 2**53)."""
    exact = f"TRY_CAST({text} AS BIGINT)" if text else f"TRY_CAST({number} AS BIGINT)"
    return f"(CASE WHEN {number} = round({number}) THEN {exact} END)"


def checks_for(table: Table, files: Sequence[StagedFile], params: Params,
               window: tuple[date, date] = DEFAULT_WINDOW,
               mapping: Mapping | None = None) -> list[Check]:
    """Every row rule that applies to this batch, as SQL predicates over ``__batch``; dates
    must fall within ``window`` (first and last day). ``mapping``: the one the batch was
    built with (its derived columns are explained by the minutes they come from)."""
    derived = mapping.derived if mapping else {}
    present = {name for staged in files for name in staged.found}
    raw_columns = {
        name
        for staged in files
        if staged.staging is not None
        for name, header in staged.found.items()
        if _converted(table.column(name), dict(staged.columns)[header])
    }

    def shown(name: str) -> str:
        """The cell as the user wrote it, where we have it."""
        raw = quote_ident("__raw_" + name)
        return raw if name in raw_columns else f"CAST({name} AS VARCHAR)"

    checks: list[Check] = []
    for column in table.columns:
        name = column.name
        raw = quote_ident("__raw_" + name)
        if name in raw_columns:
            expected = column.dtype.label
            if name in derived:
                expected = (f"a number of minutes (in {derived[name].minutes!r}) after a "
                            f"valid {derived[name].after}")
            elif column.dtype is DType.INTEGER:
                expected += " from {:,} to {:,}".format(*INTEGER_RANGE)
            checks.append(Check(name, f"{raw} IS NOT NULL AND {name} IS NULL", raw, expected))
        if column.required:
            where = f"{name} IS NULL" + (f" AND {raw} IS NULL" if name in raw_columns else "")
            checks.append(Check(name, where, "NULL", "a value: the column is required"))
        if name not in present:
            continue
        if column.allowed:
            staged_any = any(staged.staging is not None for staged in files)
            checks.append(
                Check(
                    name,
                    f"{name} IS NOT NULL AND {name} NOT IN ({params.add_all(column.allowed)})",
                    quote_ident("__orig_" + name) if staged_any else name,
                    f"one of {', '.join(column.allowed)}",
                    allowed=column.allowed,
                )
            )
        if column.minimum is not None:
            checks.append(
                Check(name, f"{name} < {params.add(column.minimum)}", shown(name),
                      f"a value of at least {column.minimum:g}")
            )
        if column.dtype in (DType.DATE, DType.TIMESTAMP):
            checks.append(_window_check(column, window, params, shown(name)))
    for rule in table.orderings:
        if rule.later in present:
            checks.append(
                Check(
                    rule.later, f"{rule.later} < {rule.earlier}", shown(rule.later),
                    f"{rule.later} on or after {rule.earlier} (it is before it)",
                )
            )
    if table.name == "survey_responses":
        checks.append(
            Check("score", f"score > {scale_max_sql(params)}", shown("score"),
                  "a score no higher than the survey's scale_max (nps 10, csat 5, ces 7 "
                  "unless scale_max says otherwise)")
        )
    key = ", ".join(table.key)
    key_text = " || '/' || ".join(f"coalesce(CAST({k} AS VARCHAR), '')" for k in table.key)
    checks.append(
        Check(
            ", ".join(table.key),
            f"row_number() OVER (PARTITION BY {key} ORDER BY __file, __row) > 1",
            key_text,
            "a key that appears once in the batch; it is repeated (keep one row per "
            f"{' + '.join(table.key)})",
            count_sql=f"SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM {BATCH} "
                      f"GROUP BY {key} HAVING count(*) > 1)",
            # rows with equal keys have equal hashes, so all hashes distinct = no repeats
            screen=f"count(*) - count(DISTINCT hash({key}))",
        )
    )
    return checks


def _window_check(column: Column, window: tuple[date, date], params: Params, value: str
                  ) -> Check:
    """Dates (and times) before the window's first day or after its last are implausible."""
    first_day, last_day = window
    name = column.name
    low = f"CAST({params.add(first_day.isoformat())} AS DATE)"
    high = f"CAST({params.add((last_day + timedelta(days=1)).isoformat())} AS DATE)"
    return Check(name, f"{name} < {low} OR {name} >= {high}", value,
                 f"a date from {first_day.isoformat()} to {last_day.isoformat()} (other dates "
                 "are refused as implausible; [ingest] earliest_date and latest_date in "
                 "csmetrics.toml set the window)")


def scale_max_sql(params: Params) -> str:
    """``scale_max`` of a survey answer, or the survey's usual scale when it is empty."""
    cases = " ".join(
        f"WHEN {params.add(survey)} THEN {top}" for survey, top in DEFAULT_SCALE_MAX.items()
    )
    return f"coalesce(scale_max, CASE survey {cases} END)"


def orphan_checks(table: Table, files: Sequence[StagedFile]) -> list[Check]:
    """Rows that name a customer the warehouse (or, for customers, the batch) does not have."""
    present = {name for staged in files for name in staged.found}
    known = "SELECT customer_id FROM customers"
    if table.name == "customers":
        known += f" UNION ALL SELECT customer_id FROM {BATCH}"
    return [
        Check(
            column.name,
            f"{column.name} IS NOT NULL AND {column.name} NOT IN ({known})",
            column.name,
            "a customer_id that exists in customers (load customers first, or pass "
            "--allow-orphans to keep such rows)",
        )
        for column in table.columns
        if column.references_customer and column.name in present
    ]


def run_checks(
    con: duckdb.DuckDBPyConnection, checks: Sequence[Check], params: Params,
    files: Sequence[StagedFile],
) -> tuple[list[int], list[Issue]]:
    """Count the rows breaking each check and fetch the first examples of the broken ones
    (the batch of ``files`` must have row numbers: built from staging tables)."""
    counts = count_checks(con, checks, params)
    return counts, find_examples(con, checks, counts, params, files)


def count_checks(
    con: duckdb.DuckDBPyConnection, checks: Sequence[Check], params: Params
) -> list[int]:
    """The number of rows of the batch breaking each check."""
    if not checks:
        return []
    plain = [c for c in checks if "OVER" not in c.where]
    counts: dict[int, int] = {}
    if plain:
        counted = (f"coalesce(count_if(coalesce({c.where}, false)), 0)" for c in plain)
        sql = f"SELECT {', '.join(counted)} FROM {BATCH}"
        row = first(con.execute(sql, params.used_by(sql))) or ()
        counts.update({id(c): int(n) for c, n in zip(plain, row, strict=True)})
    for check in checks:
        if id(check) in counts:
            continue
        sql = check.count_sql or (f"SELECT coalesce(count_if(coalesce(bad, false)), 0) "
                                  f"FROM (SELECT {check.where} AS bad FROM {BATCH})")
        row = first(con.execute(sql, params.used_by(sql)))
        counts[id(check)] = int(row[0]) if row else 0
    return [counts[id(c)] for c in checks]


def screen_checks(
    con: duckdb.DuckDBPyConnection, checks: Sequence[Check], params: Params
) -> list[int]:
    """For each check, in one scan of the batch: 0 when no row breaks it. A check with a
    ``screen`` may get more than 0 although no row breaks it (two different keys with the
    same hash): count those with ``count_checks`` before telling anyone; the others get
    their exact count."""
    if not checks:
        return []
    columns = (c.screen or f"coalesce(count_if(coalesce({c.where}, false)), 0)" for c in checks)
    sql = f"SELECT {', '.join(columns)} FROM {BATCH}"
    row = first(con.execute(sql, params.used_by(sql))) or ()
    return [int(n) for n in row]


def find_examples(
    con: duckdb.DuckDBPyConnection, checks: Sequence[Check], counts: Sequence[int],
    params: Params, files: Sequence[StagedFile],
) -> list[Issue]:
    """The rows breaking each check that ``counts`` says is broken, in file order, one issue
    per file and value as the file wrote it (with the rows that hold it); at most
    ``MAX_SHOWN`` values per check."""
    names = file_names(files)
    issues: list[Issue] = []
    for check, count in zip(checks, counts, strict=True):
        if count == 0:
            continue
        sql = (
            f"SELECT __file, value, list(__row ORDER BY __row)[1:{ROWS_SHOWN}], count(*) "
            f"FROM (SELECT __file, __row, {check.value} AS value, {check.where} AS bad "
            f"FROM {BATCH}) WHERE bad GROUP BY __file, value ORDER BY __file, min(__row) "
            f"LIMIT {MAX_SHOWN}"
        )
        for file, value, rows, n in con.execute(sql, params.used_by(sql)).fetchall():
            shown = None if value is None else str(value)
            expected = check.expected
            if check.allowed and shown is not None:
                expected += "; " + _translation_hint(check.column or "", shown, check.allowed)
            issues.append(Issue(names[file], int(rows[0]), check.column, shown, expected,
                                rows=tuple(int(r) for r in rows), count=int(n)))
    issues.sort(key=lambda i: (i.file, i.row or 0))
    return issues


def _translation_hint(column: str, value: str, allowed: Sequence[str]) -> str:
    """The mapping line that would translate ``value`` into an allowed value of ``column``."""
    import difflib

    match = difflib.get_close_matches(value.lower(), list(allowed), n=1, cutoff=0.7)
    target = match[0] if match else f"<one of {', '.join(allowed)}>"
    return f"add [values.{column}] {_toml_key(value)} = \"{target}\" to the --mapping file"


def _toml_key(text: str) -> str:
    """``text`` as a quoted TOML key."""
    import json

    return json.dumps(text, ensure_ascii=False)


def raise_if_any(table: Table, issues: list[Issue], total: int) -> None:
    """Refuse the batch when anything was found."""
    if total:
        raise ValidationError(table.name, issues, total, shown=MAX_SHOWN)


def require_files(paths: Sequence[Path]) -> None:
    """A batch needs at least one file."""
    if not paths:
        raise UserInputError("Name at least one file to load.")
