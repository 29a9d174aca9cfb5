"""The whole product on Spark: a workspace whose engine is Spark with a lake, and whose app
state is in PostgreSQL, loads, refreshes (full and incremental), scores health, runs the alert
rules and serves the dashboard with the same results as the embedded default (DuckDB).

Both workspaces load the same files with ``Workspace.ingest`` as a user would, then run the same
refreshes; the stored results, health snapshots and tasks are compared row by row.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.clock import FixedClock
from csmetrics.demo import write_company
from csmetrics.errors import ValidationError
from csmetrics.store.accounts import Accounts
from tests.conftest import run_cli, write_csv
from tests.engines.conftest import FAST_SPARK
from tests.pg import new_database
from tests.serving import served, sign_in

END = date(2026, 6, 30)
CLOCK = FixedClock(datetime(2026, 7, 15, 9, 0, tzinfo=UTC))
PASSWORD = "lake-password-1"
#: One grain and one segment keep Spark's per-query cost (a few hundred queries) in bounds.
SETTINGS = '\n[metrics]\ndefault_segments = ["plan"]\n'


def _workspace(root: Path, *, lake: bool, app_url: str = "") -> Workspace:
    """A new workspace: DuckDB, or Spark (the session the tests started) with a lake."""
    Workspace.init(root, name="Flow Co", engine_url="pyspark://" if lake else
                   "duckdb:///csmetrics.duckdb", lake="lake" if lake else "").close()
    config = root / "csmetrics.toml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r'default_segments = \[[^\]]*\]', 'default_segments = ["plan"]', text)
    if app_url:
        text = text.replace("[app]\n", f'[app]\nurl = "{app_url}"\n', 1)
    config.write_text(text, encoding="utf-8")
    return Workspace.load(root, clock=CLOCK)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    return write_company(tmp_path_factory.mktemp("files"), customers=30, months=6, seed=5,
                         end=END)


def _load(ws: Workspace, files: dict[str, list[Path]]) -> None:
    for table, paths in files.items():
        ws.ingest(table, paths)


@pytest.fixture(scope="module")
def pair(spark: Any, files: dict[str, list[Path]], postgres_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Workspace]]:
    """The same company in DuckDB and in a Spark lake with PostgreSQL app state, loaded and
    refreshed (full) the same way."""
    root = tmp_path_factory.mktemp("flow")
    duck = _workspace(root / "duckdb", lake=False)
    lake = _workspace(root / "lake", lake=True, app_url=new_database(postgres_url))
    for ws in (duck, lake):
        _load(ws, files)
        ws.refresh(grains=["month"], full=True)
    yield duck, lake
    duck.close()
    lake.close()


def _same_frames(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    """Equal row for row: the same keys, texts and counts; numbers within 1e-9 relative
    (Spark adds floating-point sums in another order)."""
    left = left.sort_values(keys).reset_index(drop=True)
    right = right.sort_values(keys).reset_index(drop=True)
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for column in left.columns:
        for a, b in zip(left[column], right[column], strict=True):
            if column == "details":  # a metric's extra figures, as JSON
                a, b = json.loads(a or "{}"), json.loads(b or "{}")
                assert a.keys() == b.keys(), (a, b)
                for key in a:
                    _same_value(a[key], b[key], f"details.{key}")
            else:
                _same_value(a, b, column)


def _same_value(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-12), (where, a, b)
    else:
        assert (a == b) or (pd.isna(a) and pd.isna(b)), (where, a, b)


METRIC_KEYS = ["metric", "grain", "period_start", "segment_by", "segment"]


def test_the_lake_holds_the_loaded_tables_and_the_ledger(pair):
    duck, lake = pair
    assert lake.warehouse.lake is not None and lake.warehouse.embedded is False
    assert lake.table_counts() == duck.table_counts()
    assert [(b.table, b.inserted) for b in lake.batches()] == [
        (b.table, b.inserted) for b in duck.batches()]
    versions = lake.warehouse.sql.execute(
        "SELECT table_name, location FROM _table_versions").fetchall()
    folder = dict(versions)["subscriptions"]
    assert folder.startswith("subscriptions/v-")
    assert list((lake.warehouse.lake.root / folder).glob("*.parquet"))
    # Spark reads the same rows the catalog does
    spark_rows = lake.warehouse.ibis.table("subscriptions").count().execute()
    assert spark_rows == duck.table_counts()["subscriptions"]


def test_a_full_refresh_on_spark_stores_the_same_results_as_duckdb(pair):
    duck, lake = pair
    _same_frames(duck.metric_values(), lake.metric_values(), METRIC_KEYS)


def test_health_snapshots_and_tasks_are_the_same(pair):
    duck, lake = pair
    keys = ["customer_id"]
    columns = ["customer_id", "score", "band", "coverage"]
    _same_frames(duck.health(stored=True).scores[columns],
                 lake.health(stored=True).scores[columns], keys)
    opened = [sorted(zip(frame.rule, frame.customer_id, strict=True))
              for frame in (ws.tasks.list() for ws in pair)]
    assert opened[0] == opened[1] and opened[0]


def test_an_incremental_refresh_on_spark_equals_duckdb_and_a_full_one(pair, tmp_path):
    duck, lake = pair
    customer = duck.warehouse.sql.execute(
        "SELECT customer_id FROM subscriptions WHERE end_date IS NULL ORDER BY 1 LIMIT 1"
    ).fetchall()[0][0]
    later = write_csv(tmp_path / "later.csv",
                      ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
                       "start_date"],
                      [["upsell-1", customer, "Pro", 120, "month", "2026-06-10"]])
    runs = []
    for ws in pair:
        ws.ingest("subscriptions", [later])
        runs.append(ws.refresh(grains=["month"]))
    assert [r["mode"] for r in runs] == ["incremental", "incremental"]
    _same_frames(duck.metric_values(), lake.metric_values(), METRIC_KEYS)
    incremental = lake.metric_values()
    lake.refresh(grains=["month"], full=True)
    _same_frames(incremental, lake.metric_values(), METRIC_KEYS)


def test_a_refused_batch_leaves_the_lake_as_it_was(pair, tmp_path):
    _, lake = pair
    before = lake.warehouse.sql.execute(
        "SELECT location FROM _table_versions WHERE table_name = 'customers'").fetchall()
    batches = len(lake.batches())
    bad = write_csv(tmp_path / "bad.csv", ["customer_id", "name", "started_at"],
                    [["C9001", "New Co", "2026-02-30"]])
    with pytest.raises(ValidationError):
        lake.ingest("customers", [bad])
    assert lake.warehouse.sql.execute(
        "SELECT location FROM _table_versions WHERE table_name = 'customers'"
    ).fetchall() == before
    assert len(lake.batches()) == batches


def test_the_dashboard_overview_of_the_lake_workspace_shows_the_same_tiles(pair):
    duck, lake = pair
    for ws in pair:
        Accounts(ws.app).add_user("ada", PASSWORD, "admin")
    pages = []
    with httpx.Client(timeout=300, follow_redirects=False) as client:
        for ws in (duck, lake):
            with served(ws) as base:
                cookie = sign_in(client, base, "ada", PASSWORD)
                page = client.get(f"{base}/",
                                  headers={"Cookie": f"csmetrics_session={cookie}"})
                assert page.status_code == 200, page.text
                pages.append(page.text)
    tiles = [re.findall(r'<div class="value">([^<]+)<', text) for text in pages]
    assert tiles[0] and tiles[0] == tiles[1]
    # the app state of the lake workspace is in PostgreSQL, not in its catalog file
    assert lake.app is not lake.warehouse.sql
    assert Accounts(lake.app).user("ada") is not None



def test_the_cli_builds_loads_and_refreshes_a_lake_workspace(tmp_path, files):
    """What a user types: init with Spark and a lake, ingest, refresh, then the stored MRR,
    the same as a DuckDB workspace's (each command starts its own local Spark)."""
    outputs = []
    env = {**os.environ, "CSMETRICS_NOW": CLOCK.now().isoformat()}
    for name, engine in (("duck", []), ("lake", ["--engine", "pyspark://local[1]",
                                                  "--lake", "lake"])):
        root = tmp_path / name
        run_cli("init", str(root), "--name", "Cli Co", *engine, env=env)
        config = root / "csmetrics.toml"
        text = re.sub(r'default_segments = \[[^\]]*\]', 'default_segments = ["plan"]',
                      config.read_text(encoding="utf-8"))
        fast = "".join(f'"{k}" = "{v}"\n' for k, v in FAST_SPARK.items()
                       if k != "spark.sql.session.timeZone")
        config.write_text(text + f"\n[engine.spark]\n{fast}", encoding="utf-8")
        for table in ("customers", "exchange_rates", "subscriptions"):
            run_cli("ingest", table, *map(str, files[table]), "-w", str(root), env=env)
        run_cli("refresh", "--period", "month", "-w", str(root), env=env)
        run_cli("metrics", "show", "mrr", "--from", "2026-01-01", "--to", "2026-06-30",
                "--out", str(tmp_path / f"{name}.csv"), "-w", str(root), env=env)
        outputs.append(pd.read_csv(tmp_path / f"{name}.csv"))
    assert (tmp_path / "lake" / "lake" / "subscriptions").is_dir()
    columns = ["period_start", "value", "n"]
    _same_frames(outputs[0][columns], outputs[1][columns], ["period_start"])


MAPPING = '''\
[customers]
table = "their_accounts"
columns = { customer_id = "account_id" }

[subscriptions]
sql = "SELECT * EXCEPT (price), price AS amount FROM their_subs"
'''


def test_your_own_tables_on_a_lake_are_refreshed_and_shown_by_the_dashboard(
        pair, spark, files, tmp_path):
    """Customers and subscriptions mapped to the company's own Spark tables ([engine]
    tables), the rest loaded from files: ingest checks customer ids against theirs, refresh
    gives DuckDB's results, and the dashboard's customer page (which reads the catalog) shows
    their customers, copied into the lake at the refresh."""
    duck, _ = pair
    for name, sql in (("their_accounts", "SELECT * EXCLUDE (customer_id), customer_id AS "
                                         "account_id FROM customers"),
                      ("their_subs", "SELECT * EXCLUDE (amount), amount AS price "
                                     "FROM subscriptions")):
        rows = duck.warehouse.sql.sql(sql).to_arrow_table()
        spark.createDataFrame(rows).createOrReplaceTempView(name)
    root = tmp_path / "mapped"
    _workspace(root, lake=True).close()
    (root / "tables.toml").write_text(MAPPING, encoding="utf-8")
    config = root / "csmetrics.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "[engine]\n", '[engine]\ntables = "tables.toml"\n', 1), encoding="utf-8")
    with Workspace.load(root, clock=CLOCK) as ws:
        for table, paths in files.items():
            if table not in ("customers", "subscriptions"):
                ws.ingest(table, paths)  # their customer ids are checked against the mapping
        ws.refresh(grains=["month"], full=True)
        _same_frames(duck.metric_values(), ws.metric_values(), METRIC_KEYS)
        counts = {t: ws.warehouse.sql.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("customers", "subscriptions")}
        assert counts == {t: duck.table_counts()[t] for t in counts}
        customer, name = duck.warehouse.sql.execute(
            "SELECT customer_id, name FROM customers ORDER BY 1 LIMIT 1").fetchone()
        Accounts(ws.app).add_user("ada", PASSWORD, "admin")
        with served(ws) as base, httpx.Client(timeout=300, follow_redirects=False) as client:
            cookie = sign_in(client, base, "ada", PASSWORD)
            page = client.get(f"{base}/customers/{customer}",
                              headers={"Cookie": f"csmetrics_session={cookie}"})
        assert page.status_code == 200, page.text
        assert name in page.text
