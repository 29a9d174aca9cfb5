"""Loading a batch of files into a canonical table: all or nothing, idempotent, recorded.

The whole batch is read and validated before anything is written. The write itself is one
DuckDB transaction (new rows inserted, changed rows replaced, the ledger row appended), so a
failure or a killed process leaves the warehouse exactly as it was.

A file may carry only some of the table's columns: for a key already stored, the columns the
file lacks keep their stored values (the given ones are merged into the stored row; a new key
gets NULL for them), unless ``replace_columns`` asks to replace whole rows.

Files are first read straight into the batch, expecting them to be clean; when anything is
wrong (a cell that does not parse, a broken rule, an unreadable file), they are read again
through staging tables, which know each row's place, to report every problem.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from csmetrics.errors import Issue, UserInputError, ValidationError
from csmetrics.ingest import ledger
from csmetrics.ingest.changes import (
    Change,
    earliest_change,
    earliest_in,
    key_match,
    record_change,
)
from csmetrics.ingest.mapping import Mapping
from csmetrics.ingest.readers import file_columns, stage_file
from csmetrics.ingest.validate import (
    BATCH,
    DEFAULT_WINDOW,
    StagedFile,
    build_batch,
    checks_for,
    file_names,
    match_columns,
    orphan_checks,
    require_files,
    run_checks,
    scale_max_sql,
    screen_checks,
)
from csmetrics.schema import Table, get_table
from csmetrics.store.lake import Lake
from csmetrics.store.sql import Params, first, transaction

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

Step = Callable[[str], None]


@dataclass(frozen=True)
class IngestResult:
    """What one batch did to its table."""

    batch_id: int
    table: str
    files: list[str]
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    orphans: int
    extra_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        """One line a person reads after a load."""
        text = (
            f"{self.table}: {self.rows_read:,} rows read from {len(self.files)} file(s); "
            f"{self.inserted:,} inserted, {self.updated:,} updated, {self.unchanged:,} unchanged"
        )
        if self.deleted:
            text += f", {self.deleted:,} replaced rows removed"
        if self.orphans:
            text += f"; {self.orphans:,} kept without a known customer (--allow-orphans)"
        if self.extra_columns:
            text += f"; extra columns kept in attributes: {', '.join(self.extra_columns)}"
        return text + f" (batch {self.batch_id}, {self.seconds:.1f} s)."


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    table_name: str,
    paths: Sequence[Path],
    *,
    mapping: Mapping | None = None,
    replace: bool = False,
    allow_orphans: bool = False,
    encoding: str | None = None,
    loaded_by: str | None = None,
    on_step: Step | None = None,
    replace_columns: bool = False,
    date_window: tuple[date, date] = DEFAULT_WINDOW,
    reporting_currency: str | None = None,
    lake: LakeTarget | None = None,
) -> IngestResult:
    """Validate ``paths`` as rows of ``table_name`` and load them, all or nothing.

    Rows whose key already exists are updated when they differ and left alone when they
    don't, so loading the same files twice changes nothing. A file lacking some of the
    table's columns updates only the columns it has: the others keep their stored values
    (a new key gets NULL for them); ``replace_columns=True`` replaces whole rows instead,
    emptying the columns the file lacks. ``replace=True`` swaps the table's whole content
    for the batch. Dates outside ``date_window`` (first and last day) are refused, and so
    are amounts in a currency other than ``reporting_currency`` (when given) that
    exchange_rates has no rate for, dated on or before the currency's first use.

    With ``lake`` (a Spark workspace), ``con`` is the lake's catalog: the batch is checked
    there against the stored rows, and Spark writes the table's new version.
    """
    started = time.perf_counter()
    step = on_step or (lambda _message: None)
    table = get_table(table_name)
    mapping = mapping or Mapping()
    mapping.check_against(table)
    require_files(paths)
    # the files' hash (for the ledger) is read on a thread while DuckDB reads and checks them
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="csmetrics-hash")
    digest = hashing.submit(ledger.content_hash, paths, mapping.model_dump_json())
    try:
        step(f"reading and checking {', '.join(p.name for p in paths)}")
        checked = _checked_direct(con, table, paths, mapping, encoding, allow_orphans,
                                  date_window)
        if checked is None:
            checked = _checked_staged(con, table, paths, mapping, encoding, allow_orphans, step,
                                      date_window)
        files, orphans = checked
        missing = rate_issues(con, table, files, reporting_currency)
        if missing:
            raise ValidationError(table.name, missing, len(missing))
        step("loading")
        counts_by_action = _write(
            con, table, files, replace=replace, replace_columns=replace_columns, lake=lake,
            batch={
                "table": table.name,
                "files": [str(p) for p in paths],
                "content_hash": digest.result(),
                "mode": "replace" if replace else "upsert-rows" if replace_columns else "upsert",
                "orphans": orphans,
                "loaded_by": loaded_by or ledger.current_user(),
            },
        )
    finally:
        hashing.shutdown(wait=True, cancel_futures=True)
        for index in range(len(paths)):
            con.execute(f"DROP TABLE IF EXISTS {_staging(index)}")
        con.execute(f"DROP TABLE IF EXISTS {BATCH}")
    extras = sorted({h for f in files for h in f.extras})
    return IngestResult(
        table=table.name,
        files=[str(p) for p in paths],
        orphans=orphans,
        extra_columns=extras,
        seconds=time.perf_counter() - started,
        **counts_by_action,
    )


def _checked_direct(
    con: duckdb.DuckDBPyConnection, table: Table, paths: Sequence[Path], mapping: Mapping,
    encoding: str | None, allow_orphans: bool, window: tuple[date, date],
) -> tuple[list[StagedFile], int] | None:
    """Build the batch straight from the files and check it: the files and the number of
    orphan rows kept when it is clean, None when anything is wrong (then nothing is said:
    the staged reading finds and reports it)."""
    files: list[StagedFile] = []
    try:
        for path in paths:
            columns = file_columns(con, path, encoding=encoding)
            files.append(StagedFile(path, None, columns, encoding=encoding))
            if match_columns(table, files[-1], mapping):
                return None
        build_batch(con, table, files, mapping)
        with_rows = first(con.execute(f"SELECT count(DISTINCT __file) FROM {BATCH}"))
        if not with_rows or with_rows[0] < len(file_names(files)):
            return None  # a file with a header but no rows
        params = Params()
        checks = checks_for(table, files, params, window, mapping)
        orphan_rules = orphan_checks(table, files)
        found = screen_checks(con, checks + orphan_rules, params)
        if any(found[: len(checks)]):
            return None
        orphans = sum(found[len(checks):])  # exact: orphan checks have no screen
    except (duckdb.Error, UserInputError):
        return None
    if orphans and not allow_orphans:
        return None
    return files, orphans


def _checked_staged(
    con: duckdb.DuckDBPyConnection, table: Table, paths: Sequence[Path], mapping: Mapping,
    encoding: str | None, allow_orphans: bool, step: Step, window: tuple[date, date],
) -> tuple[list[StagedFile], int]:
    """Read each file into a staging table (``_staging(index)``, for the caller to drop),
    build the batch from them and check it; raise ``ValidationError`` with every problem.
    Returns the files and the number of orphan rows kept."""
    issues: list[Issue] = []
    staged: list[StagedFile] = []
    for index, path in enumerate(paths):
        step(f"reading {path.name}")
        columns = stage_file(con, path, _staging(index), encoding=encoding)
        staged.append(StagedFile(path, _staging(index), columns))
        issues += match_columns(table, staged[-1], mapping)
    if issues:
        raise ValidationError(table.name, issues, len(issues))
    step("checking rows")
    build_batch(con, table, staged, mapping)
    params = Params()
    counts, issues = run_checks(con, checks_for(table, staged, params, window, mapping), params,
                                staged)
    total = sum(counts)
    orphan_counts, orphan_issues = run_checks(con, orphan_checks(table, staged), params, staged)
    orphans = sum(orphan_counts)
    if orphans and not allow_orphans:
        total += orphans
        issues = sorted(issues + orphan_issues, key=lambda i: (i.file, i.row or 0))
    if total:
        raise ValidationError(table.name, issues, total)
    return staged, orphans


@dataclass(frozen=True)
class Preview:
    """How files would load, found without loading them: the first rows as they map, and
    every problem that would refuse the batch."""

    table: str
    files: list[str]
    rows_read: int
    #: (where a canonical column comes from: the file's header, "(constant)" or the minutes
    #: column of a derived one, canonical column), in the table's column order.
    columns: list[tuple[str, str]]
    #: The first rows, canonical column -> value as it would be stored (``__row``: the line).
    rows: list[dict[str, object]]
    issues: list[Issue]
    #: Rows (or columns) with a problem; 0 = the batch would load.
    problems: int
    extra_columns: list[str] = field(default_factory=list)

    @property
    def would_load(self) -> bool:
        """Whether ``ingest`` would accept these files as they are."""
        return self.problems == 0


def preview_files(
    con: duckdb.DuckDBPyConnection,
    table_name: str,
    paths: Sequence[Path],
    *,
    mapping: Mapping | None = None,
    allow_orphans: bool = False,
    encoding: str | None = None,
    date_window: tuple[date, date] = DEFAULT_WINDOW,
    reporting_currency: str | None = None,
    rows: int = 5,
) -> Preview:
    """Read, map and check ``paths`` as ``ingest_files`` would, and write nothing: the first
    ``rows`` rows as they map onto ``table_name`` and the problems found."""
    table = get_table(table_name)
    mapping = mapping or Mapping()
    mapping.check_against(table)
    require_files(paths)
    try:
        staged: list[StagedFile] = []
        issues: list[Issue] = []
        for index, path in enumerate(paths):
            columns = stage_file(con, path, _staging(index), encoding=encoding)
            staged.append(StagedFile(path, _staging(index), columns))
            issues += match_columns(table, staged[-1], mapping)
        problems = len(issues)
        build_batch(con, table, staged, mapping)
        if not issues:
            params = Params()
            counts, issues = run_checks(con, checks_for(table, staged, params, date_window,
                                                        mapping), params, staged)
            problems = sum(counts)
            orphan_counts, orphan_issues = run_checks(con, orphan_checks(table, staged),
                                                      params, staged)
            if not allow_orphans:
                problems += sum(orphan_counts)
                issues = sorted(issues + orphan_issues, key=lambda i: (i.file, i.row or 0))
            if not problems:
                issues = rate_issues(con, table, staged, reporting_currency)
                problems = len(issues)
        sources: dict[str, str] = {}
        for f in staged:
            for name, header in f.found.items():
                if name in mapping.constants:
                    header = f"(constant {mapping.constants[name]!r})"
                elif name in mapping.derived:
                    header = f"{mapping.derived[name].after} + {header!r} minutes"
                elif name in mapping.multiply:
                    header = f"{header!r} × {mapping.multiply[name]}"
                sources.setdefault(name, header)
        shown = [c for c in table.column_names if c in sources]
        total = first(con.execute(f"SELECT count(*) FROM {BATCH}"))[0]
        cursor = con.execute(
            f"SELECT __row, {', '.join(shown)} FROM {BATCH} ORDER BY __file, __row LIMIT ?",
            [rows])
        names = [d[0] for d in cursor.description]
        first_rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    finally:
        for index in range(len(paths)):
            con.execute(f"DROP TABLE IF EXISTS {_staging(index)}")
        con.execute(f"DROP TABLE IF EXISTS {BATCH}")
    return Preview(
        table=table.name, files=[str(p) for p in paths], rows_read=int(total),
        columns=[(sources[c], c) for c in shown], rows=first_rows, issues=issues,
        problems=problems, extra_columns=sorted({h for f in staged for h in f.extras}),
    )


#: The day each table holding money (with a currency) first uses a currency.
MONEY_DAYS = {"subscriptions": "start_date", "orders": "ordered_at", "costs": "period_start"}


def rate_issues(con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[StagedFile],
                reporting_currency: str | None) -> list[Issue]:
    """An issue per currency of the batch (other than ``reporting_currency``) that has no
    exchange rate dated on or before the first day the batch uses it: metrics could not
    convert those amounts."""
    day = MONEY_DAYS.get(table.name)
    if day is None or reporting_currency is None:
        return []
    sql = (
        f"SELECT b.currency, b.first_day, b.file, r.first_rate FROM (SELECT currency, "
        f"CAST(min({day}) AS DATE) AS first_day, arg_min(__file, {day}) AS file FROM {BATCH} "
        f"WHERE currency IS NOT NULL AND currency <> ? GROUP BY currency) b "
        f"LEFT JOIN (SELECT currency, min(date) AS first_rate FROM exchange_rates "
        f"GROUP BY currency) r ON r.currency = b.currency "
        f"WHERE r.first_rate IS NULL OR r.first_rate > b.first_day ORDER BY b.currency"
    )
    names = file_names(files)
    issues = []
    for currency, first_day, file, first_rate in con.execute(
            sql, [reporting_currency.upper()]).fetchall():
        has = (f"its first rate is dated {first_rate.isoformat()}" if first_rate
               else "exchange_rates has no row for it")
        issues.append(Issue(
            names[file], None, "currency", currency,
            f"a currency with an exchange rate to {reporting_currency.upper()}: {currency} is "
            f"first used on {first_day.isoformat()} ({table.name}.{day}) but {has}. Load "
            f"exchange_rates first (csmetrics ingest exchange_rates FILE) with a {currency} "
            f"rate dated {first_day.isoformat()} or earlier, then load this file again."))
    return issues


def _staging(index: int) -> str:
    """The staging table of the batch's ``index``-th file."""
    return f"__stage_{index}"


def _incoming_select(table: Table, source: str = BATCH, keep: Sequence[str] = ()
                     ) -> tuple[str, Params]:
    """The rows of ``source`` (the batch) in the table's column order, with documented
    defaults filled in: a usage event counts 1, an order is paid, a survey answer is on the
    survey's usual scale. ``keep``: more columns of ``source`` to pass on."""
    params = Params()
    defaults = {
        "usage_events": {"quantity": "coalesce(quantity, 1)"},
        "orders": {"status": "coalesce(status, 'paid')"},
        "survey_responses": {"scale_max": scale_max_sql(params)},
    }.get(table.name, {})
    columns = [f"{defaults.get(c, c)} AS {c}" for c in table.column_names]
    return f"SELECT {', '.join([*columns, 'attributes', *keep])} FROM {source}", params


def _merged_columns(table: Table, files: Sequence[StagedFile], replace_columns: bool
                    ) -> dict[str, str]:
    """Each column of a batch row ``i`` joined with the stored row ``t`` of its key: the
    batch's value where the row's file has the column, else the stored one (NULL for a new
    key); extra columns (``attributes``) are merged key by key the same way. With
    ``replace_columns`` every column is the batch's."""
    if replace_columns:
        return {c: f"i.{c}" for c in [*table.column_names, "attributes"]}
    names = file_names(files)
    every = set(range(len(names)))

    def given(has: Callable[[StagedFile], bool], value: str, kept: str) -> str:
        where = {names.index(str(f.path)) for f in files if has(f)}
        if where == every:
            return value
        if not where:
            return kept
        files_in = ", ".join(map(str, sorted(where)))
        return f"(CASE WHEN i.__file IN ({files_in}) THEN {value} ELSE {kept} END)"

    merged = {c: f"i.{c}" if c in table.key else given(
        lambda f, c=c: c in f.found, f"i.{c}", f"t.{c}") for c in table.column_names}
    merged["attributes"] = given(lambda f: bool(f.extras),
                                 "map_concat(t.attributes, i.attributes)", "t.attributes")
    return merged


@dataclass(frozen=True)
class LakeTarget:
    """Where a Spark workspace's batch goes: its lake, and the Spark connection (opened on
    first use) that writes the new version."""

    lake: Lake
    spark: Callable[[], BaseBackend]


def _classify(con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[StagedFile],
              replace_columns: bool) -> None:
    """``__classified``: the batch's rows merged with the stored rows of their keys (the
    columns each file lacks kept from the stored row, the defaults filled in), each marked
    ``insert``, ``update`` or ``same``."""
    names = table.column_names + ["attributes"]
    match = key_match(table)
    present = next(k for k in table.key if table.column(k).required)  # NULL: no stored row
    merged = _merged_columns(table, files, replace_columns)
    olds = [f"__old_{c}" for c in names]
    joined = (
        f"(SELECT {', '.join(f'{e} AS {c}' for c, e in merged.items())}, "
        f"t.{present} IS NOT NULL AS __stored, "
        f"{', '.join(f't.{c} AS __old_{c}' for c in names)} "
        f"FROM {BATCH} i LEFT JOIN {table.name} t ON {match})"
    )
    incoming, params = _incoming_select(table, joined, ["__stored", *olds])
    same = " AND ".join(f"{c} IS NOT DISTINCT FROM __old_{c}" for c in names)
    sql = (
        "CREATE OR REPLACE TEMP TABLE __classified AS SELECT * EXCLUDE "
        f"(__stored, {', '.join(olds)}), CASE WHEN NOT __stored THEN 'insert' "
        f"WHEN {same} THEN 'same' ELSE 'update' END AS __action FROM ({incoming})"
    )
    con.execute(sql, params.used_by(sql))


def _tally(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of ``__classified`` by what the batch does to them."""
    tally = dict(con.execute("SELECT __action, count(*) FROM __classified GROUP BY 1").fetchall())
    return {"inserted": tally.get("insert", 0), "updated": tally.get("update", 0),
            "unchanged": tally.get("same", 0), "deleted": 0}


def _write(
    con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[StagedFile], *,
    replace: bool, replace_columns: bool, batch: dict[str, object],
    lake: LakeTarget | None = None,
) -> dict[str, int]:
    """Apply the batch in one transaction and record it in the ledger."""
    if lake is not None:
        return _write_lake(con, table, files, replace=replace, replace_columns=replace_columns,
                           batch=batch, target=lake)
    select, params = _incoming_select(table)
    names = table.column_names + ["attributes"]
    match = key_match(table)
    try:
        with transaction(con):
            existing = first(con.execute(f"SELECT count(*) FROM {table.name}"))[0]
            if replace or not existing:
                # nothing to compare with: the batch goes straight in
                rows = first(con.execute(f"SELECT count(*) FROM {BATCH}"))[0]
                if existing:
                    con.execute(f"DELETE FROM {table.name}")
                sql = f"INSERT INTO {table.name} BY NAME {select}"
                con.execute(sql, params.used_by(sql))
                counts = {"inserted": rows, "updated": 0, "unchanged": 0, "deleted": existing}
                start = None if existing else earliest_in(con, table)
                change = Change(start, start, bool(existing))
            else:
                # one join of the batch with the stored rows: merge the columns each file
                # lacks from the stored row, fill in the defaults, then compare with it
                _classify(con, table, files, replace_columns)
                change = earliest_change(con, table, "__classified")
                key_cols = ", ".join(table.key)
                con.execute(
                    f"DELETE FROM {table.name} t USING (SELECT {key_cols} FROM __classified "
                    f"WHERE __action = 'update') i WHERE {match}"
                )
                con.execute(
                    f"INSERT INTO {table.name} BY NAME SELECT {', '.join(names)} FROM __classified "
                    "WHERE __action <> 'same'"
                )
                counts = _tally(con)
            rows_read = sum(counts[k] for k in ("inserted", "updated", "unchanged"))
            batch_id = ledger.record(con, {**batch, **counts, "rows_read": rows_read})
            record_change(con, batch_id, table.name, change)
    finally:
        con.execute("DROP TABLE IF EXISTS __classified")
    return {**counts, "rows_read": rows_read, "batch_id": batch_id}


def _write_lake(
    con: duckdb.DuckDBPyConnection, table: Table, files: Sequence[StagedFile], *,
    replace: bool, replace_columns: bool, batch: dict[str, object], target: LakeTarget,
) -> dict[str, int]:
    """Apply the batch to a lake table: write aside, then swap. The batch is compared with
    the stored rows in the catalog (as ``_write`` does), Spark writes the new version (the
    stored rows the batch leaves alone plus its new and changed ones) into a folder of its
    own, and one catalog transaction records the batch and points the table at it."""
    lake = target.lake
    names = table.column_names + ["attributes"]
    typed = ", ".join([*(f"CAST({c.name} AS {c.dtype.sql}) AS {c.name}" for c in table.columns),
                       "attributes"])
    staged = version = None
    try:
        existing = first(con.execute(f"SELECT count(*) FROM {table.name}"))[0]
        whole = replace or not existing
        if whole:
            select, params = _incoming_select(table)
            sql = f"CREATE OR REPLACE TEMP TABLE __classified AS {select}"
            con.execute(sql, params.used_by(sql))
            rows = first(con.execute("SELECT count(*) FROM __classified"))[0]
            counts = {"inserted": rows, "updated": 0, "unchanged": 0, "deleted": existing}
            start = None if existing else earliest_in(con, table)
            change = Change(start, start, bool(existing))
            changed = f"SELECT {typed} FROM __classified"
        else:
            _classify(con, table, files, replace_columns)
            change = earliest_change(con, table, "__classified")
            counts = _tally(con)
            changed = (f"SELECT {typed} FROM (SELECT {', '.join(names)} FROM __classified "
                       "WHERE __action <> 'same')")
        if whole or counts["inserted"] or counts["updated"]:
            staged = lake.stage(changed)
            version = lake.write_version(target.spark(), table.name, staged, key=table.key,
                                         replace=whole)
        rows_read = sum(counts[k] for k in ("inserted", "updated", "unchanged"))
        with transaction(con):
            batch_id = ledger.record(con, {**batch, **counts, "rows_read": rows_read})
            record_change(con, batch_id, table.name, change)
            if version is not None:
                lake.swap(table.name, batch_id, version)
    except BaseException:
        if version is not None:
            lake.discard(version)
        raise
    finally:
        con.execute("DROP TABLE IF EXISTS __classified")
        if staged is not None:
            lake.discard(staged)
    if version is not None:
        lake.attach_spark(target.spark(), [table.name])
        lake.prune(table.name)
    return {**counts, "rows_read": rows_read, "batch_id": batch_id}
