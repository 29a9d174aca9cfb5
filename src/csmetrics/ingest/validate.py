"""Turning staged files into one typed batch, and checking every row of it.

The batch is a temp table ``__batch`` with ``__file``, ``__row``, every canonical column typed,
``attributes``, and for each column parsed from text its original cell as ``__raw_<column>``
(so an error can show what was written). All checks run as SQL over that table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from csmetrics.errors import Issue, UserInputError, ValidationError, closest
from csmetrics.ingest.mapping import Mapping, normalise_header, resolve_columns
from csmetrics.ingest.readers import FileFormat, detect_format
from csmetrics.schema import Column, DType, Table
from csmetrics.schema.tables import DEFAULT_SCALE_MAX
from csmetrics.store.sql import Params, first, quote_ident

BATCH = "__batch"
MAX_SHOWN = 20
_TEXT_TYPES = ("VARCHAR", "JSON")


@dataclass
class StagedFile:
    """One file read into a staging table, with the canonical columns it carries."""

    path: Path
    staging: str
    columns: list[tuple[str, str]]
    found: dict[str, str] = field(default_factory=dict)  # canonical column -> header
    extras: list[str] = field(default_factory=list)  # headers kept in ``attributes``

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


def match_columns(table: Table, staged: StagedFile, mapping: Mapping) -> list[Issue]:
    """Find the canonical columns in a file's header; issues for required ones that are missing."""
    headers = [name for name, _ in staged.columns]
    staged.found = resolve_columns(headers, table, mapping)
    used = set(staged.found.values())
    staged.extras = [h for h in headers if h not in used]
    issues = []
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
    """Create ``__batch``: every staged file's rows, typed and mapped onto ``table``."""
    params = Params()
    selects: list[str] = []
    for staged in files:
        source_types = dict(staged.columns)
        exprs = [f"{params.add(str(staged.path))} AS __file",
                 f"__rowid + {staged.first_row} AS __row"]
        texts = []  # each cell's cleaned text, computed once in an inner query
        for column in table.columns:
            header = staged.found.get(column.name)
            if header is None:
                exprs.append(f"CAST(NULL AS {column.dtype.sql}) AS {column.name}")
                continue
            source_type = source_types[header]
            text = quote_ident(f"__text_{len(texts)}")
            texts.append(f"{_cell_text(header, source_type, column, mapping, params)} AS {text}")
            typed = _typed(header, text, source_type, column, mapping, params)
            exprs.append(f"{typed} AS {column.name}")
            if _parsed_from_text(column, source_type):
                exprs.append(f"{text} AS {quote_ident('__raw_' + column.name)}")
        if staged.extras:
            values = ", ".join(f"CAST({quote_ident(h)} AS VARCHAR)" for h in staged.extras)
            exprs.append(f"map([{params.add_all(staged.extras)}], [{values}]) AS attributes")
        else:
            exprs.append("CAST(NULL AS MAP(VARCHAR, VARCHAR)) AS attributes")
        inner = f"SELECT rowid AS __rowid, *, {', '.join(texts)} FROM {staged.staging}" \
            if texts else f"SELECT rowid AS __rowid, * FROM {staged.staging}"
        selects.append(f"SELECT {', '.join(exprs)} FROM ({inner})")
    sql = f"CREATE OR REPLACE TEMP TABLE {BATCH} AS " + " UNION ALL BY NAME ".join(selects)
    con.execute(sql, params.values)


def _parsed_from_text(column: Column, source_type: str) -> bool:
    return column.dtype is not DType.STRING and source_type in _TEXT_TYPES


def _cell_text(
    header: str, source_type: str, column: Column, mapping: Mapping, params: Params
) -> str:
    """The cell as trimmed text (empty = NULL), with the mapping's value translations applied."""
    ref = quote_ident(header)
    text = f"{ref} ->> '$'" if source_type == "JSON" else f"CAST({ref} AS VARCHAR)"
    text = f"NULLIF(trim({text}), '')"
    translations = mapping.values.get(column.name, {})
    if translations:
        whens = " ".join(
            f"WHEN {params.add(theirs)} THEN {params.add(ours)}"
            for theirs, ours in translations.items()
        )
        text = f"(CASE {text} {whens} ELSE {text} END)"
    if column.allowed:
        text = f"lower({text})"
    elif column.name == "currency":
        text = f"upper({text})"
    return text


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
        return f"TRY_CAST({value} AS {target.sql})"
    fmt = mapping.format_for(target)
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
        # (the time-zone-aware parse below gives the same value, at twice the cost)
        plain = (f"length({text}) = 19 AND substr({text}, 5, 1) = '-' AND "
                 f"substr({text}, 14, 1) = ':' AND substr({text}, 17, 1) = ':'")
        return (f"(CASE WHEN {plain} THEN TRY_CAST({text} AS TIMESTAMP) "
                f"ELSE TRY_CAST(TRY_CAST({text} AS TIMESTAMPTZ) AS TIMESTAMP) END)")
    if target is DType.INTEGER:
        number = f"TRY_CAST({text} AS DOUBLE)"
        return f"(CASE WHEN {number} = round({number}) THEN CAST({number} AS BIGINT) END)"
    return f"TRY_CAST({text} AS {target.sql})"


def checks_for(table: Table, files: Sequence[StagedFile], params: Params) -> list[Check]:
    """Every row rule that applies to this batch, as SQL predicates over ``__batch``."""
    present = {name for staged in files for name in staged.found}
    raw_columns = {
        name
        for staged in files
        for name, header in staged.found.items()
        if _parsed_from_text(table.column(name), dict(staged.columns)[header])
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
            checks.append(Check(name, f"{raw} IS NOT NULL AND {name} IS NULL", raw, expected))
        if column.required:
            where = f"{name} IS NULL" + (f" AND {raw} IS NULL" if name in raw_columns else "")
            checks.append(Check(name, where, "NULL", "a value: the column is required"))
        if name not in present:
            continue
        if column.allowed:
            checks.append(
                Check(
                    name,
                    f"{name} IS NOT NULL AND {name} NOT IN ({params.add_all(column.allowed)})",
                    name,
                    f"one of {', '.join(column.allowed)} (translate other spellings in the "
                    f"[values.{name}] section of a --mapping file)",
                )
            )
        if column.minimum is not None:
            checks.append(
                Check(name, f"{name} < {params.add(column.minimum)}", shown(name),
                      f"a value of at least {column.minimum:g}")
            )
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
        )
    )
    return checks


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
    con: duckdb.DuckDBPyConnection, checks: Sequence[Check], params: Params
) -> tuple[list[int], list[Issue]]:
    """Count the rows breaking each check and fetch the first examples of the broken ones."""
    if not checks:
        return [], []
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
    issues: list[Issue] = []
    for check in checks:
        if counts[id(check)] == 0:
            continue
        sql = (
            f"SELECT __file, __row, value FROM (SELECT __file, __row, {check.value} AS value, "
            f"{check.where} AS bad FROM {BATCH}) WHERE bad ORDER BY __file, __row LIMIT {MAX_SHOWN}"
        )
        for file, row_number, value in con.execute(sql, params.used_by(sql)).fetchall():
            shown = None if value is None else str(value)
            issues.append(Issue(file, int(row_number), check.column, shown, check.expected))
    issues.sort(key=lambda i: (i.file, i.row or 0))
    return [counts[id(c)] for c in checks], issues


def raise_if_any(table: Table, issues: list[Issue], total: int) -> None:
    """Refuse the batch when anything was found."""
    if total:
        raise ValidationError(table.name, issues, total, shown=MAX_SHOWN)


def require_files(paths: Sequence[Path]) -> None:
    """A batch needs at least one file."""
    if not paths:
        raise UserInputError("Name at least one file to load.")
