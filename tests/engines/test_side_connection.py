"""A second DuckDB connection, for refresh passes side by side: the same data and session
time zone, its own temporary tables."""

from __future__ import annotations

from csmetrics import Workspace
from csmetrics.store.engines import side_connection


def test_a_side_connection_shares_the_data_and_zone_but_not_temporary_tables(tmp_path):
    with Workspace.init(tmp_path / "ny", timezone="America/New_York") as ws:
        ws.warehouse.sql.execute("INSERT INTO customers (customer_id, name, started_at) "
                                 "VALUES ('C1', 'A', DATE '2024-01-01')")
        con = ws.warehouse.ibis
        side = side_connection(con)
        assert side is not None
        try:
            zone = "SELECT current_setting('TimeZone')"
            assert side.con.execute(zone).fetchall() == [("America/New_York",)]
            assert con.con.execute(zone).fetchall() == [("America/New_York",)]
            assert side.table("customers").count().execute() == 1
            side.con.execute("CREATE TEMP TABLE mine AS SELECT 1 AS x")
            temporary = "SELECT table_name FROM duckdb_tables() WHERE temporary"
            assert side.con.execute(temporary).fetchall() == [("mine",)]
            assert con.con.execute(temporary).fetchall() == []
        finally:
            side.disconnect()
