"""csmetrics' own tables: declared once, created and upgraded by numbered migrations."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from csmetrics.config import EngineSection
from csmetrics.errors import UserInputError
from csmetrics.store import Warehouse
from csmetrics.store.app_tables import APP_TABLES
from csmetrics.store.migrations import LATEST, current_version, upgrade

#: Every table the 13 modules created themselves before the tables were declared in one place.
EXPECTED_TABLES = {
    "_batches", "_batch_changes", "_table_versions", "_metric_values", "_refreshes",
    "_refresh_basis",
    "_health_scores", "_health_components", "_health_runs", "_churn_scores", "_clv_customers",
    "_clv_fits", "_survival_curves", "_survival_summary", "_text_sentiment", "_voice_themes",
    "_voice_theme_trend", "_voice_text_themes", "_voice_requests", "_voice_request_members",
    "_notifications", "_notification_attachments", "_tasks", "_task_steps", "_task_events",
    "_rule_state", "_schedule_runs", "_users", "_api_tokens", "_sessions", "_models",
}


def open_file(folder: Path, *, read_only: bool = False) -> Warehouse:
    return Warehouse.open(EngineSection(url="duckdb:///wh.duckdb"), folder, "UTC",
                          read_only=read_only)


def layout(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """Each app table's columns and types, in order."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE table_name LIKE '\\_%' ESCAPE '\\' ORDER BY table_name, column_index").fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, []).append((column, dtype))
    return tables


def test_every_app_table_is_declared_once():
    assert set(APP_TABLES) == EXPECTED_TABLES


def test_a_new_warehouse_is_at_the_latest_version_with_every_app_table(ws):
    sql = ws.warehouse.sql
    assert LATEST == 8
    assert current_version(sql) == 8
    assert sql.execute("SELECT version, description FROM _schema_version ORDER BY 1"
                       ).fetchall() == [
        (1, "create the app tables"),
        (2, "add _batch_changes.earliest_beyond_facts"),
        (3, "add _batch_changes.fact_days"),
        (4, "add _health_runs.settings and last_batch"),
        (5, "add the survival band transform and restricted mean"),
        (6, "add _health_scores.coverage"),
        (7, "add _table_versions (the lake's current versions)"),
        (8, "add _models (trained models, shared by the servers)"),
    ]
    present = {r[0] for r in sql.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert EXPECTED_TABLES <= present
    assert [c for c, _ in layout(sql)["_batch_changes"]] == [
        "batch_id", "table_name", "earliest", "everything", "earliest_beyond_facts",
        "fact_days"]
    # the sequences the outbox and the tasks draw their ids from
    sequences = {r[0] for r in sql.execute("SELECT sequence_name FROM duckdb_sequences()")
                 .fetchall()}
    assert {"_notifications_seq", "_task_ids"} <= sequences


def test_opening_a_current_warehouse_again_applies_nothing(tmp_path):
    open_file(tmp_path).close()
    with open_file(tmp_path) as warehouse:
        assert upgrade(warehouse.sql) == []
        assert warehouse.sql.execute("SELECT count(*) FROM _schema_version").fetchall() == [
            (8,)]


def test_a_raw_connection_gets_every_table_from_upgrade():
    con = duckdb.connect()
    assert [m.version for m in upgrade(con)] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert set(layout(con)) == EXPECTED_TABLES | {"_schema_version"}


def test_a_warehouse_made_before_versions_upgrades_and_keeps_its_rows(tmp_path):
    """The previous code's layout: no ``_schema_version``, the ledger and the batch changes
    as the first incremental refresh wrote them, a user, and no table of the features never
    used (tasks, notifications, ...)."""
    old = duckdb.connect(str(tmp_path / "wh.duckdb"))
    old.execute("""CREATE TABLE _batches (batch_id BIGINT, table_name VARCHAR, files VARCHAR[],
        content_hash VARCHAR, mode VARCHAR, rows_read BIGINT, inserted BIGINT, updated BIGINT,
        unchanged BIGINT, deleted BIGINT, orphans BIGINT, loaded_by VARCHAR,
        loaded_at TIMESTAMPTZ)""")
    old.execute("INSERT INTO _batches VALUES (1, 'tickets', ['t.csv'], 'abc', 'upsert', 2, 2, "
                "0, 0, 0, 0, 'ana', TIMESTAMPTZ '2024-04-01 10:00:00+00')")
    old.execute("CREATE TABLE _batch_changes (batch_id BIGINT, table_name VARCHAR, "
                "earliest DATE, everything BOOLEAN)")
    old.execute("INSERT INTO _batch_changes VALUES (1, 'tickets', DATE '2024-03-31', false)")
    old.execute("""CREATE TABLE _users (username VARCHAR PRIMARY KEY,
        password_hash VARCHAR NOT NULL, role VARCHAR NOT NULL,
        disabled BOOLEAN NOT NULL DEFAULT false, created_at TIMESTAMPTZ NOT NULL)""")
    old.execute("INSERT INTO _users VALUES ('ana', 'scrypt$x', 'admin', false, now())")
    old.execute("CREATE TABLE _health_runs (as_of DATE PRIMARY KEY, computed_at TIMESTAMPTZ, "
                "accounts BIGINT, scorecard VARCHAR)")
    old.execute("INSERT INTO _health_runs VALUES (DATE '2024-03-31', now(), 5, '{}')")
    old.close()

    with open_file(tmp_path) as warehouse:
        sql = warehouse.sql
        assert current_version(sql) == 8
        # older snapshots do not say what they were computed from: never taken as current
        assert sql.execute("SELECT as_of, settings, last_batch FROM _health_runs").fetchall(
            ) == [(date(2024, 3, 31), None, None)]
        assert sql.execute("SELECT batch_id, loaded_by FROM _batches").fetchall() == [
            (1, "ana")]
        # recorded before later facts were told apart: counts from its earliest day
        assert sql.execute("SELECT batch_id, earliest, earliest_beyond_facts, fact_days "
                           "FROM _batch_changes").fetchall() == [
            (1, date(2024, 3, 31), date(2024, 3, 31), None)]
        assert sql.execute("SELECT username, role FROM _users").fetchall() == [
            ("ana", "admin")]
        upgraded = layout(sql)
    fresh = duckdb.connect()
    upgrade(fresh)
    assert upgraded == layout(fresh)


def test_an_interrupted_upgrade_resumes_where_it_stopped(tmp_path):
    """A warehouse whose version table says 1 (the process stopped after the first
    migration) gets migrations 2 to 8 only."""
    with open_file(tmp_path) as warehouse:
        sql = warehouse.sql
        sql.execute("DELETE FROM _schema_version WHERE version > 1")
        sql.execute("ALTER TABLE _batch_changes DROP COLUMN fact_days")
        sql.execute("ALTER TABLE _batch_changes DROP COLUMN earliest_beyond_facts")
    with open_file(tmp_path) as warehouse:
        assert current_version(warehouse.sql) == 8
        assert "fact_days" in [c for c, _ in layout(warehouse.sql)["_batch_changes"]]


def test_a_warehouse_newer_than_the_code_is_refused_with_both_versions(tmp_path):
    with open_file(tmp_path) as warehouse:
        warehouse.sql.execute("INSERT INTO _schema_version VALUES (9, 'from the future', "
                              "'9.0.0', now())")
    for read_only in (False, True):
        with pytest.raises(UserInputError) as refused:
            open_file(tmp_path, read_only=read_only)
        message = str(refused.value)
        assert "schema version 9" in message
        assert "csmetrics 9.0.0" in message
        assert "version 8" in message
        assert "Upgrade csmetrics" in message
    # refused before anything was written, and the file is not left locked
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    assert con.execute("SELECT max(version) FROM _schema_version").fetchall() == [(9,)]
    con.close()
