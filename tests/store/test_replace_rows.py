"""``replace_rows``: one transaction that swaps a table's matching rows for a frame's."""

from __future__ import annotations

from datetime import date

import duckdb
import pandas as pd
import pytest

from csmetrics.store.sql import replace_rows, transaction

D1, D2 = date(2024, 1, 31), date(2024, 2, 29)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """A table of scores per date with two dates stored."""
    con = duckdb.connect()
    con.execute("CREATE TABLE scores (as_of DATE, customer_id VARCHAR, score DOUBLE, "
                "PRIMARY KEY (as_of, customer_id))")
    con.execute("CREATE TABLE runs (as_of DATE, accounts BIGINT)")
    con.execute("INSERT INTO scores VALUES (?, 'C1', 10), (?, 'C2', 20), (?, 'C1', 30)",
                [D1, D1, D2])
    con.execute("INSERT INTO runs VALUES (?, 2), (?, 1)", [D1, D2])
    return con


def rows(con: duckdb.DuckDBPyConnection, table: str = "scores") -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_replaces_only_the_matching_rows(con):
    new = pd.DataFrame({"as_of": [D1], "customer_id": ["C3"], "score": [99.0]})
    assert replace_rows(con, "scores", new, {"as_of": D1}) == 2
    assert rows(con) == [(D1, "C3", 99.0), (D2, "C1", 30.0)]


def test_without_a_condition_replaces_every_row(con):
    new = pd.DataFrame({"as_of": [D2], "customer_id": ["C9"], "score": [1.0]})
    assert replace_rows(con, "scores", new) == 3
    assert rows(con) == [(D2, "C9", 1.0)]


def test_columns_go_by_name_and_missing_ones_are_empty(con):
    new = pd.DataFrame({"customer_id": ["C5"], "as_of": [D1]})
    replace_rows(con, "scores", new, {"as_of": D1})
    assert rows(con) == [(D1, "C5", None), (D2, "C1", 30.0)]


def test_an_empty_frame_deletes_the_matching_rows(con):
    replace_rows(con, "runs", pd.DataFrame(columns=["as_of", "accounts"]), {"as_of": D2})
    assert rows(con, "runs") == [(D1, 2)]


def test_a_null_condition_matches_null(con):
    con.execute("INSERT INTO runs VALUES (NULL, 5)")
    replace_rows(con, "runs", pd.DataFrame({"accounts": [6]}), {"as_of": None})
    assert rows(con, "runs") == [(D1, 2), (D2, 1), (None, 6)]


def test_values_travel_as_parameters(con):
    replace_rows(con, "scores", pd.DataFrame({"as_of": [D1], "customer_id": ["O'Brien"]}),
                 {"customer_id": "C1' OR 1=1 --"})
    assert rows(con) == [(D1, "C1", 10.0), (D1, "C2", 20.0), (D1, "O'Brien", None),
                         (D2, "C1", 30.0)]


def test_a_frame_with_a_wrong_column_changes_nothing(con):
    before = rows(con)
    wrong = pd.DataFrame({"as_of": [D1], "customer": ["C3"]})
    with pytest.raises(ValueError, match="no column 'customer'"):
        replace_rows(con, "scores", wrong, {"as_of": D1})
    assert rows(con) == before


def test_names_are_checked_against_the_catalog(con):
    frame = pd.DataFrame({"as_of": [D1]})
    with pytest.raises(ValueError, match="no table 'scores; DROP TABLE runs'"):
        replace_rows(con, "scores; DROP TABLE runs", frame)
    with pytest.raises(ValueError, match="no column 'as_of = as_of OR true'"):
        replace_rows(con, "scores", frame, {"as_of = as_of OR true": 1})
    assert len(rows(con, "runs")) == 2


def test_a_failing_insert_leaves_the_old_rows_in_place(con):
    """The delete has run when the insert fails (a duplicate key): it is rolled back."""
    before = rows(con)
    duplicate = pd.DataFrame({"as_of": [D1, D1], "customer_id": ["C1", "C1"],
                              "score": [1.0, 2.0]})
    with pytest.raises(duckdb.ConstraintException):
        replace_rows(con, "scores", duplicate, {"as_of": D1})
    assert rows(con) == before
    not_a_date = pd.DataFrame({"as_of": ["someday"], "customer_id": ["C1"]})
    with pytest.raises(duckdb.ConversionException):
        replace_rows(con, "scores", not_a_date, {"as_of": D1})
    assert rows(con) == before
    # the connection is usable afterwards (no transaction left open)
    replace_rows(con, "runs", pd.DataFrame({"as_of": [D1], "accounts": [3]}), {"as_of": D1})
    assert rows(con, "runs") == [(D1, 3), (D2, 1)]


def test_several_replacements_in_one_transaction_are_all_or_nothing(con):
    before, runs_before = rows(con), rows(con, "runs")
    with pytest.raises(duckdb.ConversionException), transaction(con):
        replace_rows(con, "runs", pd.DataFrame({"as_of": [D1], "accounts": [9]}),
                     {"as_of": D1})
        replace_rows(con, "scores", pd.DataFrame({"as_of": ["never"]}), {"as_of": D1})
    assert rows(con) == before
    assert rows(con, "runs") == runs_before
    with transaction(con):
        replace_rows(con, "runs", pd.DataFrame({"as_of": [D1], "accounts": [1]}),
                     {"as_of": D1})
        replace_rows(con, "scores", pd.DataFrame({"as_of": [D1], "customer_id": ["C1"]}),
                     {"as_of": D1})
    assert rows(con, "runs") == [(D1, 1), (D2, 1)]
    assert rows(con) == [(D1, "C1", None), (D2, "C1", 30.0)]
