"""Mapping constants, per-column date formats, derived minutes, case-insensitive values,
errors grouped by the file's own value, and currencies refused at load without a rate."""

from __future__ import annotations

from datetime import datetime

import pytest

from csmetrics import ConfigError, ValidationError
from tests.conftest import snapshot, write_csv


def mapping(tmp_path, text: str):
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


def refused(ws, table, path, **kwargs) -> ValidationError:
    before = snapshot(ws)
    with pytest.raises(ValidationError) as info:
        ws.ingest(table, [path], **kwargs)
    assert snapshot(ws) == before
    return info.value


def test_a_constant_fills_a_required_column_on_every_row(loaded, tmp_path):
    path = write_csv(tmp_path / "nps.csv", ["id", "customer_id", "score", "responded_at"],
                     [["R1", "C1", "9", "2024-05-01"], ["R2", "C2", "3", "2024-05-02"]])
    loaded.ingest("survey_responses", [path], mapping=mapping(
        tmp_path, '[columns]\n"id" = "response_id"\n[constants]\nsurvey = "nps"\n'))
    got = loaded.warehouse.sql.execute(
        "SELECT response_id, survey, scale_max FROM survey_responses ORDER BY 1").fetchall()
    assert got == [("R1", "nps", 10), ("R2", "nps", 10)]


def test_a_constant_is_checked_like_a_cell(loaded, tmp_path):
    path = write_csv(tmp_path / "nps.csv", ["response_id", "customer_id", "score",
                                            "responded_at"], [["R1", "C1", "9", "2024-05-01"]])
    error = refused(loaded, "survey_responses", path,
                    mapping=mapping(tmp_path, '[constants]\nsurvey = "NPS survey"\n'))
    assert "column 'survey': got 'NPS survey', expected one of nps, csat" in str(error)


def test_a_constant_and_a_column_for_the_same_target_are_refused(loaded, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["response_id"], [["R1"]])
    with pytest.raises(ConfigError, match="'survey' is both in \\[columns\\] and in \\[constants"):
        loaded.ingest("survey_responses", [path], mapping=mapping(
            tmp_path, '[columns]\n"Kind" = "survey"\n[constants]\nsurvey = "nps"\n'))


def test_formats_per_file_column_win_over_the_formats_per_type(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "Created", "Solved"],
                     [["T1", "C1", "03/14/2024 09:05", "15.03.2024 10:30"]])
    loaded.ingest("tickets", [path], mapping=mapping(tmp_path, (
        '[columns]\n"Created" = "opened_at"\n"Solved" = "resolved_at"\n'
        '[formats]\ntimestamp = "%d.%m.%Y %H:%M"\n'
        '[formats.columns]\n"Created" = "%m/%d/%Y %H:%M"\n')))
    got = loaded.warehouse.sql.execute("SELECT opened_at, resolved_at FROM tickets").fetchall()
    assert got == [(datetime(2024, 3, 14, 9, 5), datetime(2024, 3, 15, 10, 30))]


def test_a_format_for_a_header_the_file_lacks_is_a_misspelling(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "Created"],
                     [["T1", "C1", "03/14/2024 09:05"]])
    error = refused(loaded, "tickets", path, mapping=mapping(tmp_path, (
        '[columns]\n"Created" = "opened_at"\n[formats.columns]\n"Creatd" = "%m/%d/%Y %H:%M"\n')))
    assert "'Creatd' that the mapping's [formats.columns] names" in str(error)
    assert "Did you mean 'Created'?" in str(error)


def test_derived_minutes_give_the_first_response_time(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "opened_at", "Reply min"],
                     [["T1", "C1", "2024-03-14 09:05:00", "95"], ["T2", "C1",
                                                                   "2024-03-14 10:00:00", ""]])
    loaded.ingest("tickets", [path], mapping=mapping(tmp_path, (
        '[derived.first_response_at]\nafter = "opened_at"\nminutes = "Reply min"\n')))
    got = loaded.warehouse.sql.execute(
        "SELECT ticket_id, first_response_at FROM tickets ORDER BY 1").fetchall()
    assert got == [("T1", datetime(2024, 3, 14, 10, 40)), ("T2", None)]


def test_derived_minutes_that_are_no_number_are_refused(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "opened_at", "Reply min"],
                     [["T1", "C1", "2024-03-14 09:05:00", "soon"]])
    error = refused(loaded, "tickets", path, mapping=mapping(tmp_path, (
        '[derived.first_response_at]\nafter = "opened_at"\nminutes = "Reply min"\n')))
    assert "line 2, column 'first_response_at': got 'soon', expected a number of minutes " \
           "(in 'Reply min')" in str(error)


def test_values_are_translated_ignoring_case(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", ["subscription_id", "customer_id", "plan", "amount",
                                          "billing_interval", "start_date"],
                     [["S1", "C1", "pro", "100", "ANNUAL", "2024-01-05"],
                      ["S2", "C2", "pro", "10", "Monthly", "2024-01-05"],
                      ["S3", "C3", "pro", "10", "Month", "2024-01-05"]])
    loaded.ingest("subscriptions", [path], mapping=mapping(
        tmp_path, '[values.billing_interval]\nannual = "year"\nmonthly = "month"\n'))
    got = loaded.warehouse.sql.execute(
        "SELECT billing_interval FROM subscriptions ORDER BY subscription_id").fetchall()
    assert got == [("year",), ("month",), ("month",)]


def test_one_value_translated_two_ways_by_case_is_refused(loaded, tmp_path):
    path = write_csv(tmp_path / "x.csv", ["subscription_id"], [["S1"]])
    with pytest.raises(ConfigError, match="translates 'Annual' twice, to 'year' and 'month'"):
        loaded.ingest("subscriptions", [path], mapping=mapping(
            tmp_path, '[values.billing_interval]\nannual = "year"\nAnnual = "month"\n'))


def test_errors_show_the_files_own_value_grouped_with_the_fix(loaded, tmp_path):
    rows = [["O1", "C1", "2024-02-01", "10", "paid"]]
    rows += [[f"O{n}", "C1", "2024-02-01", "10", "Cancelled"] for n in range(2, 47)]
    rows += [["O99", "C1", "2024-02-01", "10", "chargeback"]]
    path = write_csv(tmp_path / "orders.csv", ["order_id", "customer_id", "ordered_at",
                                               "amount", "status"], rows)
    error = refused(loaded, "orders", path, mapping=mapping(
        tmp_path, '[values.status]\nRefund = "refunded"\n'))
    assert error.total == 46 and len(error.issues) == 2
    text = str(error)
    # the file's own spelling (not the lower-cased one), lines 3, 4, 5 and 42 more
    assert ("orders.csv, lines 3, 4, 5 and 42 more, column 'status': got 'Cancelled', "
            "expected one of paid, refunded, failed; add [values.status] \"Cancelled\" = "
            "\"<one of paid, refunded, failed>\" to the --mapping file") in text
    assert "line 48, column 'status': got 'chargeback'" in text
    assert "... and" not in text


def test_the_fix_suggests_the_closest_allowed_value(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", ["subscription_id", "customer_id", "plan", "amount",
                                          "billing_interval", "start_date"],
                     [["S1", "C1", "pro", "100", "Quarterly", "2024-01-05"]])
    error = refused(loaded, "subscriptions", path)
    assert 'add [values.billing_interval] "Quarterly" = "quarter"' in str(error)


def test_canonical_values_match_ignoring_case(loaded, tmp_path):
    path = write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id", "opened_at", "priority"],
                     [["T1", "C1", "2024-03-14", "URGENT"], ["T2", "C1", "2024-03-14", "Low"]])
    loaded.ingest("tickets", [path])
    got = loaded.warehouse.sql.execute("SELECT priority FROM tickets ORDER BY 1").fetchall()
    assert got == [("low",), ("urgent",)]


SUBS = ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "currency"]


def test_a_currency_without_a_rate_is_refused_at_load(loaded, tmp_path):
    path = write_csv(tmp_path / "s.csv", SUBS, [
        ["S1", "C1", "pro", "100", "month", "2024-03-01", "usd"],
        ["S2", "C2", "pro", "90", "month", "2024-02-10", "eur"],
        ["S3", "C3", "pro", "90", "month", "2024-01-20", "EUR"]])
    error = refused(loaded, "subscriptions", path)
    text = str(error)
    assert "s.csv, column 'currency': got 'EUR'" in text
    assert "EUR is first used on 2024-01-20 (subscriptions.start_date)" in text
    assert "exchange_rates has no row for it" in text
    assert "Load exchange_rates first" in text


def test_a_rate_dated_after_the_first_use_is_not_enough(loaded, tmp_path):
    rates = write_csv(tmp_path / "r.csv", ["date", "currency", "rate_to_reporting"],
                      [["2024-02-01", "EUR", "1.1"]])
    loaded.ingest("exchange_rates", [rates])
    orders = write_csv(tmp_path / "o.csv", ["order_id", "customer_id", "ordered_at", "amount",
                                            "currency"],
                       [["O1", "C1", "2024-01-15 10:00", "50", "EUR"]])
    error = refused(loaded, "orders", orders)
    assert "EUR is first used on 2024-01-15 (orders.ordered_at) but its first rate is dated " \
           "2024-02-01" in str(error)
    early = write_csv(tmp_path / "r2.csv", ["date", "currency", "rate_to_reporting"],
                      [["2024-01-01", "EUR", "1.08"]])
    loaded.ingest("exchange_rates", [early])
    assert loaded.ingest("orders", [orders]).inserted == 1
    got = loaded.warehouse.sql.execute("SELECT currency FROM orders").fetchall()
    assert got == [("EUR",)]


def test_costs_in_another_currency_need_a_rate_too(loaded, tmp_path):
    path = write_csv(tmp_path / "c.csv", ["period_start", "period_end", "category", "amount",
                                          "currency"],
                     [["2024-01-01", "2024-01-31", "marketing", "500", "GBP"]])
    assert "GBP is first used on 2024-01-01 (costs.period_start)" in str(
        refused(loaded, "costs", path))


def test_multiply_turns_a_unit_price_into_the_price_of_all_units(loaded, tmp_path):
    # Stripe exports the price of one seat: 3 seats at 49.99 a month are 149.97; an empty
    # quantity counts as one unit
    path = write_csv(tmp_path / "subs.csv", ["id", "Customer ID", "Product", "Amount",
                                             "Quantity", "Interval", "Start"],
                     [["S1", "C1", "Team", "49.99", "3", "month", "2024-05-01"],
                      ["S2", "C2", "Solo", "10.00", "", "month", "2024-05-01"]])
    loaded.ingest("subscriptions", [path], mapping=mapping(tmp_path, (
        '[columns]\n"id" = "subscription_id"\n"Customer ID" = "customer_id"\n'
        '"Product" = "plan"\n"Amount" = "amount"\n"Quantity" = "quantity"\n'
        '"Interval" = "billing_interval"\n'
        '"Start" = "start_date"\n[multiply]\namount = "quantity"\n')))
    got = loaded.warehouse.sql.execute(
        "SELECT subscription_id, amount, quantity FROM subscriptions ORDER BY 1").fetchall()
    assert [(s, float(a), q) for s, a, q in got] == [("S1", 149.97, 3), ("S2", 10.0, None)]
    assert float(loaded.query("mrr", start="2024-05-01", end="2024-05-31").value.iloc[0]) == \
        pytest.approx(159.97)


def test_multiply_needs_two_number_columns(loaded, tmp_path):
    path = write_csv(tmp_path / "subs.csv", ["subscription_id"], [["S1"]])
    with pytest.raises(ConfigError, match=r"\[multiply\] amount = 'plan' needs two different "
                                          r"number columns of 'subscriptions': amount, "):
        loaded.ingest("subscriptions", [path],
                      mapping=mapping(tmp_path, '[multiply]\namount = "plan"\n'))
