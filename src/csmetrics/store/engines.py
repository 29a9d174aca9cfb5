"""Engines other than DuckDB, and every engine-specific piece metric code must not know about.

Metric definitions are Ibis expressions and run on any Ibis backend. What differs between
engines lives here, each with a fallback for engines not named:

- opening a connection from the workspace's ``engine.url`` (``pyspark://...`` for Spark;
  DuckDB is opened by ``warehouse.py``, which also loads data into it);
- computing a shared intermediate once (``create_temporary`` / ``drop_temporary``): DuckDB
  makes a temporary table, Spark a temporary view of checkpointed rows; other engines fall
  back to recomputing the intermediate in every query that reads it;
- the value at a group's largest key (``largest_by``): the engine's own ``max_by`` /
  ``arg_max`` aggregate on DuckDB and Spark (Ibis spells it as an ordered ``first``, which
  DuckDB runs several times slower), Ibis's ``argmax`` elsewhere;
- running a query compiled beforehand (``compile_ahead`` / ``run_compiled``), so that the
  next metric compiles (Python) while the engine runs this one: DuckDB runs the SQL; other
  engines compile at execution as usual;
- a second connection to run queries side by side (``side_connection``): a DuckDB cursor;
  none elsewhere, so the caller runs one thing at a time.

URL forms for Spark (local mode or a cluster, through ``ibis.pyspark``):

``pyspark://local[2]``, ``pyspark://local``
    A local SparkSession with that master (``local`` = ``local[*]``, all cores).
``pyspark://yarn``, ``pyspark://spark://host:7077``, ``pyspark://k8s://https://host``
    The same with a cluster master.
``pyspark://``
    The SparkSession already active in this Python process (a notebook's ``spark``), else one
    built from ``[engine.spark]`` (whose ``spark.master`` then picks the master).
``...?database=NAME``
    The Spark database (schema) that holds the canonical tables; default: the current one.

``[engine.spark]`` in ``csmetrics.toml`` holds Spark configuration keys (``spark.master``,
``spark.driver.memory``, ``spark.sql.catalogImplementation``...), applied when csmetrics builds
the session; on an existing session only runtime (SQL) keys take effect.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from csmetrics.errors import UserInputError
from csmetrics.store.sql import quote_literal

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend

__all__ = [
    "DUCKDB",
    "QUERY_ONLY_SCHEMES",
    "SparkUrl",
    "compile_ahead",
    "connect",
    "create_temporary",
    "drop_temporary",
    "largest_by",
    "parse_spark_url",
    "run_compiled",
    "scheme_of",
]

DUCKDB = "duckdb"
#: Engines csmetrics can query but not load into: the user's own pipeline fills their tables.
QUERY_ONLY_SCHEMES = ("pyspark",)
#: Spark keys csmetrics sets on a session it builds, unless ``[engine.spark]`` says otherwise:
#: few shuffle partitions suit metric queries (one row per period and segment), results reach
#: pandas through Arrow, and no web UI.
SPARK_DEFAULTS = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def scheme_of(url: str) -> str:
    """The engine a URL names: the part before ``://`` (``duckdb``, ``pyspark``)."""
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


@dataclass(frozen=True)
class SparkUrl:
    """A parsed ``pyspark://MASTER?database=NAME`` URL (empty master: the active session)."""

    master: str
    database: str | None


def parse_spark_url(url: str) -> SparkUrl:
    """Read a ``pyspark://`` URL; ``local`` means ``local[*]``."""
    _, _, rest = url.partition("://")
    master, _, query = rest.partition("?")
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {"database"})
    if unknown:
        raise UserInputError(
            f"engine.url = {url!r}: unknown option {unknown[0]!r}; a Spark URL takes only "
            "'?database=NAME'. Put Spark settings in [engine.spark] instead."
        )
    database = options.get("database", [""])[-1] or None
    master = master.rstrip("/")
    return SparkUrl(master="local[*]" if master == "local" else master, database=database)


def connect(url: str, spark_conf: Mapping[str, str], timezone: str) -> BaseBackend:
    """An Ibis connection to the engine ``url`` names (not DuckDB: see ``warehouse.py``).

    Times are read in the workspace's ``timezone``, as DuckDB reads them: Spark's session
    time zone is set to it.
    """
    scheme = scheme_of(url)
    if scheme == "pyspark":
        return _connect_spark(parse_spark_url(url), spark_conf, timezone)
    raise UserInputError(
        f"engine.url = {url!r}: csmetrics opens 'duckdb:///path' and 'pyspark://MASTER' "
        "warehouses (see README, 'Running on your warehouse')."
    )


def _connect_spark(url: SparkUrl, spark_conf: Mapping[str, str], timezone: str) -> BaseBackend:
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise UserInputError(
            "engine.url names Spark, but PySpark is not installed; install it with "
            "\"pip install 'csmetrics[spark]'\" (Spark needs Java 17 or newer on PATH)."
        ) from None
    session = SparkSession.getActiveSession() if not url.master else None
    if session is None:
        builder: Any = SparkSession.builder.appName("csmetrics")
        settings = {**SPARK_DEFAULTS, **dict(spark_conf)}
        if url.master:
            settings["spark.master"] = url.master
        settings.setdefault("spark.master", "local[*]")
        # Spark's driver binds to the machine's name, which may not resolve; loopback is
        # safe for local mode, and the user's own SPARK_LOCAL_IP wins
        if settings["spark.master"].startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        for key, value in settings.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # py4j / JVM start-up: the message says what is missing
            raise UserInputError(
                f"Could not start Spark (master {settings['spark.master']!r}): "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}. Spark needs "
                "Java 17 or newer ('java -version'); set JAVA_HOME if it is not on PATH."
            ) from None
    else:
        for key, value in spark_conf.items():
            if key.startswith("spark.sql."):
                session.conf.set(key, value)
    con = ibis.pyspark.connect(session)
    # after connect: Ibis sets UTC, csmetrics reads calendar days in the workspace's zone
    session.conf.set("spark.sql.session.timeZone", timezone)
    if url.database:
        if not session.catalog.databaseExists(url.database):
            raise UserInputError(
                f"engine.url: Spark has no database {url.database!r}; create it and load the "
                "canonical tables into it, or name another one in '?database=NAME'."
            )
        session.catalog.setCurrentDatabase(url.database)
    return con


def create_temporary(con: BaseBackend, name: str, expr: ir.Table) -> ir.Table:
    """``expr`` computed once into a table that lives until ``drop_temporary`` (or the end of
    the connection), for intermediates several metrics read.

    DuckDB: a temporary table. Spark: a temporary view of rows computed now and kept by the
    executors (``localCheckpoint``).
    Any other engine (the fallback): ``expr`` itself, recomputed by each query that reads it.
    """
    if con.name == DUCKDB:
        return con.create_table(name, expr, temp=True)
    if con.name == "pyspark":
        # the view registers the in-memory tables ``expr`` reads; its rows, computed now
        # and kept by the executors (a local checkpoint, which cuts the lineage), then
        # replace it under the same name
        con.create_view(name, expr, overwrite=True)
        frame = con.raw_sql(f"SELECT * FROM {_spark_ident(name)}").localCheckpoint(eager=True)
        frame.createOrReplaceTempView(name)
        return con.table(name)
    return expr


#: Engines with a native ``max_by(value, key)`` aggregate.
MAX_BY_ENGINES = (DUCKDB, "pyspark")


def largest_by(con: BaseBackend, value: ir.Column, key: ir.Column) -> ir.Scalar:
    """The aggregate "``value`` of the row with the largest ``key``" (ties: any of them)."""
    if con.name not in MAX_BY_ENGINES:
        return value.argmax(key)
    import ibis

    @ibis.udf.agg.builtin(name="max_by", signature=((value.type(), key.type()), value.type()))
    def max_by(value, key):  # noqa: ANN001, ANN202 - the engine's own function
        ...

    return max_by(value, key)


def compile_ahead(con: BaseBackend, expr: ir.Table) -> str | None:
    """The SQL ``run_compiled`` will run for ``expr`` (safe to call from another thread: it
    only reads the expression), or None on engines that compile at execution."""
    return con.compile(expr) if con.name == DUCKDB else None


def run_compiled(con: BaseBackend, expr: ir.Table, sql: str | None) -> pd.DataFrame:
    """The rows of ``expr`` as ``con.execute(expr)`` gives them, from the SQL
    ``compile_ahead`` made of it."""
    if sql is None:
        return con.execute(expr)
    import pandas as pd
    import pyarrow.types as pat
    from ibis.backends.duckdb.converter import DuckDBPandasData

    # Ibis 12's DuckDB ``execute`` after its compile step: register the in-memory tables,
    # run, and convert the columns to the expression's types
    con._run_pre_execute_hooks(expr)
    table = con.con.sql(sql).to_arrow_table()
    frame = pd.DataFrame({
        name: column.to_pylist()
        if pat.is_nested(column.type) or pat.is_dictionary(column.type) or column.null_count
        else column.to_pandas()
        for name, column in zip(table.column_names, table.columns, strict=True)
    })
    return DuckDBPandasData.convert_table(frame, expr.schema())


def side_connection(con: BaseBackend) -> BaseBackend | None:
    """A second connection to ``con``'s database that can run queries while ``con`` runs
    others, in the same session time zone, with temporary tables of its own; None on
    engines where csmetrics runs one thing at a time (Spark and the rest, which parallelise
    inside each query). Close it with ``disconnect()``.

    DuckDB: a cursor (DuckDB runs queries of several connections side by side)."""
    if con.name != DUCKDB:
        return None
    import ibis

    zone = con.con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
    side = ibis.duckdb.from_connection(con.con.cursor())
    side.con.execute(f"SET TimeZone = {quote_literal(zone)}")  # Ibis set UTC
    return side


def drop_temporary(con: BaseBackend, table: ir.Table) -> None:
    """Release a table made by ``create_temporary``."""
    if con.name == DUCKDB:
        # Ibis 12's drop_table trips over DuckDB 2, so the statement is spelled out
        con.raw_sql(f"DROP TABLE IF EXISTS {_duckdb_ident(table.get_name())}")
    elif con.name == "pyspark":
        # the checkpointed rows are freed by Spark once nothing refers to them
        con.raw_sql(f"DROP VIEW IF EXISTS {_spark_ident(table.get_name())}")


def _duckdb_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _spark_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
