"""Bring your own tables: canonical tables as views over the company's own tables.

``[engine] tables = "tables.toml"`` in csmetrics.toml names a mapping file. Each key is a
canonical table, and says where its rows are::

    customers = "crm.accounts"                # their table (or view), same column names

    [subscriptions]
    table = "billing.subscriptions"
    columns = { customer_id = "account_id", amount = "price" }   # canonical = theirs

    [orders]
    sql = "SELECT id AS order_id, account_id AS customer_id, ... FROM shop.orders"

When the engine connects (``attach``), every mapped table becomes a temporary view of the
session with the canonical name: the canonical columns, cast to their types (a value that
does not cast is NULL there, and ``check`` reports it), text of columns with allowed values
lower-cased and currencies upper-cased as ingest does, and the source's other columns in the
``attributes`` map (NULL when it has none), where segments find them. On DuckDB the view
shadows the (empty) canonical table of the same name for that connection only; on Spark it
is a temporary view of the session. Canonical tables the file does not name are read as
before (a table of that name in the engine); on engines other than DuckDB one that is missing
becomes an empty view.

Connecting reads only schemas: a missing table or column, or SQL that does not run, is an
error naming the file's key. The row checks (``check``) scan the rows, on the engine, with the
rules ingest applies to a file (``ingest/validate.py``): values that do not cast, required
columns empty, keys repeated, values not allowed, below their minimum or out of order, dates
outside ``[ingest]``'s window, customer ids not in customers. Each problem comes with the key
of the first rows breaking it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from csmetrics._lazy import lazy_module
from csmetrics.clock import EARLIEST_DAY, LATEST_DAY
from csmetrics.config import EngineSection, read_config_text
from csmetrics.errors import ConfigError, Issue, UserInputError, closest
from csmetrics.errors import ValidationError as RowsError
from csmetrics.schema import TABLES, Column, DType, Table
from csmetrics.schema.tables import ATTRIBUTES_IBIS_TYPE, DEFAULT_SCALE_MAX

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")

__all__ = [
    "EXAMPLES_SHOWN",
    "Problem",
    "SourceMap",
    "TableSource",
    "attach",
    "check",
    "create_views",
    "problem_issues",
    "problems_error",
    "read_sources",
    "require_valid",
]

#: Rows named (by their key) per broken rule.
EXAMPLES_SHOWN = 5
#: The Ibis type of each canonical column type (as Ibis reads the DuckDB tables).
#: Prefix of the view holding a mapping's SQL on DuckDB (the canonical view reads it).
SOURCE_VIEW = "_source_"
_DUCKDB = "duckdb"


class TableSource(BaseModel):
    """Where one canonical table's rows are: their ``table`` or a ``sql`` query, with
    ``columns`` renaming theirs (canonical name = their name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str = Field("", description="Their table or view, e.g. 'crm.accounts'.")
    sql: str = Field("", description="A query whose result holds the rows.")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Canonical column = their column, for renames.")

    @model_validator(mode="after")
    def _one_place(self) -> TableSource:
        if bool(self.table.strip()) == bool(self.sql.strip()):
            raise ValueError("give either table = \"schema.name\" or sql = \"SELECT ...\" "
                             "(exactly one of them)")
        return self

    @property
    def label(self) -> str:
        """Their table's name, or 'SQL' for a query."""
        return self.table if self.table else "SQL"


def _file_model() -> type[BaseModel]:
    """The mapping file's model: one optional key per canonical table, a name or a table."""
    fields: dict[str, Any] = {name: (str | TableSource | None, None) for name in TABLES}
    return create_model(  # type: ignore[call-overload, no-any-return]
        "TablesFile", __config__=ConfigDict(extra="forbid", frozen=True), **fields)


@dataclass(frozen=True)
class SourceMap:
    """A parsed mapping file: canonical table -> its source."""

    path: Path
    sources: dict[str, TableSource]

    def where(self, name: str) -> str:
        """'tables.toml [customers] (crm.accounts)': how messages name a mapped table."""
        return f"{self.path.name} [{name}] ({self.sources[name].label})"


def read_sources(path: Path) -> SourceMap:
    """Read and check a mapping file; errors name the file, the key and the fix."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; [engine] tables in csmetrics.toml names it. "
                          "Create it (see README, 'Running on your warehouse') or remove the "
                          "key.")
    try:
        data = tomllib.loads(read_config_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}).") from None
    unknown = [key for key in data if key not in TABLES]
    if unknown:
        raise ConfigError(
            f"{path}: {unknown[0]!r} is not a canonical table.{closest(unknown[0], list(TABLES))}"
            f" The keys are table names: {', '.join(TABLES)}.")
    try:
        parsed = _file_model().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    sources: dict[str, TableSource] = {}
    for name in TABLES:
        value = getattr(parsed, name)
        if value is None:
            continue
        source = TableSource(table=value) if isinstance(value, str) else value
        table = TABLES[name]
        for canonical in source.columns:
            if canonical not in table.column_names:
                raise ConfigError(
                    f"{path}: {name}.columns.{canonical}: {name} has no column {canonical!r}."
                    f"{closest(canonical, table.column_names)} The keys of 'columns' are "
                    f"canonical names (csmetrics schema {name}), the values yours.")
        sources[name] = source
    return SourceMap(path, sources)


def _describe(exc: ValidationError, path: Path) -> str:
    """One line per problem, naming the key as the file writes it (``customers.sql``): a
    table given as a name or as a table has one error per reading, the table's is kept."""
    lines: list[str] = []
    for error in exc.errors():
        parts = [str(p) for p in error["loc"]]
        if parts[1:2] == ["str"] and len(parts) == 2 and isinstance(error["input"], dict):
            continue  # the table's own errors say what is wrong with it
        key = ".".join(p for p in parts if p != "str" and not p.startswith("function-after"))
        if error["type"] == "extra_forbidden":
            line = f"  - {key}: unknown key; a table takes table, sql and columns."
            if parts[-1] in TABLES:
                line += (f" Is [{parts[-1]}] meant? Write 'name = \"...\"' lines before the "
                         "first [table] heading: after it they belong to that table.")
            lines.append(line)
        else:
            message = error["msg"].removeprefix("Value error, ")
            given = "" if isinstance(error["input"], dict) else f" = {error['input']!r}"
            lines.append(f"  - {key}{given}: {message}.")
    return "\n".join([f"{path}: {len(lines)} problem(s) in the table mapping:", *lines])


def attach(con: BaseBackend, engine: EngineSection, base_dir: Path) -> SourceMap | None:
    """Create the canonical views ``engine.tables`` maps (None when it maps none): what
    ``Warehouse`` calls on every Ibis connection it opens (views belong to the connection on
    DuckDB, to the session on Spark)."""
    if not engine.tables:
        return None
    path = Path(engine.tables)
    sources = read_sources(path if path.is_absolute() else base_dir / path)
    create_views(con, sources)
    return sources


def create_views(con: BaseBackend, sources: SourceMap) -> None:
    """Every mapped table as a view with the canonical name, columns and types; on engines
    other than DuckDB, an empty view for each canonical table the engine lacks."""
    for name, source in sources.sources.items():
        rows = _their_rows(con, name, source, sources)
        _missing_columns(TABLES[name], rows, source, sources.where(name))
        _create_view(con, name, canonical_rows(TABLES[name], rows, source))
    if con.name == _DUCKDB:
        return  # every canonical table exists in a csmetrics DuckDB warehouse
    present = set(con.list_tables())
    for name, table in TABLES.items():
        if name not in sources.sources and name not in present:
            con.create_view(name, ibis.memtable(_empty(table)), overwrite=True)


def canonical_rows(table: Table, rows: ir.Table, source: TableSource) -> ir.Table:
    """Their ``rows`` as the canonical table: its columns typed (NULL where a value does not
    cast, or the column is not mapped) and their other columns in ``attributes``."""
    values: dict[str, ir.Value] = {}
    for column in table.columns:
        theirs = source.columns.get(column.name, column.name)
        values[column.name] = (_typed(rows[theirs], column) if theirs in rows.columns
                               else ibis.null().cast(column.dtype.ibis))
    values["attributes"] = _attributes(rows, _used(table, rows, source))
    return rows.select(**values)


def _typed(value: ir.Value, column: Column) -> ir.Value:
    """``value`` as the column's type; text normalised as ingest does (allowed values are
    lower-case, currencies upper-case, an empty cell is NULL)."""
    target = ibis.dtype(column.dtype.ibis)
    source = value.type()
    if column.dtype is DType.STRING:
        text = value if source.is_string() else value.cast("string")
        if column.allowed:
            return text.strip().lower().nullif("")
        if column.name == "currency":
            return text.strip().upper().nullif("")
        return text
    if source.copy(nullable=True) == target:
        return value
    if column.dtype is DType.INTEGER and (source.is_floating() or source.is_decimal()):
        # a whole number only, as ingest reads one (a fraction is refused, not rounded)
        return ibis.ifelse(value == value.round(), value.try_cast(target), ibis.null(target))
    return value.try_cast(target)


def _used(table: Table, rows: ir.Table, source: TableSource) -> set[str]:
    return {source.columns.get(c.name, c.name) for c in table.columns}


def _attributes(rows: ir.Table, used: set[str]) -> ir.Value:
    """The source's ``attributes`` map when it has one, else its other columns as text in a
    map (what ingest keeps of a file's other columns), else NULL."""
    if "attributes" in rows.columns and "attributes" not in used:
        return rows["attributes"].cast(ATTRIBUTES_IBIS_TYPE)
    extras = [name for name in rows.columns if name not in used and name != "attributes"]
    if not extras:
        return ibis.null().cast(ATTRIBUTES_IBIS_TYPE)
    return ibis.map(ibis.array(extras), ibis.array([rows[n].cast("string") for n in extras]))


def _their_rows(con: BaseBackend, name: str, source: TableSource, sources: SourceMap
                ) -> ir.Table:
    """The rows the mapping points at; an error naming the key when they cannot be read."""
    where = sources.where(name)
    try:
        if source.sql:
            if con.name == _DUCKDB:  # a view of the query; DuckDB's con.sql is not usable
                view = SOURCE_VIEW + name
                con.raw_sql(f"CREATE OR REPLACE TEMPORARY VIEW {_ident(view)} AS {source.sql}")
                return con.table(view)
            return con.sql(source.sql)
        *database, table = source.table.split(".")
        return con.table(table, database=tuple(database) if len(database) > 1
                         else (database[0] if database else None))
    except Exception as exc:  # the engine's own error, in its words
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        what = "the query fails" if source.sql else f"{source.table!r} cannot be read"
        raise UserInputError(
            f"{where}: {what} on the engine: {problem}. Fix the "
            f"{'sql' if source.sql else 'table name (schema.table)'} in {sources.path.name}."
        ) from None


def _missing_columns(table: Table, rows: ir.Table, source: TableSource, where: str) -> None:
    """Every required column, and every renamed one, must be in their rows."""
    have = list(rows.columns)
    for canonical, theirs in source.columns.items():
        if theirs not in have:
            raise UserInputError(
                f"{where}: columns.{canonical} = {theirs!r}, but the rows have no column "
                f"{theirs!r}.{closest(theirs, have)} They have {', '.join(have)}.")
    for name in table.required:
        if source.columns.get(name, name) not in have:
            hint = closest(name, have)
            raise UserInputError(
                f"{where}: no column {name!r} (required for {table.name}); the rows have "
                f"{', '.join(have)}.{hint} Map yours with columns = {{ {name} = "
                f"\"their_column\" }}, or select it AS {name} in the sql.")


def _create_view(con: BaseBackend, name: str, expr: ir.Table) -> None:
    if con.name == _DUCKDB:
        # a temporary view takes precedence over the main schema's table of the same name
        con.raw_sql(f"CREATE OR REPLACE TEMPORARY VIEW {_ident(name)} AS {con.compile(expr)}")
    else:
        con.create_view(name, expr, overwrite=True)


def _empty(table: Table) -> Any:
    """No rows, with the canonical columns and ``attributes``."""
    import pyarrow as pa
    from ibis.formats.pyarrow import PyArrowSchema

    schema = ibis.schema(table.ibis_types())
    return pa.Table.from_pylist([], schema=PyArrowSchema.from_ibis(schema))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# -- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One rule a mapped table breaks: how many rows do, and the first ones by their key
    (key text, the value as the source has it)."""

    table: str
    column: str | None
    expected: str
    count: int
    examples: tuple[tuple[str, str | None], ...]
    #: The rule is the key's: each example's value counts the rows holding that key.
    repeated: bool = False


@dataclass(frozen=True)
class _Rule:
    column: str | None
    bad: ir.BooleanValue
    value: ir.Value
    expected: str


def check(con: BaseBackend, sources: SourceMap,
          window: tuple[date, date] = (EARLIEST_DAY, LATEST_DAY)) -> list[Problem]:
    """Every problem in the mapped tables (``create_views`` made their views), by the rules
    ingest applies to a file; dates must fall within ``window`` (first and last day)."""
    problems: list[Problem] = []
    for name, source in sources.sources.items():
        table = TABLES[name]
        rows = _their_rows(con, name, source, sources)
        view = _checked_rows(table, rows, source)
        customers = con.table("customers")
        rules = _rules(table, view, window, customers)
        key = _key_text(table, view)
        counts = _count(view, rules)
        for rule, count in zip(rules, counts, strict=True):
            if count:
                problems.append(Problem(name, rule.column, rule.expected, count,
                                        _examples(view, rule.bad, key, rule.value)))
        problems += _repeated_keys(table, view)
    return problems


def _checked_rows(table: Table, rows: ir.Table, source: TableSource) -> ir.Table:
    """The canonical columns typed, beside each converted column's value as the source has
    it (``__raw_<column>``): a value that did not cast is one NULL only in the typed one."""
    values: dict[str, ir.Value] = {}
    for column in table.columns:
        theirs = source.columns.get(column.name, column.name)
        if theirs not in rows.columns:
            values[column.name] = ibis.null().cast(column.dtype.ibis)
            continue
        raw = rows[theirs]
        values[column.name] = _typed(raw, column)
        if _converted(raw, column):
            values["__raw_" + column.name] = raw.cast("string")
    return rows.select(**values)


def _converted(raw: ir.Value, column: Column) -> bool:
    target = ibis.dtype(column.dtype.ibis)
    return column.dtype is not DType.STRING and raw.type().copy(nullable=True) != target


def _rules(table: Table, view: ir.Table, window: tuple[date, date], customers: ir.Table
           ) -> list[_Rule]:
    """The row rules of ``ingest/validate.py`` (``checks_for``, ``orphan_checks``) as Ibis
    predicates over the typed view."""
    rules: list[_Rule] = []

    def shown(name: str) -> ir.Value:
        raw = "__raw_" + name
        return view[raw] if raw in view.columns else view[name].cast("string")

    for column in table.columns:
        name = column.name
        value = view[name]
        raw = "__raw_" + name
        if raw in view.columns:
            expected = column.dtype.label
            if column.dtype is DType.INTEGER:
                expected += f" from {-(2**63):,} to {2**63 - 1:,}"
            rules.append(_Rule(name, view[raw].notnull() & value.isnull(), view[raw], expected))
        if column.required:
            rules.append(_Rule(name, value.isnull() & (view[raw].isnull() if raw in view.columns
                                                       else ibis.literal(True)),
                               ibis.null("string"), "a value: the column is required"))
        if column.allowed:
            rules.append(_Rule(name, value.notnull() & ~value.isin(column.allowed),
                               value, f"one of {', '.join(column.allowed)}"))
        if column.minimum is not None:
            rules.append(_Rule(name, value < column.minimum, shown(name),
                               f"a value of at least {column.minimum:g}"))
        if column.dtype in (DType.DATE, DType.TIMESTAMP):
            rules.append(_window_rule(column, value, window, shown(name)))
        if column.references_customer:
            rules.append(_Rule(
                name, value.notnull() & ~value.isin(customers.customer_id), value,
                "a customer_id that exists in customers (map or load that customer, or "
                "leave the value empty)"))
    for rule in table.orderings:
        later, earlier = view[rule.later], view[rule.earlier]
        rules.append(_Rule(rule.later, later < earlier, shown(rule.later),
                           f"{rule.later} on or after {rule.earlier} (it is before it)"))
    if table.name == "survey_responses":
        usual = ibis.cases(*((view.survey == s, top) for s, top in DEFAULT_SCALE_MAX.items()))
        rules.append(_Rule("score", view.score > view.scale_max.coalesce(usual), shown("score"),
                           "a score no higher than the survey's scale_max (nps 10, csat 5, "
                           "ces 7 unless scale_max says otherwise)"))
    return rules


def _window_rule(column: Column, value: ir.Value, window: tuple[date, date],
                 shown: ir.Value) -> _Rule:
    """Dates (and times) before the window's first day or after its last are implausible."""
    first_day, last_day = window
    after = last_day + timedelta(days=1)
    if column.dtype is DType.TIMESTAMP:
        low: Any = ibis.literal(datetime.combine(first_day, time()), "timestamp")
        high: Any = ibis.literal(datetime.combine(after, time()), "timestamp")
    else:
        low, high = ibis.literal(first_day, "date"), ibis.literal(after, "date")
    return _Rule(column.name, (value < low) | (value >= high), shown,
                 f"a date from {first_day.isoformat()} to {last_day.isoformat()} (other dates "
                 "are refused as implausible; [ingest] earliest_date and latest_date in "
                 "csmetrics.toml set the window)")


def _key_text(table: Table, view: ir.Table) -> ir.StringValue:
    """A row's key as text: 'c-17', or 'c-17 / u-2 / ...' for a key of several columns."""
    parts = [view[k].cast("string").coalesce("") for k in table.key]
    text = parts[0]
    for part in parts[1:]:
        text = text.concat(" / ", part)
    return text


def _count(view: ir.Table, rules: Sequence[_Rule]) -> list[int]:
    """The rows breaking each rule, in one scan."""
    if not rules:
        return []
    counts = view.aggregate(**{f"n{i}": rule.bad.fill_null(False).cast("int64").sum()
                               for i, rule in enumerate(rules)}).execute()
    return [int(counts[f"n{i}"].iloc[0] or 0) for i in range(len(rules))]


def _examples(view: ir.Table, bad: ir.BooleanValue, key: ir.StringValue, value: ir.Value
              ) -> tuple[tuple[str, str | None], ...]:
    """The first rows (by key) breaking a rule: their key and the value shown."""
    rows = (view.filter(bad.fill_null(False))
            .select(key=key, value=value.cast("string"))
            .order_by("key").limit(EXAMPLES_SHOWN).execute())
    return tuple((str(k), None if v is None or v != v else str(v))
                 for k, v in zip(rows["key"], rows["value"], strict=True))


def _repeated_keys(table: Table, view: ir.Table) -> list[Problem]:
    """Keys held by more than one row: the rows beyond the first of each, and the keys."""
    groups = view.group_by(list(table.key)).aggregate(n=ibis._.count())
    repeated = groups.filter(groups.n > 1)
    extra = repeated.aggregate(rows=(repeated.n - 1).sum()).execute()["rows"].iloc[0]
    extra = int(extra) if extra == extra and extra is not None else 0
    if not extra:
        return []
    examples = (repeated.select(key=_key_text(table, repeated), n=repeated.n)
                .order_by("key").limit(EXAMPLES_SHOWN).execute())
    return [Problem(
        table.name, ", ".join(table.key),
        "a key that appears once; it is repeated (keep one row per "
        f"{' + '.join(table.key)})", extra,
        tuple((str(k), f"{int(n)} rows") for k, n in zip(examples["key"], examples["n"],
                                                          strict=True)), repeated=True)]


# -- reporting ---------------------------------------------------------------------------------


def problem_issues(problem: Problem, sources: SourceMap) -> list[Issue]:
    """A problem as ingest's issues: one per example row, named by its key, then one for the
    rows not shown."""
    table = TABLES[problem.table]
    key_name = " / ".join(table.key)
    place = sources.where(problem.table)
    issues = [Issue(f"{place}, {key_name} {key!r}", None, problem.column, None,
                    f"{problem.expected}: {value} hold it")
              if problem.repeated else
              Issue(f"{place}, {key_name} {key!r}", None, problem.column, value,
                    problem.expected)
              for key, value in problem.examples]
    rest = problem.count - len(problem.examples)
    if rest > 0:
        issues.append(Issue(place, None, problem.column, None,
                            f"{rest:,} more row{'s' if rest != 1 else ''} break this rule "
                            f"({problem.expected})", count=rest))
    return issues


def problems_error(table: str, problems: Sequence[Problem], sources: SourceMap) -> RowsError:
    """The problems of one mapped table as a ``ValidationError``, printed like ingest's."""
    issues = [i for p in problems if p.table == table for i in problem_issues(p, sources)]
    total = sum(p.count for p in problems if p.table == table)
    error = RowsError(table, issues, total, shown=len(issues))
    lines = str(error).splitlines()
    lines[0] = (f"{total:,} problem{'s' if total != 1 else ''} in table {table!r}, mapped in "
                f"{sources.where(table)}:")
    error.args = ("\n".join(lines),)
    return error


def require_valid(con: BaseBackend, sources: SourceMap,
                  window: tuple[date, date] = (EARLIEST_DAY, LATEST_DAY)) -> None:
    """Refuse to go on (``csmetrics refresh``) when a mapped table breaks a rule; the error
    counts the problems per table and names the command that lists them."""
    problems = check(con, sources, window)
    if not problems:
        return
    per_table: dict[str, int] = {}
    for problem in problems:
        per_table[problem.table] = per_table.get(problem.table, 0) + problem.count
    listed = ", ".join(f"{name} {n:,}" for name, n in per_table.items())
    raise UserInputError(
        f"The tables mapped in {sources.path.name} have rows that break csmetrics' rules "
        f"({listed}); nothing was computed. Run 'csmetrics tables check' to see them by key, "
        f"then fix the rows or the mapping.")
