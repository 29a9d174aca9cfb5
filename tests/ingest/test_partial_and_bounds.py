"""Files with only some of a table's columns update only those columns (unless whole rows
are asked for), and implausible dates and overflowing integers are refused like any other
bad cell: file, line, column, value and what was expected."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from csmetrics import ConfigError, ValidationError, Workspace
from tests.conftest import CUSTOMERS_HEADER, CUSTOMERS_ROWS, run_cli, snapshot, write_csv
from tests.ingest.test_changes import change

WINDOW = ("a date from 1900-01-01 to 2100-12-31 (other dates are refused as implausible; "
          "[ingest] earliest_date and latest_date in csmetrics.toml set the window)")
WHOLE = "whole number from -9,223,372,036,854,775,808 to 9,223,372,036,854,775,807"
SUBS_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
               "start_date", "end_date", "quantity"]


def customers(ws: Workspace) -> dict[str, tuple[object, ...]]:
    rows = ws.warehouse.sql.execute(
        "SELECT customer_id, name, started_at, plan, region, attributes FROM customers"
    ).fetchall()
    return {r[0]: r[1:] for r in rows}


def counts(result: object) -> tuple[int, int, int]:
    return result.inserted, result.updated, result.unchanged  # type: ignore[attr-defined]


def partial_file(folder: Path) -> Path:
    """C1 renamed, C2 as stored, C4 new; no plan, no region."""
    return write_csv(folder / "partial.csv", ["customer_id", "name", "started_at"], [
        ["C1", "Acme Corp", "2024-01-05"],
        ["C2", "Beta", "2024-02-01"],
        ["C4", "Delta", "2024-04-01"],
    ])


def test_a_partial_file_keeps_the_columns_it_lacks(loaded, tmp_path):
    result = loaded.ingest("customers", [partial_file(tmp_path)])
    assert counts(result) == (1, 1, 1)  # C4 new, C1 renamed, C2 the same
    rows = customers(loaded)
    assert rows["C1"] == ("Acme Corp", date(2024, 1, 5), "pro", "NA", None)
    assert rows["C2"] == ("Beta", date(2024, 2, 1), "basic", "EMEA", None)
    assert rows["C3"] == ("Gamma", date(2024, 3, 15), "basic", "APAC", None)  # not in the file
    assert rows["C4"] == ("Delta", date(2024, 4, 1), None, None, None)  # new: NULL
    # a customer's name is a segment of all its history: recompute everything, from the
    # earliest day of the touched rows (C1 from 2024-01-05, C4 from 2024-04-01)
    assert change(loaded, result.batch_id) == (date(2024, 1, 5), True)
    # the same subset again changes nothing, and says so
    again = loaded.ingest("customers", [partial_file(tmp_path)])
    assert counts(again) == (0, 0, 3)
    assert change(loaded, again.batch_id) == (None, False)
    newest = loaded.batches()[0]
    assert (newest.inserted, newest.updated, newest.unchanged) == (0, 0, 3)
    assert newest.mode == "upsert"


def test_replace_columns_from_the_command_line_empties_what_the_file_lacks(loaded, tmp_path):
    loaded.ingest("customers", [partial_file(tmp_path)])
    folder = loaded.root
    loaded.close()
    out = run_cli("ingest", "customers", str(partial_file(tmp_path)), "--replace-columns",
                  "-w", str(folder))
    # C1 and C2 lose plan and region; C4 had none: unchanged
    assert "0 inserted, 2 updated, 1 unchanged" in out.stdout
    with Workspace.load(folder) as ws:
        rows = customers(ws)
        assert rows["C1"] == ("Acme Corp", date(2024, 1, 5), None, None, None)
        assert rows["C2"] == ("Beta", date(2024, 2, 1), None, None, None)
        assert rows["C3"] == ("Gamma", date(2024, 3, 15), "basic", "APAC", None)
        newest = ws.batches()[0]
        assert (newest.inserted, newest.updated, newest.unchanged) == (0, 2, 1)
        assert newest.mode == "upsert-rows"
        # without the flag the same file now changes nothing
        assert counts(ws.ingest("customers", [partial_file(tmp_path)])) == (0, 0, 3)


def test_each_file_of_a_batch_updates_its_own_columns_and_extra_columns_merge(ws, tmp_path):
    ws.ingest("customers", [write_csv(tmp_path / "c.csv", [*CUSTOMERS_HEADER, "tier"],
                                      [[*r, "gold"] for r in CUSTOMERS_ROWS])])
    with_plan = write_csv(tmp_path / "a.csv", ["customer_id", "name", "started_at", "plan",
                                               "nickname"],
                          [["C1", "Acme", "2024-01-05", "enterprise", "Roadrunner"]])
    without = write_csv(tmp_path / "b.csv", ["customer_id", "name", "started_at"],
                        [["C2", "Beta", "2024-02-01"]])
    result = ws.ingest("customers", [with_plan, without])
    assert counts(result) == (0, 1, 1)
    rows = customers(ws)
    # C1: the new plan and a new extra column, the stored region and tier kept
    assert rows["C1"] == ("Acme", date(2024, 1, 5), "enterprise", "NA",
                          {"tier": "gold", "nickname": "Roadrunner"})
    assert rows["C2"] == ("Beta", date(2024, 2, 1), "basic", "EMEA", {"tier": "gold"})


def test_merged_rows_record_only_what_changed_for_incremental_refresh(loaded, tmp_path):
    full = write_csv(tmp_path / "s.csv", SUBS_HEADER[:-1],
                     [["S1", "C1", "pro", "100", "month", "2024-03-01", "2024-09-30"]])
    loaded.ingest("subscriptions", [full])
    header = SUBS_HEADER[:6]  # no end_date, no quantity
    same = loaded.ingest("subscriptions", [write_csv(
        tmp_path / "p1.csv", header, [["S1", "C1", "pro", "100", "month", "2024-03-01"]])])
    # the end date is kept, not emptied: nothing changed (replacing whole rows would have
    # cleared it, a change from 2024-09-30)
    assert counts(same) == (0, 0, 1) and change(loaded, same.batch_id) == (None, False)
    priced = loaded.ingest("subscriptions", [write_csv(
        tmp_path / "p2.csv", header, [["S1", "C1", "pro", "120", "month", "2024-03-01"]])])
    assert counts(priced) == (0, 1, 0)
    # the amount changed: from the row's earliest date
    assert change(loaded, priced.batch_id) == (date(2024, 3, 1), False)
    stored = loaded.warehouse.sql.execute(
        "SELECT amount, end_date FROM subscriptions WHERE subscription_id = 'S1'").fetchone()
    assert stored == (120, date(2024, 9, 30))
    whole = loaded.ingest("subscriptions", [write_csv(
        tmp_path / "p3.csv", header, [["S1", "C1", "pro", "120", "month", "2024-03-01"]])],
        replace_columns=True)
    # whole rows: the end date is emptied, a change from the old end on
    assert counts(whole) == (0, 1, 0)
    assert change(loaded, whole.batch_id) == (date(2024, 9, 30), False)


def refused(ws: Workspace, table: str, path: Path) -> ValidationError:
    before = snapshot(ws)
    with pytest.raises(ValidationError) as info:
        ws.ingest(table, [path])
    assert snapshot(ws) == before
    return info.value


def test_implausible_dates_and_overflowing_integers_are_refused_by_place(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", SUBS_HEADER, [
        ["S1", "C1", "pro", "100", "month", "2024-01-01", "", "3"],
        ["S2", "C2", "pro", "100", "month", "1850-01-01", "2250-01-01", "99999999999999999999"],
    ])
    error = refused(loaded, "subscriptions", path)
    assert error.total == 3
    assert [str(i) for i in error.issues] == [
        f"{path}, line 3, column 'start_date': got '1850-01-01', expected {WINDOW}",
        f"{path}, line 3, column 'end_date': got '2250-01-01', expected {WINDOW}",
        f"{path}, line 3, column 'quantity': got '99999999999999999999', expected {WHOLE}",
    ]
    seats = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "seats"],
                      [["C9", "Z", "2024-01-01", "99999999999999999999"]])
    assert [str(i) for i in refused(loaded, "customers", seats).issues] == [
        f"{seats}, line 2, column 'seats': got '99999999999999999999', expected {WHOLE}"]
    # the largest whole number that fits is fine
    fits = write_csv(tmp_path / "fits.csv", ["customer_id", "name", "started_at", "seats"],
                     [["C9", "Z", "2024-01-01", "9223372036854775807"]])
    loaded.ingest("customers", [fits])
    assert loaded.warehouse.sql.execute(
        "SELECT seats FROM customers WHERE customer_id = 'C9'").fetchone() == (2**63 - 1,)


def test_typed_json_values_and_timestamps_are_checked_too(loaded, tmp_path):
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps({"customer_id": "C1", "user_id": "u", "event": "login",
                                  "occurred_at": "2250-01-01T10:00:00"}) + "\n")
    issue = str(refused(loaded, "usage_events", events).issues[0])
    assert issue.startswith(f"{events}, line 1, column 'occurred_at': got '2250-01-01 10:00:00")
    assert issue.endswith(f"expected {WINDOW}")
    subs = tmp_path / "s.jsonl"
    subs.write_text(json.dumps({"subscription_id": "S9", "customer_id": "C1", "plan": "p",
                                "amount": 1, "billing_interval": "month",
                                "start_date": "2024-01-01", "quantity": 2.5}) + "\n")
    assert str(refused(loaded, "subscriptions", subs).issues[0]) == (
        f"{subs}, line 1, column 'quantity': got '2.5', expected {WHOLE}")


def test_the_date_window_is_configurable(tmp_path):
    folder = tmp_path / "ws"
    Workspace.init(folder, name="Window Co").close()
    config = folder / "csmetrics.toml"
    text = config.read_text()
    assert "# earliest_date = 1900-01-01" in text and "# latest_date = 2100-12-31" in text
    config.write_text(text.replace("# earliest_date = 1900-01-01", "earliest_date = 2020-01-01"))
    with Workspace.load(folder) as ws:
        early = write_csv(tmp_path / "early.csv", CUSTOMERS_HEADER[:3],
                          [["C1", "A", "2019-12-31"]])
        assert str(refused(ws, "customers", early).issues[0]) == (
            f"{early}, line 2, column 'started_at': got '2019-12-31', expected a date from "
            "2020-01-01 to 2100-12-31 (other dates are refused as implausible; [ingest] "
            "earliest_date and latest_date in csmetrics.toml set the window)")
        ok = write_csv(tmp_path / "ok.csv", CUSTOMERS_HEADER[:3], [["C1", "A", "2020-01-01"]])
        assert ws.ingest("customers", [ok]).inserted == 1
    config.write_text(text.replace("# earliest_date = 1900-01-01", "earliest_date = 1800-01-01"))
    with pytest.raises(ConfigError, match="ingest.earliest_date .* supported range "
                                          "1900-01-01..2100-12-31"):
        Workspace.load(folder)
    config.write_text(text.replace("[ingest]", "[ingest]\nearliest = 2020-01-01"))
    with pytest.raises(ConfigError, match="ingest.earliest: unknown key"):
        Workspace.load(folder)
