"""The same metric definitions on DuckDB and on Spark give the same results.

Every registry metric is computed by month, in total and by plan, on the demo company in
DuckDB and on the same tables in Spark (local mode, ``pyspark://`` engine URL), and compared
row by row: the same periods and segments, the same counts and null reasons, money and rates
equal within 1e-9 relative. Exactly equal where the engines add exact decimals (the MRR family);
floating-point sums (ARPU, total cost of ownership, hours...) come out in a different order on
Spark and differ in the last bits (measured: at most 6e-16 relative), hence the tolerance.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.config import EngineSection
from csmetrics.errors import UserInputError
from csmetrics.metrics import all_metrics
from csmetrics.metrics.definition import MetricDefinition, Unit
from csmetrics.metrics.engine import MetricRequest, compute
from csmetrics.store.engines import parse_spark_url
from csmetrics.store.warehouse import Warehouse
from tests.conftest import run_cli

METRICS = all_metrics()
SEGMENT = "plan"
KEYS = ["period_start", "segment_by", "segment_value"]
REL = 1e-9
#: Tiny absolute slack for values that should be 0 but are sums of floats (5e-17 seen).
ABS = 1e-12
NOT_COMPARED = {"metric", "target", "benchmark"}


def month_results(ws: Workspace) -> dict[str, pd.DataFrame | Exception]:
    """Every metric by month, in total and by plan, as ``refresh`` computes them: stackable
    metrics in one stacked pass, the others once in total and once by plan."""
    con, settings = ws.warehouse.ibis, ws.settings

    def stacked(names: list[str]) -> pd.DataFrame:
        return compute(con, settings, MetricRequest.create(names), stack=("", SEGMENT))

    def total_and_by(names: list[str]) -> pd.DataFrame:
        total = compute(con, settings, MetricRequest.create(names))
        by = compute(con, settings, MetricRequest.create(names, by=SEGMENT))
        by = by.rename(columns={SEGMENT: "segment_value"}).assign(segment_by=SEGMENT)
        return pd.concat([total.assign(segment_by="", segment_value=""), by],
                         ignore_index=True)

    return {
        **_per_metric([m.name for m in METRICS if m.stackable], stacked),
        **_per_metric([m.name for m in METRICS if not m.stackable], total_and_by),
    }


def _per_metric(names: list[str], run: Callable[[list[str]], pd.DataFrame]
                ) -> dict[str, pd.DataFrame | Exception]:
    """``run(names)`` split by metric; when it fails, each metric alone, so that a failing
    metric maps to its own exception and its test names it."""
    try:
        return {name: rows for name, rows in run(names).groupby("metric")}
    except Exception:
        results: dict[str, pd.DataFrame | Exception] = {}
        for name in names:
            try:
                results[name] = run([name])
            except Exception as exc:
                results[name] = exc
        return results


@pytest.fixture(scope="session")
def duckdb_results(duck_ws: Workspace) -> dict[str, pd.DataFrame | Exception]:
    return month_results(duck_ws)


@pytest.fixture(scope="session")
def spark_results(spark_ws: Workspace) -> dict[str, pd.DataFrame | Exception]:
    assert spark_ws.warehouse.ibis.name == "pyspark"
    return month_results(spark_ws)


def _rows(result: pd.DataFrame | Exception, definition: MetricDefinition) -> pd.DataFrame:
    if isinstance(result, Exception):
        raise AssertionError(f"{definition.name} failed: {type(result).__name__}: {result}")
    keys = KEYS + ([definition.dimension] if definition.dimension else [])
    frame = result.dropna(axis=1, how="all").drop(columns=list(NOT_COMPARED), errors="ignore")
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


def _same(a: Any, b: Any, exact: bool) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return a == b if exact else math.isclose(a, b, rel_tol=REL, abs_tol=ABS)
    return str(a) == str(b)


@pytest.mark.slow
@pytest.mark.parametrize("definition", METRICS, ids=[m.name for m in METRICS])
def test_metric_is_the_same_on_duckdb_and_spark(
    definition: MetricDefinition, spark_results: dict[str, Any], duckdb_results: dict[str, Any]
) -> None:
    expected = _rows(duckdb_results[definition.name], definition)
    actual = _rows(spark_results[definition.name], definition)
    # the fixture is rich enough that no comparison is vacuous
    assert expected["value"].notna().any(), f"{definition.name} has no value on DuckDB"
    assert set(expected.segment_by) == {"", SEGMENT}
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for column in expected.columns:
        # counts exact (n, and the value of a count metric); money and rates within 1e-9
        exact = column == "n" or (column == "value" and definition.unit is Unit.COUNT)
        differ = [
            (i, a, b) for i, (a, b) in enumerate(zip(expected[column].tolist(),
                                                     actual[column].tolist(), strict=True))
            if not _same(a, b, exact)
        ]
        assert not differ, (
            f"{definition.name}.{column}: {len(differ)} rows differ, first (row, duckdb, "
            f"spark): {differ[:3]}"
        )


@pytest.mark.slow
def test_query_through_the_spark_workspace(spark_ws, duck_ws):
    """``Workspace.query`` on a Spark warehouse as a user calls it: segment columns named
    after the segment, a filter, one customer."""
    request = dict(by="plan", where={"region": "EMEA"})
    expected = duck_ws.query(["mrr", "nps"], **request)
    pd.testing.assert_frame_equal(spark_ws.query(["mrr", "nps"], **request), expected,
                                  check_dtype=False, rtol=REL)
    assert expected["value"].notna().any()
    customer = str(duck_ws.warehouse.sql.execute(
        "SELECT min(customer_id) FROM subscriptions").fetchall()[0][0])
    expected = duck_ws.query("mrr", customer=customer)
    pd.testing.assert_frame_equal(spark_ws.query("mrr", customer=customer), expected,
                                  check_dtype=False, rtol=REL)
    assert (expected["value"] > 0).any()
    assert spark_ws.table_counts() == duck_ws.table_counts()


def test_ingest_into_spark_is_refused_with_the_fix(tmp_path, customers_csv):
    """Loading goes through DuckDB; against Spark the command says what to do instead,
    before any Spark session starts."""
    (tmp_path / "csmetrics.toml").write_text('[engine]\nurl = "pyspark://local[2]"\n',
                                             encoding="utf-8")
    result = run_cli("ingest", "customers", str(customers_csv), "-w", str(tmp_path),
                     check=False)
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "query-only warehouse" in message
    assert "csmetrics ingest" in message and "own pipeline" in message
    assert "csmetrics schema" in message


def test_spark_urls_name_the_master_and_database():
    assert parse_spark_url("pyspark://local") == parse_spark_url("pyspark://local[*]")
    assert parse_spark_url("pyspark://local[2]").master == "local[2]"
    url = parse_spark_url("pyspark://spark://head:7077?database=cs")
    assert (url.master, url.database) == ("spark://head:7077", "cs")
    assert parse_spark_url("pyspark://").master == ""
    with pytest.raises(UserInputError, match=r"\[engine.spark\]"):
        parse_spark_url("pyspark://local?memory=4g")


def test_an_unknown_engine_is_refused_with_the_supported_ones(tmp_path):
    engine = EngineSection(url="trino://host/catalog")
    with pytest.raises(UserInputError, match="duckdb:///"):
        Warehouse.open(engine, tmp_path, "UTC")


@pytest.mark.slow
def test_metrics_show_on_a_new_spark_session_names_the_missing_tables(spark, tmp_path):
    """The real command builds its own local Spark session from the URL; Spark there has no
    canonical tables, and the message lists them and says how to make them."""
    (tmp_path / "csmetrics.toml").write_text(
        '[engine]\nurl = "pyspark://local[1]"\n\n[engine.spark]\n'
        f'"spark.sql.warehouse.dir" = "{tmp_path / "spark-warehouse"}"\n'
        '"spark.driver.memory" = "512m"\n', encoding="utf-8")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    result = run_cli("metrics", "show", "mrr", "-w", str(tmp_path), check=False, env=env,
                     cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    message = " ".join(result.stderr.split())
    assert "the warehouse has no table customers, subscriptions" in message
    assert "csmetrics schema" in message
