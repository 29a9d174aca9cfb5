"""Loading: idempotent upserts, replace, formats, time zones, attributes, the ledger."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csmetrics import Workspace
from tests.conftest import CUSTOMERS_HEADER, CUSTOMERS_ROWS, snapshot, write_csv


def rows(ws: Workspace, sql: str) -> list[tuple[object, ...]]:
    return ws.warehouse.sql.execute(sql).fetchall()


def test_loading_the_same_file_twice_changes_nothing(ws, customers_csv):
    first = ws.ingest("customers", [customers_csv])
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    before = rows(ws, "SELECT * FROM customers ORDER BY customer_id")
    again = ws.ingest("customers", [customers_csv])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert rows(ws, "SELECT * FROM customers ORDER BY customer_id") == before


def test_a_changed_row_is_updated_in_place(ws, customers_csv, tmp_path):
    ws.ingest("customers", [customers_csv])
    changed = [list(r) for r in CUSTOMERS_ROWS[:2]]
    changed[1][3] = "enterprise"
    changed.append(["C4", "Delta", "2024-04-01", "pro", "NA"])
    result = ws.ingest("customers", [write_csv(tmp_path / "c2.csv", CUSTOMERS_HEADER, changed)])
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert rows(ws, "SELECT customer_id, plan FROM customers ORDER BY 1") == [
        ("C1", "pro"), ("C2", "enterprise"), ("C3", "basic"), ("C4", "pro")]


def test_replace_swaps_the_whole_table(ws, customers_csv, tmp_path):
    ws.ingest("customers", [customers_csv])
    only = write_csv(tmp_path / "c.csv", CUSTOMERS_HEADER, [["C9", "Zed", "2024-05-01", "", ""]])
    result = ws.ingest("customers", [only], replace=True)
    assert (result.inserted, result.deleted) == (1, 3)
    assert rows(ws, "SELECT customer_id FROM customers") == [("C9",)]


def test_types_defaults_and_attributes(ws, tmp_path):
    write = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "seats", "Tier"],
                      [["C1", "Acme", "2024-01-05", "12", "gold"]])
    result = ws.ingest("customers", [write])
    assert result.extra_columns == ["Tier"]
    assert rows(ws, "SELECT started_at, seats, attributes['Tier'] FROM customers") == [
        (date(2024, 1, 5), 12, "gold")]
    orders = write_csv(tmp_path / "o.csv", ["order_id", "customer_id", "ordered_at", "amount"],
                       [["O1", "C1", "2024-02-01 10:30:00", "99.95"]])
    ws.ingest("orders", [orders])
    assert rows(ws, "SELECT amount, status FROM orders") == [(Decimal("99.9500"), "paid")]
    survey = write_csv(tmp_path / "r.csv",
                       ["response_id", "customer_id", "survey", "score", "responded_at"],
                       [["R1", "C1", "NPS", "9", "2024-02-01"],
                        ["R2", "C1", "ces", "6", "2024-02-01"]])
    ws.ingest("survey_responses", [survey])
    assert rows(ws, "SELECT survey, scale_max FROM survey_responses ORDER BY 1") == [
        ("ces", 7), ("nps", 10)]


def test_timestamps_with_an_offset_are_converted_to_the_workspace_zone(tmp_path):
    with Workspace.init(tmp_path / "ny", timezone="America/New_York") as ws:
        ws.ingest("customers", [write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at"],
                                          [["C1", "A", "2024-01-01"]])])
        _ = ws.warehouse.ibis  # the metrics' connection is open, as in a server that answered
        events = write_csv(tmp_path / "e.csv", ["customer_id", "user_id", "occurred_at", "event"], [
            ["C1", "u1", "2024-03-01T02:30:00Z", "login"],        # 21:30 the day before in NY
            ["C1", "u1", "2024-03-01 02:30:00", "export"],        # no offset: already local
            ["C1", "u1", "2024-07-01T12:00:00+02:00", "login"],   # summer time: UTC-4
        ])
        ws.ingest("usage_events", [events])
        got = rows(ws, "SELECT occurred_at, event, quantity FROM usage_events ORDER BY 1")
        assert got == [
            (datetime(2024, 2, 29, 21, 30), "login", 1.0),
            (datetime(2024, 3, 1, 2, 30), "export", 1.0),
            (datetime(2024, 7, 1, 6, 0), "login", 1.0),
        ]


def test_parquet_json_lines_and_gzip_read_the_same(ws, tmp_path, customers_csv):
    ws.ingest("customers", [customers_csv])
    table = pa.table({
        "ticket_id": ["T1", "T2"], "customer_id": ["C1", "C2"],
        "opened_at": pa.array([datetime(2024, 1, 1, 9), datetime(2024, 1, 2, 9)]),
        "contacts": pa.array([1, 3], pa.int32()),
    })
    pq.write_table(table, tmp_path / "t.parquet")
    records = [{"ticket_id": "T3", "customer_id": "C3", "opened_at": "2024-01-03 09:00:00",
                "contacts": 2, "channel": "chat"}]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        handle.write("ticket_id,customer_id,opened_at,contacts\nT4,C1,2024-01-04 09:00:00,1\n")
    result = ws.ingest("tickets", [tmp_path / "t.parquet", tmp_path / "t.jsonl",
                                   tmp_path / "t.csv.gz"])
    assert result.inserted == 4
    assert rows(ws, "SELECT ticket_id, opened_at, contacts FROM tickets ORDER BY 1") == [
        ("T1", datetime(2024, 1, 1, 9), 1), ("T2", datetime(2024, 1, 2, 9), 3),
        ("T3", datetime(2024, 1, 3, 9), 2), ("T4", datetime(2024, 1, 4, 9), 1)]


def test_bad_value_in_a_parquet_file_is_reported_by_row(ws, tmp_path, customers_csv):
    ws.ingest("customers", [customers_csv])
    pq.write_table(pa.table({"ticket_id": ["T1", "T2"], "customer_id": ["C1", "C1"],
                             "opened_at": ["2024-01-01", "yesterday"]}), tmp_path / "t.parquet")
    with pytest.raises(Exception, match=r"t.parquet, row 2, column 'opened_at': got 'yesterday'"):
        ws.ingest("tickets", [tmp_path / "t.parquet"])


def test_ledger_records_each_load(ws, customers_csv):
    ws.ingest("customers", [customers_csv], loaded_by="alice")
    ws.ingest("customers", [customers_csv], loaded_by="bob")
    newest, oldest = ws.batches()
    assert (oldest.batch_id, oldest.inserted, oldest.loaded_by) == (1, 3, "alice")
    assert (newest.batch_id, newest.unchanged, newest.loaded_by) == (2, 3, "bob")
    assert newest.content_hash == oldest.content_hash and len(newest.content_hash) == 64
    assert newest.files == [str(customers_csv)]


def test_a_refused_batch_leaves_no_ledger_row(ws, tmp_path):
    bad = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at"], [["C1", "A", "x"]])
    before = snapshot(ws)
    with pytest.raises(Exception, match="expected date"):
        ws.ingest("customers", [bad])
    assert snapshot(ws) == before and ws.batches() == []


def test_customers_may_refer_to_customers_in_the_same_batch(ws, tmp_path):
    path = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "referred_by"],
                     [["C1", "A", "2024-01-01", ""], ["C2", "B", "2024-02-01", "C1"]])
    assert ws.ingest("customers", [path]).inserted == 2
