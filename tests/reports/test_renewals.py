"""Next renewal dates and values by the rule of ``reports.renewals``, hand-computed, and the
renewals list with its ARR at risk on a small company."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from csmetrics.errors import UserInputError
from csmetrics.metrics.drilldown import subscription_mrr
from csmetrics.reports.renewals import at_risk, next_renewal, renewal_value, renewals
from tests.conftest import write_csv

D = date(2026, 6, 30)


@pytest.mark.parametrize(("start", "interval", "end", "canceled", "expected"), [
    (date(2026, 1, 10), "month", None, None, date(2026, 7, 10)),
    (date(2026, 5, 31), "month", None, None, date(2026, 7, 31)),   # June has no 31st: 06-30
    (date(2026, 1, 31), "month", None, None, date(2026, 7, 31)),   # counted from the start
    (date(2026, 6, 30), "month", None, None, date(2026, 7, 30)),   # started on the day
    (date(2025, 7, 15), "year", None, None, date(2026, 7, 15)),
    (date(2024, 6, 30), "year", None, None, date(2027, 6, 30)),    # renews on D: next year
    (date(2025, 8, 20), "year", None, date(2026, 6, 1), None),     # canceled: no renewal
    (date(2025, 8, 20), "year", None, date(2026, 7, 1), date(2026, 8, 20)),  # not yet
    (date(2025, 8, 20), "year", date(2026, 8, 20), None, None),    # ends at the boundary
    (date(2025, 8, 20), "year", date(2026, 8, 21), None, date(2026, 8, 20)),
    (date(2026, 1, 10), "month", date(2026, 7, 5), None, None),    # ends before
    (date(2024, 2, 29), "year", None, None, date(2027, 2, 28)),    # leap day, common year
    (date(2026, 4, 15), "quarter", None, None, date(2026, 7, 15)),
    (date(2026, 6, 1), "week", None, None, date(2026, 7, 6)),
])
def test_next_renewal_by_hand(start, interval, end, canceled, expected):
    assert next_renewal(start, interval, D, end, canceled) == expected


def test_a_leap_day_start_renews_on_feb_29_in_leap_years():
    start = date(2024, 2, 29)
    assert next_renewal(start, "year", date(2027, 6, 30)) == date(2028, 2, 29)
    assert next_renewal(start, "year", date(2028, 2, 28)) == date(2028, 2, 29)
    assert next_renewal(start, "year", date(2028, 2, 29)) == date(2029, 2, 28)
    monthly = date(2024, 1, 31)
    assert next_renewal(monthly, "month", date(2024, 2, 1)) == date(2024, 2, 29)


def test_renewal_value_is_mrr_times_the_months_of_the_interval():
    assert renewal_value(100.0, "year") == 1200.0
    assert renewal_value(100.0, "quarter") == 300.0
    assert renewal_value(100.0, "month") == 100.0


def test_renewals_in_30_60_90_days_and_arr_at_risk(ws, tmp_path):
    customers = write_csv(tmp_path / "customers.csv",
                          ["customer_id", "name", "started_at", "owner"], [
                              ["C1", "Acme", "2025-07-15", "ana"],
                              ["C2", "Beta", "2026-01-10", "bo"],
                              ["C3", "Gamma", "2024-02-29", "ana"],
                              ["C4", "Delta", "2025-08-20", "bo"],
                              ["C5", "Epsilon", "2026-06-30", "ana"]])
    subscriptions = write_csv(tmp_path / "subscriptions.csv", [
        "subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "end_date", "canceled_at"], [
        ["S1", "C1", "pro", 1200, "year", "2025-07-15", None, None],      # 07-15, ARR 1,200
        ["S2", "C2", "basic", 50, "month", "2026-01-10", None, None],     # 07-10, ARR 600
        ["S3", "C3", "pro", 2400, "year", "2024-02-29", None, None],      # 2027-02-28
        ["S4", "C4", "pro", 3600, "year", "2025-08-20", None, "2026-06-01"],  # canceled
        ["S5", "C1", "add-on", 6000, "year", "2025-09-10", None, None],   # 09-10, ARR 6,000
        ["S6", "C2", "basic", 300, "quarter", "2026-05-05", None, None],  # 08-05, ARR 1,200
    ])
    ws.ingest("customers", [customers])
    ws.ingest("subscriptions", [subscriptions])
    assert ws.data_end() == D
    subs = subscription_mrr(ws.warehouse.ibis, ws.settings, D, today=ws.today())
    people = ws.customer_list().sort_values("customer_id")
    people["band"] = ["red", "green", "yellow", None, None]  # C4, C5: no score
    expected = {30: (["S2", "S1"], 1800.0), 60: (["S2", "S1", "S6"], 3000.0),
                90: (["S2", "S1", "S6", "S5"], 9000.0)}
    for within, (ids, arr) in expected.items():
        due = renewals(subs, people, D, within)
        assert list(due["subscription_id"]) == ids, within
        assert due["arr"].sum() == pytest.approx(arr)
    due = renewals(subs, people, D, 90)
    assert list(due["renewal_value"]) == pytest.approx([50.0, 1200.0, 300.0, 6000.0])
    risk = at_risk(due).set_index("band")
    assert risk.loc["red", "arr"] == pytest.approx(1200 + 6000)   # C1
    assert risk.loc["green", "arr"] == pytest.approx(600 + 1200)  # C2
    assert risk.loc["yellow", "arr"] == 0.0
    assert risk.loc["insufficient data", "arr"] == 0.0
    assert int(risk["subscriptions"].sum()) == 4


def test_a_window_that_is_not_positive_is_refused():
    with pytest.raises(UserInputError, match="positive number of days"):
        renewals(pd.DataFrame(), pd.DataFrame(), D, 0)
