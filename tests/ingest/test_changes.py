"""Every batch records the earliest day it can change, for incremental refresh."""

from __future__ import annotations

from datetime import date

from csmetrics import Workspace
from tests.conftest import CUSTOMERS_HEADER, CUSTOMERS_ROWS, write_csv

HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
          "end_date"]


def change(ws: Workspace, batch_id: int) -> tuple[date | None, bool]:
    """The batch's earliest day and whether it changes every day; without later facts (a
    ticket's answer, a lead's conversion) in the table, its earliest day beyond them is the
    same, and no row has only later facts changed."""
    earliest, everything, beyond, fact_days = recorded(ws, batch_id)
    assert beyond == earliest and fact_days is None
    return earliest, everything


def recorded(ws: Workspace, batch_id: int
             ) -> tuple[date | None, bool, date | None, list[date] | None]:
    """The batch's earliest day, whether it changes every day, its earliest day beyond later
    facts, and the days of the rows whose later facts alone changed."""
    rows = ws.warehouse.sql.execute(
        "SELECT earliest, everything, earliest_beyond_facts, fact_days FROM _batch_changes "
        "WHERE batch_id = ?", [batch_id]).fetchall()
    assert len(rows) == 1
    return rows[0]


def load(ws: Workspace, path, rows, **options) -> int:
    return ws.ingest("subscriptions", [write_csv(path, HEADER, rows)], **options).batch_id


def test_inserts_and_updates_record_the_earliest_day_they_touch(loaded, tmp_path):
    first = load(loaded, tmp_path / "a.csv", [
        ["S1", "C1", "pro", "100", "month", "2024-03-01", ""],
        ["S2", "C2", "basic", "50", "month", "2024-02-10", ""]])
    assert change(loaded, first) == (date(2024, 2, 10), False)
    # the same rows again change nothing
    same = load(loaded, tmp_path / "b.csv", [["S1", "C1", "pro", "100", "month", "2024-03-01",
                                              ""]])
    assert change(loaded, same) == (None, False)
    # only a date changes (S1 ends): from that date on
    ended = load(loaded, tmp_path / "c.csv", [["S1", "C1", "pro", "100", "month", "2024-03-01",
                                               "2024-09-30"]])
    assert change(loaded, ended) == (date(2024, 9, 30), False)
    # the end moves earlier: from the earlier of the old and new end
    moved = load(loaded, tmp_path / "d.csv", [["S1", "C1", "pro", "100", "month", "2024-03-01",
                                               "2024-07-31"]])
    assert change(loaded, moved) == (date(2024, 7, 31), False)
    # the amount changes: from the row's earliest date, and a new row from its own
    priced = load(loaded, tmp_path / "e.csv", [
        ["S1", "C1", "pro", "120", "month", "2024-03-01", "2024-07-31"],
        ["S3", "C3", "pro", "10", "month", "2024-05-01", ""]])
    assert change(loaded, priced) == (date(2024, 3, 1), False)


def test_a_ticket_answered_later_touches_the_day_it_was_opened(loaded, tmp_path):
    header = ["ticket_id", "customer_id", "opened_at", "first_response_at", "resolved_at",
              "agent"]

    def tickets(name: str, *rows: list[str]) -> int:
        return loaded.ingest("tickets", [write_csv(tmp_path / name, header, rows)]).batch_id

    opened = tickets("t1.csv", ["T1", "C1", "2024-03-31 23:00:00", "", "", "ann"],
                     ["T2", "C2", "2024-05-02 10:00:00", "", "", "bob"])
    assert recorded(loaded, opened) == (date(2024, 3, 31), False, date(2024, 3, 31), None)
    # the first response and resolution come in April; time to first response counts the
    # ticket in March, the month it was opened, time to resolution in April; beyond these
    # later facts, nothing changed, and the days of the answered ticket are recorded
    answered = tickets("t2.csv", ["T1", "C1", "2024-03-31 23:00:00", "2024-04-01 09:00:00",
                                  "2024-04-02 10:00:00", "ann"],
                       ["T2", "C2", "2024-05-02 10:00:00", "", "", "bob"])
    assert recorded(loaded, answered) == (date(2024, 3, 31), False, None, [
        date(2024, 3, 31), date(2024, 4, 1), date(2024, 4, 2)])
    # T1 resolved a day later: its days, old and new; T2 answered and handed to another agent
    # (a segment): beyond the facts, from its opening; a new ticket from its own
    moved = tickets("t3.csv", ["T1", "C1", "2024-03-31 23:00:00", "2024-04-01 09:00:00",
                               "2024-04-03 10:00:00", "ann"],
                    ["T2", "C2", "2024-05-02 10:00:00", "2024-05-02 11:00:00", "", "cy"],
                    ["T3", "C1", "2024-06-01 08:00:00", "", "", "ann"])
    assert recorded(loaded, moved) == (date(2024, 3, 31), False, date(2024, 5, 2), [
        date(2024, 3, 31), date(2024, 4, 1), date(2024, 4, 2), date(2024, 4, 3)])


def test_a_replace_or_a_changed_customer_attribute_touches_every_day(loaded, tmp_path):
    first = load(loaded, tmp_path / "a.csv", [["S1", "C1", "pro", "100", "month", "2024-03-01",
                                               ""]])
    assert change(loaded, first) == (date(2024, 3, 1), False)
    replaced = load(loaded, tmp_path / "b.csv", [["S1", "C1", "pro", "100", "month",
                                                  "2024-03-01", ""]], replace=True)
    assert change(loaded, replaced) == (None, True)
    rows = [list(r) for r in CUSTOMERS_ROWS]
    rows[0][4] = "EMEA"  # C1 moves region: a segment of all its history
    moved = loaded.ingest("customers", [write_csv(tmp_path / "c.csv", CUSTOMERS_HEADER, rows)])
    assert change(loaded, moved.batch_id) == (date(2024, 1, 5), True)
    rows[1][2] = "2024-01-20"  # C2 started earlier: only dates change
    earlier = loaded.ingest("customers", [write_csv(tmp_path / "d.csv", CUSTOMERS_HEADER, rows)])
    assert change(loaded, earlier.batch_id) == (date(2024, 1, 20), False)


def test_a_key_with_an_empty_optional_column_loads_once(ws, tmp_path):
    """A cost without a channel is the same cost when loaded again, not a second one."""
    path = write_csv(tmp_path / "costs.csv",
                     ["period_start", "period_end", "category", "amount", "channel"],
                     [["2024-01-01", "2024-01-31", "sales", "1000", ""],
                      ["2024-01-01", "2024-01-31", "marketing", "500", "ads"]])
    first = ws.ingest("costs", [path])
    again = ws.ingest("costs", [path])
    assert (first.inserted, again.inserted, again.unchanged) == (2, 0, 2)
    assert ws.warehouse.sql.execute("SELECT count(*) FROM costs").fetchall() == [(2,)]
    assert change(ws, again.batch_id) == (None, False)


def test_changes_recorded_by_an_earlier_version_count_beyond_later_facts(ws):
    """A workspace from before later facts were told apart, or before the days of the rows
    they touched were recorded: its batches keep their earliest day for every metric, and
    new batches record all three."""
    from csmetrics.store.migrations import upgrade

    sql = ws.warehouse.sql

    def made_by_an_older_csmetrics(columns: str, rows: str) -> None:
        sql.execute("DROP TABLE _schema_version")
        sql.execute("DROP TABLE _batch_changes")
        sql.execute(f"CREATE TABLE _batch_changes ({columns})")
        sql.execute(f"INSERT INTO _batch_changes VALUES {rows}")

    made_by_an_older_csmetrics(
        "batch_id BIGINT, table_name VARCHAR, earliest DATE, everything BOOLEAN",
        "(1, 'tickets', DATE '2024-03-31', false), (2, 'tickets', NULL, false)")
    upgrade(sql)
    # a batch that only answered tickets, recorded now: a later upgrade leaves it alone
    sql.execute("INSERT INTO _batch_changes VALUES (3, 'tickets', DATE '2024-03-31', false, "
                "NULL, [DATE '2024-03-31'])")
    upgrade(sql)
    rows = sql.execute("SELECT batch_id, earliest_beyond_facts, fact_days FROM _batch_changes "
                       "ORDER BY 1").fetchall()
    assert rows == [(1, date(2024, 3, 31), None), (2, None, None),
                    (3, None, [date(2024, 3, 31)])]
    # the version between: later facts told apart, without their days
    made_by_an_older_csmetrics(
        "batch_id BIGINT, table_name VARCHAR, earliest DATE, everything BOOLEAN, "
        "earliest_beyond_facts DATE", "(4, 'tickets', DATE '2024-03-31', false, NULL)")
    upgrade(sql)
    rows = sql.execute("SELECT batch_id, earliest_beyond_facts, fact_days FROM _batch_changes "
                       "").fetchall()
    assert rows == [(4, date(2024, 3, 31), None)]
