"""One Spark session for the whole run, and one company loaded into DuckDB and into Spark.

Spark (local mode, through ``ibis.pyspark``) needs Java 17+ and the ``spark`` extra
(``pip install -e '.[dev,spark]'``, which ``make test`` does). When either is missing the
tests fail, naming what to install; ``CSMETRICS_NO_SPARK=1`` skips them on purpose.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.enrich.sentiment import SENTIMENT_TABLE
from csmetrics.schema import TABLES
from tests.conftest import write_csv

#: The fixture company: small enough for Spark's per-query overhead, rich enough that every
#: metric has values (8 months so value unlock's 6-month window fits).
CUSTOMERS, MONTHS, SEED, END = 40, 8, 3, date(2026, 6, 30)
#: Spark settings for tiny data: one shuffle partition, no adaptive re-planning, no code
#: generation (compiling Java per stage costs more than it saves on a few hundred rows), and
#: results handed to pandas through Arrow (as on a session csmetrics builds itself).
FAST_SPARK = {
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "1g",
    # timestamps arrive without a zone: read them as written (csmetrics sets the
    # workspace's zone, UTC here, when it connects)
    "spark.sql.session.timeZone": "UTC",
}


def _require_java() -> None:
    java = shutil.which("java") or (
        os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME")
        else None)
    if java is None or not os.path.exists(java):
        pytest.fail("Spark tests need Java 17+: install it (Debian: apt-get install -y "
                    "openjdk-17-jre-headless) or set CSMETRICS_NO_SPARK=1 to skip them.",
                    pytrace=False)
    version = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    if "version" not in version:
        pytest.fail(f"'{java} -version' did not answer: {version!r}", pytrace=False)


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local SparkSession (2 cores) shared by every engine test."""
    if os.environ.get("CSMETRICS_NO_SPARK") == "1":
        pytest.skip("CSMETRICS_NO_SPARK=1: Spark engine tests skipped on purpose")
    _require_java()
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        pytest.fail("PySpark is not installed: pip install -e '.[dev,spark]' (make test does), "
                    "or set CSMETRICS_NO_SPARK=1 to skip the Spark tests.", pytrace=False)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    scratch = tmp_path_factory.mktemp("spark")
    builder = SparkSession.builder.master("local[2]").appName("csmetrics-tests")
    for key, value in {**FAST_SPARK, "spark.sql.warehouse.dir": str(scratch / "warehouse"),
                       "spark.local.dir": str(scratch / "local")}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def duck_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The demo company in a DuckDB workspace, texts scored, plus one customer who left and
    came back (so reactivation MRR has values)."""
    root = tmp_path_factory.mktemp("company")
    files = write_company(root / "files", customers=CUSTOMERS, months=MONTHS, seed=SEED,
                          end=END)
    with Workspace.init(root / "duckdb", name="Engines Co") as ws:
        for table, paths in files.items():
            ws.ingest(table, paths)
        _add_comeback(ws, root)
        ws.voice_score()
        yield ws


def _add_comeback(ws: Workspace, root: Path) -> None:
    """A new monthly subscription, a month after its service ended, for the customer who
    left first (all subscriptions ended; ties by id)."""
    row = ws.warehouse.sql.execute(
        "SELECT customer_id, any_value(plan), max(amount), max(end_date) + 30 FROM "
        "subscriptions GROUP BY customer_id HAVING count(*) = count(end_date) "
        "ORDER BY max(end_date), customer_id LIMIT 1").fetchall()
    assert row, "the fixture company has no churned customer to bring back"
    customer, plan, amount, start = row[0]
    assert start < END, "the churned customer left too late to come back within the data"
    path = write_csv(root / "comeback.csv",
                     ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
                      "start_date"],
                     [["comeback-1", customer, plan, amount, "month", start.isoformat()]])
    ws.ingest("subscriptions", [path])


def copy_to_spark(ws: Workspace, session: Any) -> None:
    """Every canonical table (and the scored texts) as a Spark temporary view with the same
    column types: what a user's own pipeline would have loaded."""
    from ibis.backends.pyspark.datatypes import PySparkSchema

    con = ws.warehouse.sql
    for name in [*TABLES, SENTIMENT_TABLE]:
        rows = con.sql(f'SELECT * FROM "{name}"').to_arrow_table()
        schema = PySparkSchema.from_ibis(ws.warehouse.ibis.table(name).schema())
        session.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)


@pytest.fixture(scope="session")
def spark_ws(spark: Any, duck_ws: Workspace, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Workspace]:
    """A workspace whose engine is the running Spark session (``pyspark://``), holding the
    same tables as ``duck_ws``."""
    copy_to_spark(duck_ws, spark)
    root = tmp_path_factory.mktemp("spark-ws")
    (root / "csmetrics.toml").write_text(
        '[workspace]\nname = "Engines Co"\n\n[engine]\nurl = "pyspark://"\n', encoding="utf-8")
    with Workspace.load(root) as ws:
        yield ws
