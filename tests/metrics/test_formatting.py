"""How numbers, dates, periods, headers and benchmarks read: expected strings by hand."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, datetime

import pandas as pd
import pytest

from csmetrics.metrics import get_metric
from csmetrics.metrics.definition import Benchmark, Unit
from csmetrics.metrics.formatting import (
    benchmark_text,
    column_label,
    convert_rate,
    format_cell,
    format_change,
    format_date,
    format_value,
    period_label,
)


@pytest.mark.parametrize(("value", "unit", "currency", "expected"), [
    (12500, Unit.MONEY, "EUR", "12,500.00 EUR"),
    (61111.544, Unit.MONEY, "USD", "61,111.54 USD"),
    (-1234.5, Unit.MONEY, "USD", "-1,234.50 USD"),
    (0.053, Unit.RATE, "USD", "5.3 %"),
    (1.032, Unit.RATE, "USD", "103.2 %"),
    (1234, Unit.COUNT, "USD", "1,234"),
    (2.5, Unit.COUNT, "USD", "2.50"),
    (3.21, Unit.RATIO, "USD", "3.2×"),
    (36.5, Unit.HOURS, "USD", "36.5 h"),
    (12.5, Unit.DAYS, "USD", "12.5 days"),
    (-42, Unit.SCORE, "USD", "-42.0"),
    (None, Unit.MONEY, "USD", "—"),
    (math.nan, Unit.RATE, "USD", "—"),
])
def test_values_read_in_their_unit(value, unit, currency, expected):
    assert format_value(value, unit, currency) == expected


@pytest.mark.parametrize(("change", "unit", "expected"), [
    (0.029, Unit.RATE, "+2.9 pts"),
    (-0.008, Unit.RATE, "-0.8 pts"),
    (-1200, Unit.MONEY, "-1,200.00 USD"),
    (11768.85, Unit.MONEY, "+11,768.85 USD"),
    (3, Unit.COUNT, "+3"),
    (0.5, Unit.RATIO, "+0.5×"),
    (None, Unit.RATE, ""),
])
def test_changes_carry_their_sign_and_unit(change, unit, expected):
    assert format_change(change, unit, "USD") == expected


@pytest.mark.parametrize(("start", "period", "expected"), [
    (date(2026, 1, 1), "month", "Jan 2026"),
    (date(2026, 1, 1), "quarter", "2026 Q1"),
    (date(2025, 10, 1), "quarter", "2025 Q4"),
    ("2026-07-01", "quarter", "2026 Q3"),
    (date(2026, 1, 5), "week", "Week of 5 Jan"),
    (date(2026, 1, 1), "year", "2026"),
    (date(2026, 3, 9), "day", "9 Mar 2026"),
])
def test_periods_read_as_people_say_them(start, period, expected):
    assert period_label(start, period) == expected


def test_days_read_as_dates_and_keep_a_time_of_day():
    assert format_date(date(2026, 1, 6)) == "6 Jan 2026"
    assert format_date(datetime(2026, 1, 6, 14, 5)) == "6 Jan 2026 14:05"
    assert format_date(pd.Timestamp("2026-06-30")) == "30 Jun 2026"


@pytest.mark.parametrize(("name", "expected"), [
    ("customer_id", "Customer"), ("mrr", "MRR"), ("negative_share", "Negative share"),
    ("mrr_at_risk", "MRR at risk"), ("first_asked", "First asked"), ("top_terms", "Top terms"),
    ("arr", "ARR"), ("label", "Label"),
])
def test_headers_have_no_snake_case(name, expected):
    assert column_label(name) == expected
    assert "_" not in column_label(name)


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("mrr", 1234.5, "1,234.50 EUR"),
    ("negative_share", 0.25, "25.0 %"),
    ("customers", 3, "3"),
    ("asks", 1234, "1,234"),
    ("score", 4.5, "4.50"),
    ("top_terms", ["slow", "support"], "slow, support"),
    ("day", pd.Timestamp("2026-06-30"), "30 Jun 2026"),
    ("comment", None, ""),
    ("first_asked", pd.NaT, ""),
    ("survey", "nps", "nps"),
])
def test_table_cells_read_by_their_column(column, value, expected):
    assert format_cell(column, value, "EUR") == expected


def test_rates_convert_between_periods_by_compounding():
    # 5 % a year of churn is 1 - 0.95^(1/12) = 0.4265 % a month
    assert convert_rate(0.05, "churn", 1 / 12) == pytest.approx(0.004265, abs=1e-6)
    # 2 % a month of churn is 1 - 0.98^3 = 5.8808 % a quarter
    assert convert_rate(0.02, "churn", 3) == pytest.approx(0.058808, abs=1e-6)
    # 90 % retained a quarter is 0.9^4 = 65.61 % a year
    assert convert_rate(0.9, "retention", 4) == pytest.approx(0.6561)
    with pytest.raises(ValueError, match="'churn' or 'retention'"):
        convert_rate(0.1, "linear", 2)


def test_churn_benchmark_is_shown_in_the_pages_period():
    churn = get_metric("customer_churn_rate")
    tail = "; SaaS; 1–2 % a year for enterprise"
    assert benchmark_text(churn, "year") == "5–7 % a year" + tail
    # 1 - 0.95^(1/12) = 0.4265 %, 1 - 0.93^(1/12) = 0.6029 %: two significant digits
    assert benchmark_text(churn, "month") == (
        "0.43–0.60 % a month (= 5–7 % a year)" + tail)
    # 1 - 0.95^(1/4) = 1.274 %, 1 - 0.93^(1/4) = 1.798 %
    assert benchmark_text(churn, "quarter") == "1.3–1.8 % a quarter (= 5–7 % a year)" + tail


def test_a_benchmark_that_does_not_convert_keeps_its_own_period():
    nrr = dataclasses.replace(get_metric("nrr"), benchmark_range=Benchmark(low=0.9,
                                                                           per="year"))
    assert benchmark_text(nrr, "month") == "at least 90 % a year"
    ratio = get_metric("ltv_cac_ratio")
    assert benchmark_text(ratio, "quarter") == "at least 3.0×"
    # a metric with only a text benchmark keeps its text
    assert benchmark_text(get_metric("grr"), "month") == "never above 100 %"
