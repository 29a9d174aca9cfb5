"""The demo company: deterministic, canonical, valid, and shaped like a real SaaS business.

Most checks run DuckDB queries on the files of one small company (600 customers, 18 months);
the statistical checks compare churners with retained customers in the same months.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from csmetrics.clock import ENV_VAR as CLOCK_VAR
from csmetrics.clock import FixedClock
from csmetrics.demo import LOAD_ORDER, write_company
from csmetrics.demo.generator import (
    ARROW_TYPES,
    CHUNK_CUSTOMERS,
    INTERVAL_PRICE_MONTHS,
    INTERVALS,
    PLANS,
    SEAT_PRICE,
    default_end,
    event_density,
)
from csmetrics.errors import UserInputError
from csmetrics.schema import TABLES, DType
from csmetrics.schema.tables import DEFAULT_SCALE_MAX

END = date(2025, 6, 30)
MONTHS = 18
WINDOW_START = date(2024, 1, 1)  # 18 whole months before END
CUSTOMERS = 600

Db = duckdb.DuckDBPyConnection


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The files of one small company."""
    return write_company(tmp_path_factory.mktemp("demo"), customers=CUSTOMERS, months=MONTHS,
                         seed=11, end=END)


@pytest.fixture(scope="module")
def db(company: dict[str, list[Path]]) -> Db:
    """DuckDB with one table per canonical table, read from the company's files."""
    con = duckdb.connect()
    for name, paths in company.items():
        con.read_parquet([str(p) for p in paths]).create(name)
    return con


def one(db: Db, sql: str, params: list[object] | None = None) -> object:
    """The single value a query returns."""
    row = db.execute(sql, params or []).fetchone()
    assert row is not None
    return row[0]


def column(db: Db, sql: str) -> list[object]:
    """The first column of a query's rows."""
    return [row[0] for row in db.execute(sql).fetchall()]


# ----------------------------------------------------------------------------------------------
# Arguments, files and formats
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_arguments_give_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    first = write_company(tmp_path / "a", customers=120, months=6, seed=3, end=END, fmt=fmt)
    second = write_company(tmp_path / "b", customers=120, months=6, seed=3, end=END, fmt=fmt)
    names = [[p.name for p in paths] for paths in first.values()]
    assert names == [[p.name for p in paths] for paths in second.values()]
    for table in LOAD_ORDER:
        for a, b in zip(first[table], second[table], strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name


def test_another_seed_gives_another_company(tmp_path: Path) -> None:
    first = write_company(tmp_path / "a", customers=120, months=6, seed=3, end=END)
    other = write_company(tmp_path / "b", customers=120, months=6, seed=4, end=END)
    same = [t for t in LOAD_ORDER if first[t][0].read_bytes() == other[t][0].read_bytes()]
    assert same == []


def test_end_defaults_to_the_last_day_of_the_previous_month(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CLOCK_VAR, "2027-03-10T08:00:00Z")
    files = write_company(tmp_path, customers=30, months=2)
    last = one(duckdb.connect(), "SELECT max(date) FROM read_parquet(?)",
               [str(files["traffic"][0])])
    assert last == date(2027, 2, 28)
    # the month turns at midnight UTC; a leap year's February ends on the 29th
    assert default_end(FixedClock(datetime(2028, 3, 1, 0, 30, tzinfo=UTC))) == date(2028, 2, 29)
    assert default_end(FixedClock(datetime(2028, 2, 29, 23, 59, tzinfo=UTC))) == date(2028, 1, 31)


@pytest.mark.parametrize("arguments", [{"customers": 0}, {"months": 0}, {"fmt": "xlsx"},
                                       {"customers": 2.5}, {"seed": -1}])
def test_impossible_arguments_are_refused(tmp_path: Path, arguments: dict[str, object]) -> None:
    with pytest.raises(UserInputError):
        write_company(tmp_path, **arguments)  # type: ignore[arg-type]


def test_tables_come_in_load_order(company: dict[str, list[Path]]) -> None:
    assert list(company) == list(LOAD_ORDER)
    assert set(LOAD_ORDER) == set(TABLES)
    assert LOAD_ORDER[:2] == ("customers", "exchange_rates")
    assert all(path.is_file() for paths in company.values() for path in paths)
    assert [p.name for p in company["usage_events"]] == ["usage_events-000.parquet"]
    assert [p.name for p in company["tickets"]] == ["tickets.parquet"]


def test_every_file_has_exactly_the_canonical_columns_and_types(
        company: dict[str, list[Path]]) -> None:
    for table, paths in company.items():
        for path in paths:
            schema = pq.read_schema(path)
            assert schema.names == TABLES[table].column_names, path.name
            for field, col in zip(schema, TABLES[table].columns, strict=True):
                if col.dtype is DType.TIMESTAMP:  # Parquet stores seconds as milliseconds
                    assert pa.types.is_timestamp(field.type) and field.type.tz is None
                else:
                    assert field.type == ARROW_TYPES[col.dtype], (table, col.name)


#: What a non-empty CSV field of each type looks like.
CSV_PATTERNS = {
    DType.DATE: r"\d{4}-\d{2}-\d{2}",
    DType.TIMESTAMP: r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
    DType.MONEY: r"\d+(\.\d{1,2})?",
    DType.INTEGER: r"\d+",
    DType.NUMBER: r"\d+(\.\d+)?",
    DType.STRING: r".+",
}


def test_csv_files_are_plain_text_in_the_canonical_formats(tmp_path: Path) -> None:
    files = write_company(tmp_path, customers=80, months=4, seed=5, end=END, fmt="csv")
    for table, paths in files.items():
        columns = TABLES[table].columns
        for path in paths:
            with path.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                assert next(reader) == TABLES[table].column_names
                for row in reader:
                    for value, col in zip(row, columns, strict=True):
                        assert value == "" or re.fullmatch(CSV_PATTERNS[col.dtype], value), (
                            table, col.name, value)


def test_csv_and_parquet_hold_the_same_rows(tmp_path: Path) -> None:
    parquet = write_company(tmp_path / "p", customers=80, months=4, seed=5, end=END)
    text = write_company(tmp_path / "c", customers=80, months=4, seed=5, end=END, fmt="csv")
    for table in LOAD_ORDER:
        schema = pq.read_schema(parquet[table][0])
        # only empty fields are missing: "NA" is North America, not "not available"
        options = pacsv.ConvertOptions(column_types=schema, null_values=[""],
                                       strings_can_be_null=True)
        expected = pa.concat_tables(pq.read_table(p) for p in parquet[table])
        got = pa.concat_tables(pacsv.read_csv(p, convert_options=options) for p in text[table])
        assert got.equals(expected), table


# ----------------------------------------------------------------------------------------------
# The rules every canonical table obeys
# ----------------------------------------------------------------------------------------------


def test_every_table_has_rows(db: Db) -> None:
    empty = [name for name in TABLES if one(db, f"SELECT count(*) FROM {name}") == 0]
    assert empty == []


def test_natural_keys_are_unique(db: Db) -> None:
    for name, table in TABLES.items():
        key = ", ".join(table.key)
        duplicated = one(db, f"SELECT count(*) FROM (SELECT {key} FROM {name} "
                             "GROUP BY ALL HAVING count(*) > 1)")
        assert duplicated == 0, name


def test_required_columns_are_filled(db: Db) -> None:
    for name, table in TABLES.items():
        for col in table.required:
            assert one(db, f"SELECT count(*) FROM {name} WHERE {col} IS NULL") == 0, (name, col)


def test_customer_references_point_to_existing_customers(db: Db) -> None:
    for name, table in TABLES.items():
        for col in table.columns:
            if col.references_customer:
                orphans = one(db, f"SELECT count(*) FROM {name} WHERE {col.name} IS NOT NULL "
                                  f"AND {col.name} NOT IN (SELECT customer_id FROM customers)")
                assert orphans == 0, (name, col.name)


def test_values_are_allowed_and_not_below_their_minimum(db: Db) -> None:
    for name, table in TABLES.items():
        for col in table.columns:
            if col.allowed:
                found = set(column(db, f"SELECT DISTINCT {col.name} FROM {name} "
                                       f"WHERE {col.name} IS NOT NULL"))
                assert found <= set(col.allowed), (name, col.name, found - set(col.allowed))
            if col.minimum is not None:
                below = one(db, f"SELECT count(*) FROM {name} WHERE {col.name} < ?",
                            [col.minimum])
                assert below == 0, (name, col.name)


def test_declared_orderings_hold(db: Db) -> None:
    for name, table in TABLES.items():
        for rule in table.orderings:
            broken = one(db, f"SELECT count(*) FROM {name} WHERE {rule.later} < {rule.earlier}")
            assert broken == 0, (name, rule)


def test_times_follow_each_other_within_rows(db: Db) -> None:
    assert one(db, "SELECT count(*) FROM tickets WHERE resolved_at < first_response_at") == 0
    assert one(db, "SELECT count(*) FROM tickets WHERE resolved_at IS NOT NULL "
                   "AND first_response_at IS NULL") == 0
    assert one(db, "SELECT count(*) FROM subscriptions WHERE end_date <= start_date") == 0
    assert one(db, "SELECT count(*) FROM subscriptions WHERE canceled_at < start_date "
                   "OR canceled_at > end_date OR past_due_since < start_date "
                   "OR past_due_since >= end_date") == 0


def test_money_has_at_most_two_decimals(db: Db) -> None:
    for name, table in TABLES.items():
        for col in table.columns:
            if col.dtype is DType.MONEY:
                kind = one(db, f"SELECT typeof({col.name}) FROM {name} LIMIT 1")
                assert kind == "DECIMAL(18,2)", (name, col.name)


def test_survey_scores_are_whole_numbers_on_their_scale(db: Db) -> None:
    lowest = {"nps": 0, "check_in": 0}
    rows = db.execute("SELECT survey, min(score), max(score), min(scale_max), max(scale_max), "
                      "bool_and(score = round(score)) FROM survey_responses GROUP BY 1").fetchall()
    assert {r[0] for r in rows} == set(DEFAULT_SCALE_MAX)
    for survey, low, high, scale_low, scale_high, whole in rows:
        assert scale_low == scale_high == DEFAULT_SCALE_MAX[survey]
        assert lowest.get(survey, 1) <= low and high <= scale_high and whole, survey


def test_everything_happens_inside_the_window(db: Db) -> None:
    start, last = datetime(2024, 1, 1), datetime(2025, 6, 30, 23, 59, 59)
    for table, col in [("orders", "ordered_at"), ("tickets", "opened_at"),
                       ("tickets", "resolved_at"), ("survey_responses", "responded_at"),
                       ("usage_events", "occurred_at"), ("activities", "occurred_at"),
                       ("feedback", "submitted_at")]:
        low, high = db.execute(f"SELECT min({col}), max({col}) FROM {table}").fetchone()
        assert start <= low and high <= last, (table, col, low, high)
    assert one(db, "SELECT max(started_at) FROM customers") <= END
    assert one(db, "SELECT max(converted_at) FROM leads") <= last
    assert one(db, "SELECT max(canceled_at) FROM subscriptions") <= END
    # only a cancelled renewal still to come ends after the data's end
    assert one(db, "SELECT count(*) FROM subscriptions WHERE end_date > ? "
                   "AND canceled_at IS NULL", [END]) == 0
    assert column(db, "SELECT DISTINCT period_start FROM costs ORDER BY 1")[0] == WINDOW_START


# ----------------------------------------------------------------------------------------------
# Revenue structure
# ----------------------------------------------------------------------------------------------

MONTH_END_MRR = """
CREATE OR REPLACE TABLE mrr AS
WITH month_ends AS (
    SELECT CAST(last_day(d) AS DATE) AS month_end
    FROM range(DATE '2023-12-01', DATE '2025-07-01', INTERVAL 1 MONTH) t(d)
), lines AS (
    SELECT customer_id, start_date, end_date,
           (amount - coalesce(discount, 0))
           / CASE billing_interval WHEN 'month' THEN 1 WHEN 'quarter' THEN 3 ELSE 12 END AS monthly
    FROM subscriptions
)
SELECT m.month_end, c.customer_id, coalesce(sum(l.monthly), 0) AS mrr
FROM month_ends m CROSS JOIN customers c
LEFT JOIN lines l ON l.customer_id = c.customer_id AND l.start_date <= m.month_end
    AND (l.end_date IS NULL OR l.end_date > m.month_end)
GROUP BY ALL
"""

MOVEMENTS = """
WITH first_paid AS (
    SELECT customer_id, min(start_date) AS first_paid FROM subscriptions
    WHERE amount > 0 GROUP BY 1
), steps AS (
    SELECT month_end, customer_id, mrr,
           lag(mrr) OVER (PARTITION BY customer_id ORDER BY month_end) AS before,
           lag(month_end) OVER (PARTITION BY customer_id ORDER BY month_end) AS previous_end
    FROM mrr
)
SELECT CASE
         WHEN before = 0 AND mrr > 0 AND first_paid > previous_end THEN 'new'
         WHEN before = 0 AND mrr > 0 THEN 'reactivation'
         WHEN before > 0 AND mrr = 0 THEN 'churned'
         WHEN mrr > before THEN 'expansion'
         WHEN mrr < before THEN 'contraction'
       END AS movement, count(*) AS customers, sum(abs(mrr - before)) AS amount
FROM steps LEFT JOIN first_paid USING (customer_id)
WHERE before IS NOT NULL AND mrr <> before
GROUP BY 1
"""


def test_every_mrr_movement_occurs(db: Db) -> None:
    db.execute(MONTH_END_MRR)
    movements = {kind: n for kind, n, _amount in db.execute(MOVEMENTS).fetchall()}
    assert set(movements) == {"new", "expansion", "contraction", "churned", "reactivation"}
    assert min(movements.values()) >= 5, movements


def test_revenue_grows_with_plausible_churn(db: Db) -> None:
    db.execute(MONTH_END_MRR)
    first, last = db.execute(
        "SELECT sum(mrr) FILTER (WHERE month_end = DATE '2023-12-31'), "
        "sum(mrr) FILTER (WHERE month_end = DATE '2025-06-30') FROM mrr").fetchone()
    assert 1.05 < last / first < 3
    monthly_churn = one(db, """
        WITH steps AS (SELECT mrr, lag(mrr) OVER (PARTITION BY customer_id ORDER BY month_end)
                       AS before FROM mrr)
        SELECT count(*) FILTER (WHERE before > 0 AND mrr = 0) / count(*) FILTER (WHERE before > 0)
        FROM steps""")
    assert 0.005 < monthly_churn < 0.05


def test_plan_and_seat_changes_start_a_new_row_the_day_the_old_one_ends(db: Db) -> None:
    rank = " ".join(f"WHEN '{plan}' THEN {i}" for i, plan in enumerate(PLANS))
    changes = db.execute(f"""
        WITH s AS (
            SELECT customer_id, start_date, CASE plan {rank} END AS plan_rank, quantity,
                   lag(end_date) OVER w AS previous_end,
                   lag(CASE plan {rank} END) OVER w AS previous_rank,
                   lag(quantity) OVER w AS previous_quantity
            FROM subscriptions WINDOW w AS (PARTITION BY customer_id ORDER BY start_date))
        SELECT count(*) FILTER (WHERE plan_rank > previous_rank),
               count(*) FILTER (WHERE plan_rank < previous_rank),
               count(*) FILTER (WHERE plan_rank = previous_rank AND quantity > previous_quantity),
               count(*) FILTER (WHERE plan_rank = previous_rank AND quantity < previous_quantity)
        FROM s WHERE start_date = previous_end""").fetchone()
    upgrades, downgrades, more_seats, fewer_seats = changes
    assert upgrades >= 5 and downgrades >= 2 and more_seats >= 20 and fewer_seats >= 5, changes


def test_reactivations_come_back_after_a_gap_of_months(db: Db) -> None:
    returns, short_gaps = db.execute("""
        WITH s AS (SELECT start_date, lag(end_date) OVER (PARTITION BY customer_id
                   ORDER BY start_date) AS previous_end FROM subscriptions)
        SELECT count(*) FILTER (WHERE start_date >= previous_end + 45),
               count(*) FILTER (WHERE start_date > previous_end AND start_date < previous_end + 45)
        FROM s""").fetchone()
    assert returns >= 5 and short_gaps == 0


def test_some_customers_cancel_within_weeks(db: Db) -> None:
    quick = one(db, """
        SELECT count(*) FROM customers c
        WHERE c.started_at >= DATE '2024-01-01'
          AND (SELECT max(coalesce(end_date, DATE '9999-12-31')) FROM subscriptions s
               WHERE s.customer_id = c.customer_id) <= c.started_at + 46""")
    assert quick >= 3


def test_prices_follow_the_price_list(db: Db) -> None:
    rows = db.execute("SELECT plan, billing_interval, currency, amount, quantity, discount "
                      "FROM subscriptions").fetchall()
    for plan, interval, currency, amount, seats, discount in rows:
        per_seat = SEAT_PRICE[("USD", "EUR").index(currency), PLANS.index(plan)]
        expected = round(per_seat * seats * INTERVAL_PRICE_MONTHS[INTERVALS.index(interval)], 2)
        assert abs(float(amount) - expected) < 0.006, (plan, interval, amount, seats)
        assert discount is None or 0 < discount < amount
    intervals = set(column(db, "SELECT DISTINCT billing_interval FROM subscriptions"))
    assert intervals == {"month", "quarter", "year"}
    assert one(db, "SELECT count(*) FROM subscriptions WHERE discount IS NOT NULL") >= 10
    assert one(db, "SELECT count(*) FROM subscriptions WHERE amount = 0") >= 1  # free plans


def test_cancellations_give_notice_and_failed_payments_lapse(db: Db) -> None:
    notice = dict(db.execute("SELECT billing_interval, avg(end_date - canceled_at) "
                             "FROM subscriptions WHERE canceled_at IS NOT NULL GROUP BY 1")
                  .fetchall())
    assert notice["month"] < notice["year"]
    assert one(db, "SELECT count(*) FROM subscriptions WHERE past_due_since IS NOT NULL "
                   "AND end_date IS NOT NULL AND canceled_at IS NULL") >= 5
    assert one(db, "SELECT count(*) FROM subscriptions WHERE canceled_at IS NOT NULL "
                   "AND end_date IS NULL") == 0


def test_two_currencies_with_daily_rates_for_the_foreign_one(db: Db) -> None:
    currencies = set(column(db, "SELECT DISTINCT currency FROM subscriptions"))
    assert currencies == {"USD", "EUR"}
    assert set(column(db, "SELECT DISTINCT c.region FROM subscriptions s JOIN customers c "
                          "USING (customer_id) WHERE s.currency = 'EUR'")) == {"EMEA"}
    assert one(db, "SELECT count(*) FROM subscriptions s JOIN customers c USING (customer_id) "
                   "WHERE s.currency <> c.currency") == 0
    assert set(column(db, "SELECT DISTINCT currency FROM exchange_rates")) == {"EUR"}
    first, last, days, low, high = db.execute(
        "SELECT min(date), max(date), count(*), min(rate_to_reporting), max(rate_to_reporting) "
        "FROM exchange_rates").fetchone()
    assert first <= one(db, "SELECT min(start_date) FROM subscriptions") and last == END
    assert days == (last - first).days + 1
    assert 1.03 < low < high < 1.17 and high - low > 0.03


# ----------------------------------------------------------------------------------------------
# Customers, acquisition and costs
# ----------------------------------------------------------------------------------------------


def test_customers_span_the_segments(db: Db) -> None:
    def distinct(col: str) -> set[object]:
        return set(column(db, f"SELECT DISTINCT {col} FROM customers"))

    assert len(distinct("plan") - {"free"}) >= 3
    assert distinct("region") == {"NA", "EMEA", "APAC", "LATAM"}
    assert distinct("size_tier") == {"smb", "mid_market", "enterprise"}
    assert distinct("acquisition_channel") == {"organic", "paid_search", "outbound", "partner",
                                               "referral", "events"}
    assert 6 <= len(distinct("owner")) <= 10
    assert len(distinct("country")) >= 10 and len(distinct("industry")) >= 8
    seats = dict(db.execute("SELECT size_tier, median(seats) FROM customers GROUP BY 1")
                 .fetchall())
    assert seats["smb"] < seats["mid_market"] < seats["enterprise"]
    assert one(db, "SELECT count(DISTINCT name) FROM customers") == CUSTOMERS


def test_referrals_point_to_customers_who_started_earlier(db: Db) -> None:
    referred, with_referrer, too_late = db.execute("""
        SELECT count(*) FILTER (WHERE c.acquisition_channel = 'referral'),
               count(c.referred_by),
               count(*) FILTER (WHERE r.started_at > c.started_at - 30)
        FROM customers c LEFT JOIN customers r ON r.customer_id = c.referred_by""").fetchone()
    assert referred >= 20 and with_referrer == referred and too_late == 0


def test_leads_convert_into_customers_on_their_start_day(db: Db) -> None:
    assert one(db, "SELECT count(*) FROM leads WHERE (customer_id IS NULL) "
                   "<> (converted_at IS NULL)") == 0
    mismatched = one(db, "SELECT count(*) FROM leads l JOIN customers c USING (customer_id) "
                         "WHERE CAST(l.converted_at AS DATE) <> c.started_at "
                         "OR l.channel <> c.acquisition_channel")
    assert mismatched == 0
    new_customers = one(db, "SELECT count(*) FROM customers WHERE started_at >= ?",
                        [WINDOW_START])
    assert one(db, "SELECT count(DISTINCT customer_id) FROM leads") == new_customers
    rates = column(db, "SELECT count(converted_at) / count(*) FROM leads GROUP BY channel")
    assert len(rates) == 6 and max(rates) > 3 * min(rates)
    assert one(db, "SELECT count(*) FROM leads WHERE referred_by IS NOT NULL "
                   "AND customer_id IS NULL") > 0


def test_signups_are_seasonal(tmp_path: Path) -> None:
    files = write_company(tmp_path, customers=3000, months=36, seed=5, end=END)
    per_month = dict(duckdb.connect().execute(
        "SELECT month(started_at), count(*) FROM read_parquet(?) WHERE started_at >= ? "
        "GROUP BY 1", [str(files["customers"][0]), date(2022, 7, 1)]).fetchall())
    busy = sum(per_month[m] for m in (1, 2, 3, 9))
    quiet = sum(per_month[m] for m in (6, 7, 8, 12))
    assert busy > 1.3 * quiet


def test_traffic_covers_every_day_and_channel(db: Db) -> None:
    days = (END - WINDOW_START).days + 1
    assert one(db, "SELECT count(*) FROM traffic") == 6 * days
    assert set(column(db, "SELECT DISTINCT channel FROM traffic")) == set(
        column(db, "SELECT DISTINCT acquisition_channel FROM customers"))


def test_costs_give_a_cac_per_channel(db: Db) -> None:
    per_month = set(db.execute("SELECT category, count(*) FROM costs GROUP BY 1").fetchall())
    assert per_month == {("sales", 6 * MONTHS), ("marketing", 6 * MONTHS),
                         ("customer_success", MONTHS), ("support", MONTHS),
                         ("retention_discount", MONTHS), ("cost_of_revenue", MONTHS)}
    cac = column(db, """
        SELECT spend / won FROM
          (SELECT channel, sum(amount) AS spend FROM costs
           WHERE category IN ('sales', 'marketing') GROUP BY 1) s
        JOIN (SELECT acquisition_channel AS channel, count(*) AS won FROM customers
              WHERE started_at >= DATE '2024-01-01' GROUP BY 1) w USING (channel)""")
    assert len(cac) == 6 and all(c > 0 for c in cac) and max(cac) > 3 * min(cac)


# ----------------------------------------------------------------------------------------------
# Support, surveys, CSM work, feedback
# ----------------------------------------------------------------------------------------------


def test_tickets_look_like_a_support_desk(db: Db) -> None:
    agents = dict(db.execute("SELECT agent, avg(CAST(contacts = 1 AS INT)) FROM tickets "
                             "WHERE resolved_at IS NOT NULL GROUP BY 1").fetchall())
    assert 8 <= len(agents) <= 12 and max(agents.values()) - min(agents.values()) > 0.1
    first_contact = one(db, "SELECT avg(CAST(contacts = 1 AS INT)) FROM tickets")
    assert 0.65 <= first_contact <= 0.75
    assert set(column(db, "SELECT DISTINCT category FROM tickets")) == {
        "billing", "bug", "how_to", "integration", "performance", "account"}
    response, resolution = db.execute(
        "SELECT median(epoch(first_response_at - opened_at)) / 3600, "
        "median(epoch(resolved_at - opened_at)) / 3600 FROM tickets").fetchone()
    assert 0.2 < response < 12 and 2 < resolution < 72
    open_tickets, recent = db.execute(
        "SELECT count(*), median(opened_at) FROM tickets WHERE resolved_at IS NULL").fetchone()
    assert open_tickets >= 3 and recent > datetime(2025, 6, 1)  # open ones are mostly new


def test_comments_are_varied(db: Db) -> None:
    comments, distinct, top = db.execute("""
        SELECT count(comment), count(DISTINCT comment),
               (SELECT max(n) FROM (SELECT count(*) AS n FROM survey_responses
                                    WHERE comment IS NOT NULL GROUP BY comment))
        FROM survey_responses""").fetchone()
    assert distinct >= 300 and top / comments < 0.02
    with_comments = set(column(db, "SELECT DISTINCT survey FROM survey_responses "
                                   "WHERE comment IS NOT NULL"))
    assert with_comments == set(DEFAULT_SCALE_MAX)


def test_reviews_name_employees_and_places(db: Db) -> None:
    employees = set(column(db, "SELECT DISTINCT employee FROM survey_responses "
                               "WHERE survey = 'employee_review'"))
    agents = set(column(db, "SELECT DISTINCT agent FROM tickets"))
    owners = set(column(db, "SELECT DISTINCT owner FROM customers"))
    assert employees == agents | owners
    assert one(db, "SELECT count(*) FROM survey_responses WHERE employee IS NOT NULL "
                   "AND survey <> 'employee_review'") == 0
    places = column(db, "SELECT DISTINCT location FROM survey_responses "
                        "WHERE survey = 'public_review'")
    assert None not in places and len(places) >= 10


def test_two_employees_ratings_fall_over_time(db: Db) -> None:
    drops = db.execute("""
        SELECT employee,
               avg(score) FILTER (WHERE responded_at < DATE '2024-07-01')
               - avg(score) FILTER (WHERE responded_at >= DATE '2025-01-01') AS drop
        FROM survey_responses WHERE survey = 'employee_review'
        GROUP BY 1 ORDER BY drop DESC""").fetchall()
    assert {name for name, _drop in drops[:2]} == {"Ivan Petrov", "Noah Fischer"}
    assert drops[1][1] > 0.5 and drops[2][1] < drops[1][1] - 0.2


def test_csm_activities_and_feedback(db: Db) -> None:
    assert set(column(db, "SELECT DISTINCT kind FROM activities")) == {
        "call", "meeting", "email", "check_in", "qbr"}
    assert one(db, "SELECT count(*) FROM activities a JOIN customers c USING (customer_id) "
                   "WHERE a.employee <> c.owner") == 0
    assert one(db, "SELECT count(DISTINCT notes) FROM activities") >= 100
    assert set(column(db, "SELECT DISTINCT kind FROM feedback")) == {
        "feature_request", "idea", "complaint", "praise"}
    sso = column(db, "SELECT DISTINCT text FROM feedback WHERE text ILIKE '%okta%' "
                     "OR text ILIKE '%sign-on%' OR text ILIKE '%sso%'")
    assert len(sso) >= 3  # the same request in different words


def test_orders_include_services_add_ons_refunds_and_failures(db: Db) -> None:
    assert set(column(db, "SELECT DISTINCT kind FROM orders")) == {"product", "services",
                                                                   "add-on"}
    statuses = dict(db.execute("SELECT status, count(*) FROM orders GROUP BY 1").fetchall())
    assert set(statuses) == {"paid", "refunded", "failed"}
    assert statuses["paid"] > 10 * (statuses["refunded"] + statuses["failed"]) / 2


def test_usage_has_a_dozen_features_used_with_different_breadth(db: Db) -> None:
    assert one(db, "SELECT count(DISTINCT event) FROM usage_events") == 12
    breadth = column(db, "SELECT count(DISTINCT event) FROM usage_events GROUP BY customer_id")
    assert min(breadth) <= 4 and max(breadth) == 12
    assert one(db, "SELECT count(*) FROM usage_events WHERE user_id NOT LIKE customer_id || '-U%'"
               ) == 0


# ----------------------------------------------------------------------------------------------
# Churn is predictable from the signals, with noise
# ----------------------------------------------------------------------------------------------

#: Churn events (customer, churn month) and customers retained through the whole window.
CHURN_FRAME = """
WITH last_rows AS (
    SELECT customer_id, bool_or(end_date IS NULL) AS still_active, max(end_date) AS last_end,
           min(start_date) AS first_start
    FROM subscriptions GROUP BY 1
)
SELECT customer_id, date_trunc('month', last_end) AS month, NOT still_active AS churned
FROM last_rows
WHERE (NOT still_active AND last_end BETWEEN DATE '2024-04-01' AND DATE '2025-06-30')
   OR (still_active AND first_start < DATE '2024-01-01')
"""


def signal_before_churn(db: Db, monthly_signal: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each churner's signal summed over the two months before its churn month, and the same
    sum for every retained customer over the same two months (one array per churner).

    ``monthly_signal`` is a query giving (customer_id, month, value).
    """
    rows = db.execute(f"""
        WITH frame AS ({CHURN_FRAME}),
        churns AS (SELECT customer_id, month FROM frame WHERE churned),
        retained AS (SELECT customer_id FROM frame WHERE NOT churned),
        signal(customer_id, month, value) AS ({monthly_signal}),
        pairs AS (
            SELECT c.customer_id AS churner, c.month, r.customer_id AS retained
            FROM churns c CROSS JOIN retained r
            UNION ALL SELECT customer_id, month, NULL FROM churns
        )
        SELECT p.churner, p.retained IS NULL AS is_churner, coalesce(sum(s.value), 0)
        FROM pairs p LEFT JOIN signal s
          ON s.customer_id = coalesce(p.retained, p.churner)
         AND s.month IN (p.month - INTERVAL 1 MONTH, p.month - INTERVAL 2 MONTH)
        GROUP BY p.churner, p.retained
        ORDER BY p.churner""").fetchall()
    churners: dict[str, float] = {}
    retained: dict[str, list[float]] = {}
    for churner, is_churner, value in rows:
        if is_churner:
            churners[churner] = value
        else:
            retained.setdefault(churner, []).append(value)
    order = sorted(churners)
    return np.array([churners[c] for c in order]), [np.array(retained[c]) for c in order]


def separation(churners: np.ndarray, retained: list[np.ndarray]) -> tuple[float, float]:
    """AUC that a retained customer's value exceeds the churner's (same months; ties count
    half), and its z statistic against 0.5 (each churner's share is about uniform under no
    difference, variance 1/12)."""
    shares = np.array([(np.sum(r > c) + 0.5 * np.sum(r == c)) / len(r)
                       for c, r in zip(churners, retained, strict=True)])
    auc = float(shares.mean())
    return auc, (auc - 0.5) / np.sqrt(1 / 12 / len(shares))


def test_churners_use_the_product_less_in_the_two_months_before_churn(db: Db) -> None:
    churners, retained = signal_before_churn(db, """
        SELECT customer_id, date_trunc('month', occurred_at) AS month, count(*) AS value
        FROM usage_events GROUP BY ALL""")
    auc, z = separation(churners, retained)
    assert len(churners) >= 50
    assert auc > 0.75 and z > 5, (auc, z)


def test_usage_declines_in_the_months_before_churn(db: Db) -> None:
    trend = db.execute(f"""
        WITH frame AS ({CHURN_FRAME}),
        churns AS (SELECT customer_id, month FROM frame
                   WHERE churned AND month >= DATE '2024-07-01'),
        usage AS (SELECT customer_id, date_trunc('month', occurred_at) AS month, count(*) AS n
                  FROM usage_events GROUP BY ALL)
        SELECT sum(u.n) FILTER (WHERE u.month >= c.month - INTERVAL 2 MONTH)
               / sum(u.n) FILTER (WHERE u.month < c.month - INTERVAL 2 MONTH)
        FROM churns c JOIN usage u ON u.customer_id = c.customer_id
         AND u.month BETWEEN c.month - INTERVAL 5 MONTH AND c.month - INTERVAL 1 MONTH""")
    late_over_early = trend.fetchone()[0] * 3 / 2  # per month: 2 late months, 3 early ones
    assert late_over_early < 0.7


@pytest.mark.parametrize("monthly_signal", [
    "SELECT customer_id, date_trunc('month', opened_at), count(*) FROM tickets GROUP BY ALL",
    "SELECT customer_id, date_trunc('month', occurred_at), sum(CASE sentiment "
    "WHEN 'negative' THEN 1 WHEN 'positive' THEN -1 ELSE 0 END) FROM activities GROUP BY ALL",
], ids=["more tickets", "negative CSM tone"])
def test_support_load_and_csm_tone_rise_before_churn(db: Db, monthly_signal: str) -> None:
    churners, retained = signal_before_churn(db, monthly_signal)
    auc, z = separation(-churners, [-r for r in retained])  # higher for churners
    assert auc > 0.6 and z > 4, (auc, z)


def test_scores_drop_before_churn(db: Db) -> None:
    """NPS and check-in answers given in the three months before a churn are lower than the
    answers retained customers gave in the same months (Welch's t)."""
    groups = dict(db.execute(f"""
        WITH frame AS ({CHURN_FRAME}),
        answers AS (SELECT customer_id, date_trunc('month', responded_at) AS month, score
                    FROM survey_responses WHERE survey IN ('nps', 'check_in')),
        before_churn AS (
            SELECT a.score FROM frame f JOIN answers a ON a.customer_id = f.customer_id
            AND a.month BETWEEN f.month - INTERVAL 3 MONTH AND f.month - INTERVAL 1 MONTH
            WHERE f.churned),
        same_months AS (
            SELECT a.score FROM frame f JOIN answers a USING (customer_id)
            WHERE NOT f.churned AND a.month IN (
                SELECT DISTINCT month - INTERVAL (k) MONTH FROM frame, range(1, 4) t(k)
                WHERE churned))
        SELECT 'churners', list(score) FROM before_churn
        UNION ALL SELECT 'retained', list(score) FROM same_months""").fetchall())
    churners, retained = np.array(groups["churners"]), np.array(groups["retained"])
    gap = retained.mean() - churners.mean()
    t = gap / np.sqrt(churners.var(ddof=1) / len(churners) + retained.var(ddof=1) / len(retained))
    assert len(churners) >= 30 and gap > 1.0 and t > 4, (len(churners), gap, t)


def test_churn_is_not_deterministic(db: Db) -> None:
    churners, retained = signal_before_churn(db, """
        SELECT customer_id, date_trunc('month', occurred_at) AS month, count(*) AS value
        FROM usage_events GROUP BY ALL""")
    auc, _z = separation(churners, retained)
    assert auc < 0.97
    busy_churners = np.mean(churners > np.array([np.median(r) for r in retained]))
    assert busy_churners > 0.03  # some churn comes without warning


# ----------------------------------------------------------------------------------------------
# Scale
# ----------------------------------------------------------------------------------------------


def test_volumes_extrapolate_to_200k_customers_within_budget(tmp_path: Path) -> None:
    n = 1500
    files = write_company(tmp_path, customers=n, months=36, seed=5, end=END)
    con = duckdb.connect()

    def rows(table: str) -> int:
        return sum(pq.read_metadata(p).num_rows for p in files[table])

    customer_months = one(con, """
        SELECT count(DISTINCT (customer_id, m)) FROM read_parquet(?) s,
            range(DATE '2022-07-01', DATE '2025-07-01', INTERVAL 1 MONTH) t(m)
        WHERE s.start_date <= last_day(m) AND (s.end_date IS NULL OR s.end_date > m)""",
                          [str(files["subscriptions"][0])])
    scale = 200_000 / n
    events = scale * event_density(200_000) / event_density(n)
    assert 4.0e6 < customer_months * scale < 6.0e6
    assert 15e6 < rows("usage_events") * events < 25e6
    assert 0.7e6 < rows("tickets") * events < 1.4e6
    assert 0.35e6 < rows("survey_responses") * events < 0.75e6


@pytest.mark.slow
def test_a_full_chunk_of_customers_fits_far_below_the_memory_budget(tmp_path: Path) -> None:
    """Customers are simulated CHUNK_CUSTOMERS at a time, so a chunk's peak is the whole
    run's peak plus per-customer arrays (about 1 KB per customer, 0.2 GB at 200,000).
    The 200,000 x 36 run peaked at about 0.65 GB."""
    program = (
        "import resource, sys; from datetime import date; from pathlib import Path; "
        "from csmetrics.demo import write_company; "
        f"write_company(Path(sys.argv[1]), customers={CHUNK_CUSTOMERS}, months=36, "
        "end=date(2025, 6, 30)); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", program, str(tmp_path)], capture_output=True,
                          text=True, check=True, timeout=600)
    peak_gib = int(done.stdout.split()[-1]) / 2**20  # ru_maxrss is in KiB on Linux
    assert peak_gib < 1.5
