"""Bring your own tables on Spark: canonical tables as temporary views over the company's own.

The company's tables are Spark temporary views under their own names (``their_accounts``
with renamed columns, ``their_subs`` with amounts as text), mapped by a ``tables.toml`` with
a rename and an SQL query; the metrics equal DuckDB's on the ingested rows, and a planted bad
row is reported with its key.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.metrics.engine import MetricRequest, compute
from csmetrics.store.sources import SourceMap, check, create_views, read_sources
from tests.engines.conftest import END, copy_to_spark

METRICS = ["mrr", "mrr_new", "mrr_churned", "customer_churn_rate", "nrr", "arpa"]
MAPPING = '''\
[customers]
table = "their_accounts"
columns = { customer_id = "account_id" }

[subscriptions]
sql = """
SELECT subscription_id, customer_id, plan, price AS amount, billing_interval, start_date,
       end_date, quantity, discount, canceled_at, past_due_since, currency
FROM their_subs
"""
'''


@pytest.fixture(scope="module")
def mapped(spark: Any, duck_ws: Workspace, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Any, SourceMap]]:
    """An Ibis connection to the session whose customers and subscriptions are views over
    the company's own tables; the canonical views are put back afterwards."""
    import ibis

    copy_to_spark(duck_ws, spark)
    _their_table(duck_ws, spark, "their_accounts", "SELECT * EXCLUDE (customer_id, attributes), "
                 "customer_id AS account_id FROM customers")
    _their_table(duck_ws, spark, "their_subs", "SELECT * EXCLUDE (amount, attributes), "
                 "CAST(amount AS VARCHAR) AS price FROM subscriptions")
    path = tmp_path_factory.mktemp("spark-sources") / "tables.toml"
    path.write_text(MAPPING, encoding="utf-8")
    con = ibis.pyspark.connect(spark)
    spark.conf.set("spark.sql.session.timeZone", duck_ws.settings.workspace.timezone)
    sources = read_sources(path)
    create_views(con, sources)
    yield con, sources
    copy_to_spark(duck_ws, spark)


def _their_table(ws: Workspace, spark: Any, name: str, sql: str) -> None:
    """The rows of ``sql`` on DuckDB as a table of the company's in Spark (rows Spark holds,
    with the types Spark gives them, not a view over the canonical tables)."""
    rows = ws.warehouse.sql.sql(sql).to_arrow_table()
    spark.createDataFrame(rows).createOrReplaceTempView(name)


def _metrics(con: Any, ws: Workspace) -> pd.DataFrame:
    request = MetricRequest.create(METRICS, period="month", start="2026-01-01", end=END)
    rows = compute(con, ws.settings, request, today=ws.today())
    return rows.sort_values(["metric", "period_start"]).reset_index(drop=True)


def test_mapped_views_give_duckdbs_metrics(mapped: tuple[Any, SourceMap], duck_ws: Workspace
                                           ) -> None:
    con, _ = mapped
    assert con.table("subscriptions").schema() == duck_ws.warehouse.ibis.table(
        "subscriptions").schema()
    got, expected = _metrics(con, duck_ws), _metrics(duck_ws.warehouse.ibis, duck_ws)
    assert len(got) == len(METRICS) * 6
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, rtol=1e-9)


def test_clean_tables_pass_and_a_planted_row_is_found(
        mapped: tuple[Any, SourceMap], spark: Any, tmp_path: Path) -> None:
    con, sources = mapped
    assert check(con, sources) == []
    sub = spark.sql("SELECT min(subscription_id) FROM their_subs").collect()[0][0]
    spark.sql("CREATE OR REPLACE TEMPORARY VIEW their_subs_bad AS SELECT * EXCEPT (price), "
              f"CASE WHEN subscription_id = '{sub}' THEN 'ten' ELSE price END AS price "
              "FROM their_subs")
    path = tmp_path / "tables.toml"
    path.write_text(MAPPING.replace("FROM their_subs", "FROM their_subs_bad"), encoding="utf-8")
    bad = read_sources(path)
    create_views(con, bad)
    try:
        assert [(p.table, p.column, p.count, p.examples) for p in check(con, bad)] == [
            ("subscriptions", "amount", 1, ((sub, "ten"),))]
    finally:
        create_views(con, sources)


def test_a_missing_canonical_table_becomes_an_empty_view(
        mapped: tuple[Any, SourceMap], spark: Any, duck_ws: Workspace) -> None:
    con, sources = mapped
    spark.catalog.dropTempView("traffic")
    create_views(con, sources)
    assert con.table("traffic").count().execute() == 0
    assert con.table("traffic").schema() == duck_ws.warehouse.ibis.table("traffic").schema()
