"""Every kind of bad input is refused with an error that names the place, and loads nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from csmetrics import UserInputError, ValidationError, Workspace
from tests.conftest import snapshot, write_csv

SUBS_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
               "start_date", "end_date"]
GOOD_SUB = ["S1", "C1", "pro", "100", "month", "2024-01-05", ""]


def refused(ws: Workspace, table: str, path: Path, **kwargs: object) -> ValidationError:
    """Load ``path``, expect a ValidationError, and check the warehouse did not change."""
    before = snapshot(ws)
    with pytest.raises(ValidationError) as info:
        ws.ingest(table, [path], **kwargs)  # type: ignore[arg-type]
    assert snapshot(ws) == before
    return info.value


def only_issue(error: ValidationError) -> str:
    assert error.total == 1, str(error)
    return str(error.issues[0])


def test_missing_required_column_names_it_and_suggests_the_header(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", ["subscription_id", "customer", "plan", "amount",
                                          "billing_interval", "start_date"],
                     [["S1", "C1", "pro", "100", "month", "2024-01-05"]])
    message = only_issue(refused(loaded, "subscriptions", path))
    assert "s.csv" in message and "'customer_id'" in message
    assert "Did you mean 'customer'?" in message
    assert "--mapping" in message


def test_unparseable_date_names_file_line_column_value(loaded, tmp_path):
    rows = [GOOD_SUB, ["S2", "C2", "pro", "100", "month", "2024-02-30", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert message == (f"{tmp_path / 's.csv'}, line 3, column 'start_date': got '2024-02-30', "
                       "expected date (YYYY-MM-DD)")


def test_unparseable_number(loaded, tmp_path):
    rows = [["S1", "C1", "pro", "12,50 EUR", "month", "2024-01-05", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert "line 2, column 'amount': got '12,50 EUR', expected decimal amount" in message


def test_fractional_value_in_a_whole_number_column(ws, tmp_path):
    path = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "seats"],
                     [["C1", "A", "2024-01-01", "2.5"]])
    assert "expected whole number" in only_issue(refused(ws, "customers", path))


def test_value_outside_the_allowed_set_points_to_the_mapping(loaded, tmp_path):
    rows = [["S1", "C1", "pro", "100", "annually", "2024-01-05", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert "got 'annually', expected one of week, month, quarter, year" in message
    assert "[values.billing_interval]" in message


def test_allowed_values_ignore_case_and_spaces(loaded, tmp_path):
    rows = [["S1", "C1", "pro", "100", " Year ", "2024-01-05", ""]]
    loaded.ingest("subscriptions", [write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)])
    got = loaded.warehouse.sql.execute("SELECT billing_interval FROM subscriptions").fetchall()
    assert got == [("year",)]


def test_duplicate_key_inside_the_file(loaded, tmp_path):
    rows = [GOOD_SUB, ["S1", "C2", "basic", "50", "month", "2024-02-01", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert "line 3, column 'subscription_id': got 'S1'" in message
    assert "repeated" in message


def test_duplicate_key_across_files_of_one_batch(loaded, tmp_path):
    a = write_csv(tmp_path / "a.csv", SUBS_HEADER, [GOOD_SUB])
    b = write_csv(tmp_path / "b.csv", SUBS_HEADER, [GOOD_SUB])
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as info:
        loaded.ingest("subscriptions", [a, b])
    assert info.value.total == 1 and "b.csv" in str(info.value.issues[0])
    assert snapshot(loaded) == before


def test_orphan_is_an_error_by_default_and_kept_with_allow_orphans(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", SUBS_HEADER,
                     [GOOD_SUB, ["S2", "C404", "pro", "100", "month", "2024-01-05", ""]])
    message = only_issue(refused(loaded, "subscriptions", path))
    assert "got 'C404'" in message and "--allow-orphans" in message
    result = loaded.ingest("subscriptions", [path], allow_orphans=True)
    assert (result.inserted, result.orphans) == (2, 1)
    assert "1 kept without a known customer" in result.summary()


def test_negative_amount(loaded, tmp_path):
    rows = [["S1", "C1", "pro", "-10", "month", "2024-01-05", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert "got '-10', expected a value of at least 0" in message


def test_end_before_start(loaded, tmp_path):
    rows = [["S1", "C1", "pro", "10", "month", "2024-01-05", "2024-01-04"]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert ("column 'end_date': got '2024-01-04', expected end_date on or after start_date"
            in message)


def test_resolved_before_opened(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "opened_at", "resolved_at"],
                     [["T1", "C1", "2024-01-05 10:00", "2024-01-05 09:00"]])
    assert "resolved_at on or after opened_at" in only_issue(refused(loaded, "tickets", path))


def test_score_above_the_scale(loaded, tmp_path):
    path = write_csv(tmp_path / "r.csv",
                     ["response_id", "customer_id", "survey", "score", "responded_at"],
                     [["R1", "C1", "nps", "11", "2024-01-05"],
                      ["R2", "C1", "csat", "5", "2024-01-05"]])
    assert "column 'score': got '11'" in only_issue(refused(loaded, "survey_responses", path))


def test_required_value_missing(loaded, tmp_path):
    rows = [["S1", "C1", "", "100", "month", "2024-01-05", ""]]
    message = only_issue(refused(loaded, "subscriptions",
                                 write_csv(tmp_path / "s.csv", SUBS_HEADER, rows)))
    assert "column 'plan'" in message and "required" in message


def test_empty_file(loaded, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    before = snapshot(loaded)
    with pytest.raises(UserInputError, match="empty.csv: the file is empty"):
        loaded.ingest("customers", [path])
    assert snapshot(loaded) == before


def test_header_without_rows(loaded, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["customer_id", "name", "started_at"], [])
    with pytest.raises(UserInputError, match="has a header but no rows"):
        loaded.ingest("customers", [path])


def test_wrong_encoding_is_named_and_the_right_one_loads(ws, tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("customer_id,name,started_at\nC1,Café Dupré,2024-01-01\n".encode("latin-1"))
    before = snapshot(ws)
    with pytest.raises(UserInputError, match="not UTF-8.*--encoding latin-1"):
        ws.ingest("customers", [path])
    assert snapshot(ws) == before
    ws.ingest("customers", [path], encoding="latin-1")
    assert ws.warehouse.sql.execute("SELECT name FROM customers").fetchall() == [("Café Dupré",)]


def test_unknown_file_format(ws, tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(UserInputError, match="use .csv, .tsv, .parquet or .jsonl"):
        ws.ingest("customers", [path])


def test_unknown_table_suggests_the_closest(ws, customers_csv):
    with pytest.raises(UserInputError, match="Did you mean 'customers'"):
        ws.ingest("customer", [customers_csv])


def test_bad_rows_in_a_second_file_load_nothing_from_the_first(loaded, tmp_path):
    good = write_csv(tmp_path / "good.csv", SUBS_HEADER, [GOOD_SUB])
    bad = write_csv(tmp_path / "bad.csv", SUBS_HEADER,
                    [["S9", "C1", "pro", "x", "month", "2024-01-05", ""]])
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as refused_error:
        loaded.ingest("subscriptions", [good, bad])
    assert "bad.csv" in str(refused_error.value)
    assert snapshot(loaded) == before


def test_at_most_twenty_issues_shown_and_all_counted(loaded, tmp_path):
    rows = [[f"S{i}", "C1", "pro", f"-{i + 1}", "month", "2024-01-05", ""] for i in range(45)]
    error = refused(loaded, "subscriptions", write_csv(tmp_path / "s.csv", SUBS_HEADER, rows))
    assert error.total == 45 and len(error.issues) == 20
    assert "... and 25 more" in str(error)
    assert str(error).startswith("45 problems in the batch for table 'subscriptions'; nothing")


def test_a_value_repeated_on_many_rows_is_one_issue_naming_its_first_rows(loaded, tmp_path):
    rows = [[f"S{i}", "C1", "pro", "-1", "month", "2024-01-05", ""] for i in range(45)]
    error = refused(loaded, "subscriptions", write_csv(tmp_path / "s.csv", SUBS_HEADER, rows))
    assert error.total == 45 and len(error.issues) == 1
    issue = error.issues[0]
    assert (issue.row, issue.rows, issue.count, issue.value) == (2, (2, 3, 4), 45, "-1")
    assert "s.csv, lines 2, 3, 4 and 42 more, column 'amount': got '-1'" in str(error)
    assert "more\n" not in str(error) and "... and" not in str(error)


def test_every_problem_of_a_messy_file_is_reported_in_file_order(loaded, tmp_path):
    rows = [
        ["S1", "C1", "pro", "abc", "month", "2024-01-05", ""],
        ["S2", "C9", "pro", "10", "fortnight", "2024-01-05", ""],
        ["S3", "C1", "pro", "10", "month", "2024-01-05", "2023-01-01"],
    ]
    error = refused(loaded, "subscriptions", write_csv(tmp_path / "s.csv", SUBS_HEADER, rows))
    assert error.total == 4
    assert [(i.row, i.column) for i in error.issues] == [
        (2, "amount"), (3, "billing_interval"), (3, "customer_id"), (4, "end_date")]
