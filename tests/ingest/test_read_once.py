"""Clean files are read once, straight into the batch; anything wrong sends them through
staging tables, which report it by line. Both ways must give the same rows."""

from __future__ import annotations

import gzip
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csmetrics import UserInputError, ValidationError, Workspace
from csmetrics.ingest.mapping import Formats, Mapping
from csmetrics.ingest.readers import file_columns, stage_file
from csmetrics.ingest.validate import BATCH, StagedFile, build_batch, match_columns
from csmetrics.schema import get_table
from tests.conftest import snapshot, write_csv

NBSP = "\u00a0"
EVENTS_HEADER = ["customer_id", "user_id", "occurred_at", "event", "quantity", "duration_s"]


@pytest.fixture
def new_york(tmp_path: Path) -> Workspace:
    """A workspace in America/New_York (summer time from 2024-03-10 02:00) with C1 and Café."""
    with Workspace.init(tmp_path / "ny", timezone="America/New_York") as ws:
        customers = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at"],
                              [["C1", "A", "2024-01-01"], ["Café", "B", "2024-01-01"]])
        ws.ingest("customers", [customers])
        yield ws


def steps_of(ws: Workspace, table: str, paths: list[Path], **kwargs: object) -> list[str]:
    """The progress messages of one load (it must succeed)."""
    steps: list[str] = []
    ws.ingest(table, paths, on_step=steps.append, **kwargs)  # type: ignore[arg-type]
    return steps


def test_a_clean_file_is_read_once_and_a_bad_one_through_staging(new_york, tmp_path):
    good = write_csv(tmp_path / "e.csv", EVENTS_HEADER,
                     [["C1", "u1", "2024-03-01 09:00:00", "login", "1", "20"]])
    assert steps_of(new_york, "usage_events", [good]) == ["reading and checking e.csv", "loading"]
    bad = write_csv(tmp_path / "bad.csv", EVENTS_HEADER,
                    [["C1", "u1", "2024-03-02 09:00:00", "login", "1", "20"],
                     ["C1", "u1", "2024-03-02 10:00:00", "login", "lots", "20"]])
    steps: list[str] = []
    with pytest.raises(ValidationError) as info:
        new_york.ingest("usage_events", [bad], on_step=steps.append)
    assert steps == ["reading and checking bad.csv", "reading bad.csv", "checking rows"]
    assert str(info.value.issues[0]) == (f"{bad}, line 3, column 'quantity': got 'lots', "
                                         "expected number")


def test_cells_read_once_are_cleaned_and_typed_as_before(new_york, tmp_path):
    rows = [
        # padded with spaces and no-break spaces; blank quantity = 1, blank duration = NULL
        [" C1 ", f"{NBSP}u1{NBSP}", " 2024-03-01 02:30:00 ", "login ", " 2 ", ""],
        ["C1", "u2", "2024-03-10 02:30:00", "export", "2.5", "1e1"],   # in the spring-forward gap
        ["C1", "u3", "2024-03-10T02:30:00", "export", f"{NBSP}3", ""],  # same shape: local time
        ["C1", "u4", "2024-03-01T02:30:00Z", "login", "", "+4"],        # 21:30 the day before
        ["C1", "u5", "2024-07-01 12:00:00+02:00", "login", "", ""],     # summer time: UTC-4
        ["Café ", "u6", "2024-03-01", "search\t", "", ""],              # tab is not trimmed
        ["C1", "u7", "2024-03-01 02:30:00.250", "login", "", ""],
    ]
    path = write_csv(tmp_path / "e.csv", EVENTS_HEADER, rows)
    assert steps_of(new_york, "usage_events", [path])[0] == "reading and checking e.csv"
    got = new_york.warehouse.sql.execute(
        "SELECT customer_id, user_id, occurred_at, event, quantity, duration_s "
        "FROM usage_events ORDER BY user_id").fetchall()
    assert got == [
        ("C1", "u1", datetime(2024, 3, 1, 2, 30), "login", 2.0, None),
        ("C1", "u2", datetime(2024, 3, 10, 2, 30), "export", 2.5, 10.0),
        ("C1", "u3", datetime(2024, 3, 10, 2, 30), "export", 3.0, None),
        ("C1", "u4", datetime(2024, 2, 29, 21, 30), "login", 1.0, 4.0),
        ("C1", "u5", datetime(2024, 7, 1, 6, 0), "login", 1.0, None),
        ("Café", "u6", datetime(2024, 3, 1), "search\t", 1.0, None),
        ("C1", "u7", datetime(2024, 3, 1, 2, 30, 0, 250000), "login", 1.0, None),
    ]


def test_a_second_file_with_only_a_header_is_refused(new_york, tmp_path):
    good = write_csv(tmp_path / "a.csv", EVENTS_HEADER,
                     [["C1", "u1", "2024-03-01 09:00:00", "login", "1", "20"]])
    empty = write_csv(tmp_path / "b.csv", EVENTS_HEADER, [])
    before = snapshot(new_york)
    with pytest.raises(UserInputError, match="b.csv: the file has a header but no rows"):
        new_york.ingest("usage_events", [good, empty])
    assert snapshot(new_york) == before


def test_a_bad_cell_far_down_a_large_file_is_found_by_line(new_york, tmp_path):
    rows = [["C1", f"u{i}", "2024-03-01 09:00:00", "login", "1", "20"] for i in range(30_000)]
    rows[25_000][2] = "2024-03-01 25:00:00"
    before = snapshot(new_york)
    with pytest.raises(ValidationError) as info:
        new_york.ingest("usage_events", [write_csv(tmp_path / "e.csv", EVENTS_HEADER, rows)])
    assert info.value.total == 1
    assert "line 25002, column 'occurred_at': got '2024-03-01 25:00:00'" in str(info.value)
    assert snapshot(new_york) == before


def batches(con: duckdb.DuckDBPyConnection, table: str, paths: list[Path],
            mapping: Mapping) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The batch of ``paths`` built through staging tables and built straight from the files,
    as rows of the columns both have (sorted)."""
    spec = get_table(table)
    columns = ", ".join(["__file", *spec.column_names, "attributes"])
    staged = [StagedFile(p, f"__stage_{i}", stage_file(con, p, f"__stage_{i}"))
              for i, p in enumerate(paths)]
    direct = [StagedFile(p, None, file_columns(con, p)) for p in paths]
    result = []
    for files in (staged, direct):
        for file in files:
            assert match_columns(spec, file, mapping) == []
        build_batch(con, spec, files, mapping)
        result.append(sorted(map(repr, con.execute(f"SELECT {columns} FROM {BATCH}").fetchall())))
    return result[0], result[1]


def test_both_ways_give_the_same_batch(new_york, tmp_path):
    con = new_york.warehouse.sql
    events = write_csv(tmp_path / "e.csv", EVENTS_HEADER + ["Device"], [
        [" C1 ", f"{NBSP}u1", " 2024-03-01 02:30:00 ", "login ", " 2 ", "", "ios"],
        ["C1", "u2", "2024-3-10 2:30:00", "export", "2.5", "1e1", ""],
        ["C1", "u3", "2024-03-10T02:30:00", "export", f"{NBSP}3{NBSP}", "", "web"],
        ["C1", "u4", "2024-03-01T02:30:00Z", "login", "", "+4", ""],
        ["Café ", "u5", "2024-11-03 01:30:00", "search\t", "  ", "0", ""],
        ["C1", "u6", "2024-03-01 02:30:00.250", "", "-0", "", ""],
        ["", "u7", "", "login", "nan", "inf", ""],
    ])
    staged, direct = batches(con, "usage_events", [events], Mapping())
    assert len(direct) == 7 and staged == direct
    subs = write_csv(tmp_path / "s.csv", ["subscription_id", "customer_id", "plan", "amount",
                                          "billing_interval", "start_date", "end_date",
                                          "currency"], [
        ["S1", "C1", "pro", " 100.5 ", "Annual", "01/02/2024", "", "eur "],
        ["S2", "C1", "pro", "1e2", " MONTH", "31/12/2024", "01/01/2025", ""],
    ])
    mapping = Mapping(values={"billing_interval": {"Annual": "year"}},
                      formats=Formats(date="%d/%m/%Y"))
    staged, direct = batches(con, "subscriptions", [subs], mapping)
    assert len(direct) == 2 and staged == direct
    assert "Decimal('100.5000')" in direct[0] and "'year'" in direct[0] and "'EUR'" in direct[0]
    pq.write_table(pa.table({"ticket_id": ["T1"], "customer_id": ["C1"],
                             "opened_at": pa.array([datetime(2024, 1, 1, 9)]),
                             "contacts": pa.array([2], pa.int32())}), tmp_path / "t.parquet")
    (tmp_path / "t.jsonl").write_text(json.dumps(
        {"ticket_id": " T2", "customer_id": "C1", "opened_at": "2024-01-02T09:00:00+01:00",
         "contacts": 1, "channel": " chat "}) + "\n")
    with gzip.open(tmp_path / "t.csv.gz", "wt") as handle:
        handle.write("ticket_id,customer_id,opened_at,contacts\nT3,C1,2024-01-03,3\n")
    tickets = [tmp_path / "t.parquet", tmp_path / "t.jsonl", tmp_path / "t.csv.gz"]
    staged, direct = batches(con, "tickets", tickets, Mapping())
    assert len(direct) == 3 and staged == direct


def test_a_cell_that_does_not_parse_stops_the_direct_batch(new_york, tmp_path):
    path = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "seats"],
                     [["C9", "Z", "2024-01-01", "2.5"]])
    files = [StagedFile(path, None, file_columns(new_york.warehouse.sql, path))]
    table = get_table("customers")
    assert match_columns(table, files[0], Mapping()) == []
    with pytest.raises(duckdb.Error, match="does not parse"):
        build_batch(new_york.warehouse.sql, table, files, Mapping())


def test_types_read_once_match_the_hand_computed_values(new_york, tmp_path):
    path = write_csv(tmp_path / "s.csv", ["subscription_id", "customer_id", "plan", "amount",
                                          "billing_interval", "start_date", "quantity"],
                     [["S1", "C1", "pro", " 99.95", "Month", "2024-01-05", "3.0"]])
    assert steps_of(new_york, "subscriptions", [path])[0] == "reading and checking s.csv"
    assert new_york.warehouse.sql.execute(
        "SELECT amount, billing_interval, start_date, quantity FROM subscriptions").fetchall() \
        == [(Decimal("99.9500"), "month", date(2024, 1, 5), 3)]


def test_cells_are_trimmed_exactly_as_duckdb_trim_does(new_york, tmp_path):
    # every ASCII character but NUL and a few Unicode spaces, at both ends of a cell
    pads = [chr(c) for c in range(1, 128)] + [NBSP, "\u2003", "\u3000", "é"]
    cells = [f"{pad}e{pad}" for pad in pads] + ["", "   ", f"{NBSP} ", "ok"]
    rows = [[f"K{i}", "N", "2024-01-01", cell] for i, cell in enumerate(cells)]
    path = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "region"], rows)
    con = new_york.warehouse.sql
    oracle = {f"K{i}": con.execute("SELECT NULLIF(trim(?), '')", [cell]).fetchall()[0][0]
              for i, cell in enumerate(cells)}
    assert steps_of(new_york, "customers", [path])[0] == "reading and checking c.csv"
    got = dict(con.execute("SELECT customer_id, region FROM customers "
                           "WHERE customer_id LIKE 'K%'").fetchall())
    assert got == oracle
    assert oracle["K0"] == "\x01e\x01" and oracle[f"K{pads.index(NBSP)}"] == "e"
    assert oracle[f"K{len(pads)}"] is None and oracle[f"K{len(pads) + 2}"] is None


def test_a_repeat_across_files_is_reported_in_the_later_name_whatever_the_order(new_york,
                                                                                tmp_path):
    row = ["C1", "u1", "2024-03-01 09:00:00", "login", "1", "20"]
    a = write_csv(tmp_path / "a.csv", EVENTS_HEADER, [row])
    b = write_csv(tmp_path / "b.csv", EVENTS_HEADER, [row])
    with pytest.raises(ValidationError) as info:
        new_york.ingest("usage_events", [b, a])
    assert info.value.total == 1 and str(info.value.issues[0]).startswith(f"{b}, line 2")
