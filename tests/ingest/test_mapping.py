"""Mapping files translate a user's column names, value spellings and date formats."""

from __future__ import annotations

from datetime import date

import pytest

from csmetrics import ConfigError
from tests.conftest import write_csv

EXPORT_HEADER = ["Subscription", "Customer ID", "Plan Name", "MRR Amount", "Billing",
                 "Start", "End"]


def test_columns_values_and_formats_are_mapped(loaded, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text(
        '[columns]\n"Subscription" = "subscription_id"\n"Plan Name" = "plan"\n'
        '"MRR Amount" = "amount"\n"Billing" = "billing_interval"\n"Start" = "start_date"\n'
        '"End" = "end_date"\n'
        '[values.billing_interval]\nannual = "year"\nMonthly = "month"\n'
        '[formats]\ndate = "%d/%m/%Y"\n'
    )
    path = write_csv(tmp_path / "export.csv", EXPORT_HEADER, [
        ["S1", "C1", "pro", "1200", "annual", "05/01/2024", ""],
        ["S2", "C2", "basic", "50", "Monthly", "01/02/2024", "31/12/2024"],
    ])
    loaded.ingest("subscriptions", [path], mapping=mapping)
    got = loaded.warehouse.sql.execute(
        "SELECT subscription_id, customer_id, billing_interval, start_date, end_date "
        "FROM subscriptions ORDER BY 1").fetchall()
    assert got == [("S1", "C1", "year", date(2024, 1, 5), None),
                   ("S2", "C2", "month", date(2024, 2, 1), date(2024, 12, 31))]


def test_headers_match_leniently_without_a_mapping(ws, tmp_path):
    path = write_csv(tmp_path / "c.csv", ["Customer ID", "NAME", "started-at"],
                     [["C1", "A", "2024-01-01"]])
    assert ws.ingest("customers", [path]).inserted == 1


def test_mapping_to_an_unknown_column_is_refused_with_a_suggestion(loaded, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text('[columns]\n"Start" = "start_dat"\n')
    path = write_csv(tmp_path / "x.csv", ["subscription_id"], [["S1"]])
    with pytest.raises(ConfigError, match="not a column of 'subscriptions'.*'start_date'"):
        loaded.ingest("subscriptions", [path], mapping=mapping)


def test_mapping_with_an_unknown_section_is_refused(loaded, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text('[colums]\n"a" = "b"\n')
    path = write_csv(tmp_path / "x.csv", ["subscription_id"], [["S1"]])
    with pytest.raises(ConfigError, match="colums: unknown key"):
        loaded.ingest("subscriptions", [path], mapping=mapping)


def test_mapping_that_is_not_toml(loaded, tmp_path):
    mapping = tmp_path / "map.toml"
    mapping.write_text("[columns\n")
    path = write_csv(tmp_path / "x.csv", ["subscription_id"], [["S1"]])
    with pytest.raises(ConfigError, match="not valid TOML"):
        loaded.ingest("subscriptions", [path], mapping=mapping)
