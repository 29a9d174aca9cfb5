"""Product usage and adoption metrics against figures computed by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csmetrics import Workspace
from csmetrics.config import EngineSection, Settings
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.result import Z95
from csmetrics.store import Warehouse
from tests.conftest import write_csv

EVENT_HEADER = ["customer_id", "user_id", "occurred_at", "event", "quantity", "duration_s"]
CUSTOMER_HEADER = ["customer_id", "name", "started_at", "plan", "seats"]
SUB_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
              "start_date", "end_date", "quantity"]

# The 3-user week (Monday 1 to Sunday 7 January 2024), plus one user active in December:
#   A/u1  login every day at 09:00 (600 s) and a report on the 2nd (3 units, 1800 s)
#   A/u2  login on the 1st (600 s), export on the 3rd (2 units, 1200 s)
#   B/u1  report on Sunday 7th at 23:30 (5 units, 3600 s) -- same user id as A's, another user
#   C/u9  login on 10 December only (inside the trailing 30 days of 1-8 January)
WEEK_EVENTS = [
    *[["A", "u1", f"2024-01-0{d} 09:00:00", "login", None, 600] for d in range(1, 8)],
    ["A", "u1", "2024-01-02 10:00:00", "report", 3, 1800],
    ["A", "u2", "2024-01-01 09:30:00", "login", None, 600],
    ["A", "u2", "2024-01-03 11:00:00", "export", 2, 1200],
    ["B", "u1", "2024-01-07 23:30:00", "report", 5, 3600],
    ["C", "u9", "2023-12-10 12:00:00", "login", None, 60],
]
# A 5 seats; B no seats column, 4 seats bought; C no seats at all; D 10 seats, nobody active;
# E 3 seats but its only subscription ended in 2023 (a former customer: no seats).
WEEK_CUSTOMERS = [
    ["A", "Acme", "2023-01-01", "pro", 5],
    ["B", "Beta", "2023-01-01", "basic", None],
    ["C", "Gamma", "2023-01-01", "basic", None],
    ["D", "Delta", "2023-01-01", "pro", 10],
    ["E", "Echo", "2023-01-01", "pro", 3],
]
WEEK_SUBS = [
    ["SA", "A", "pro", 100, "month", "2023-12-01", None, 20],
    ["SB", "B", "basic", 40, "month", "2023-12-01", None, 4],
    ["SD", "D", "pro", 100, "month", "2024-01-04", None, 7],   # from Thursday: 4 of 7 days
    ["SE", "E", "pro", 100, "month", "2023-01-01", "2023-06-01", 3],
]


def load(ws: Workspace, tmp: Path, *, customers: Sequence[Sequence[object]] = (),
         subscriptions: Sequence[Sequence[object]] = (),
         events: Sequence[Sequence[object]] = ()) -> Workspace:
    """Ingest the given rows into ``ws`` (customers first, so every reference resolves)."""
    if customers:
        ws.ingest("customers", [write_csv(tmp / "customers.csv", CUSTOMER_HEADER, customers)])
    if subscriptions:
        ws.ingest("subscriptions", [write_csv(tmp / "subs.csv", SUB_HEADER, subscriptions)])
    if events:
        ws.ingest("usage_events", [write_csv(tmp / "events.csv", EVENT_HEADER, events)],
                  allow_orphans=not customers)
    return ws


@pytest.fixture
def week(ws: Workspace, tmp_path: Path) -> Workspace:
    return load(ws, tmp_path, customers=WEEK_CUSTOMERS, subscriptions=WEEK_SUBS,
                events=WEEK_EVENTS)


def one(frame: pd.DataFrame, metric: str, **where: object) -> pd.Series:
    """The single row of ``metric`` (and the given column values)."""
    rows = frame[frame.metric == metric]
    for column, value in where.items():
        rows = rows[rows[column].astype(str) == str(value)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def series(frame: pd.DataFrame, metric: str) -> list[float | None]:
    rows = frame[frame.metric == metric].sort_values("period_start")
    return [None if pd.isna(v) else round(float(v), 6) for v in rows.value]


def query_week(ws: Workspace, metrics: Sequence[str], **kw: object) -> pd.DataFrame:
    return ws.query(list(metrics), period="week", start="2024-01-01", end="2024-01-07", **kw)


# -- active users -------------------------------------------------------------------------


def test_dau_wau_mau_and_stickiness_on_a_three_user_week(week):
    got = query_week(week, ["dau", "wau", "mau", "stickiness"])
    # DAU: user-days A/u1 7 + A/u2 2 + B/u1 1 = 10 over 7 days
    assert one(got, "dau").value == pytest.approx(10 / 7)
    assert one(got, "dau").n == 3
    # WAU: A/u1 counted 7 days; A/u2 from the 1st on (the 3rd covers to the 9th) 7 days;
    # B/u1 only the 7th -> 15 / 7. C/u9 (10 Dec) is outside every trailing 7 days.
    assert one(got, "wau").value == pytest.approx(15 / 7)
    assert one(got, "wau").n == 3
    # MAU: as WAU plus C/u9 on all 7 days (10 Dec + 30 days reaches 8 Jan) -> 22 / 7
    mau = one(got, "mau")
    assert mau.value == pytest.approx(22 / 7)
    assert mau.n == 4
    assert mau.active_in_period == 3
    # stickiness = DAU / MAU = 10 / 22
    s = one(got, "stickiness")
    assert s.value == pytest.approx(10 / 22)
    assert s.dau == pytest.approx(10 / 7) and s.mau == pytest.approx(22 / 7)


def test_daily_grain_counts_each_day(week):
    got = week.query(["dau", "wau"], period="day", start="2024-01-01", end="2024-01-07")
    # 1st: A/u1 A/u2; 2nd: A/u1; 3rd: A/u1 A/u2; 4th-6th: A/u1; 7th: A/u1 B/u1
    assert series(got, "dau") == [2, 1, 2, 1, 1, 1, 2]
    # trailing 7 days: A/u2 stays counted from the 1st to the 7th; B/u1 joins on the 7th
    assert series(got, "wau") == [2, 2, 2, 2, 2, 2, 3]


def test_segments_and_customer_filter(week):
    got = query_week(week, ["dau", "mau"], by="plan")
    # pro: A's two users (9 user-days); basic: B/u1 (1) and C/u9 in MAU only
    assert one(got, "dau", plan="pro").value == pytest.approx(9 / 7)
    assert one(got, "dau", plan="basic").value == pytest.approx(1 / 7)
    assert one(got, "mau", plan="basic").value == pytest.approx(8 / 7)
    got = query_week(week, ["dau"], customer="B")
    assert one(got, "dau").value == pytest.approx(1 / 7)


def test_time_zone_boundary_keeps_local_days(tmp_path):
    # In New York (UTC-5 in January) 04:30 UTC on the 8th is 23:30 on the 7th, and 04:30 UTC
    # on the 1st is 23:30 on 31 December; a timestamp without offset is already local.
    with Workspace.init(tmp_path / "ny", timezone="America/New_York") as ny:
        load(ny, tmp_path, customers=[["A", "Acme", "2023-01-01", "pro", None]], events=[
            ["A", "u1", "2024-01-08T04:30:00+00:00", "login", None, None],
            ["A", "u2", "2024-01-07 23:30:00", "login", None, None],
            ["A", "u3", "2024-01-01T04:30:00Z", "login", None, None],
        ])
        daily = ny.query("dau", period="day", start="2024-01-06", end="2024-01-08")
        # the last event is on the 7th, local time: the 8th is after the data end
        assert series(daily, "dau") == [0, 2, None]
        assert daily.null_reason.iloc[2] == "after the data end 2024-01-07"
        weekly = ny.query("dau", period="week", start="2024-01-01", end="2024-01-07")
        assert one(weekly, "dau").value == pytest.approx(2 / 7)   # u3 belongs to 31 Dec
        assert one(weekly, "dau").n == 2


# -- product usage rate and adoption ------------------------------------------------------


def test_seat_utilisation_counts_idle_licences_and_skips_former_customers(week):
    got = one(query_week(week, ["seat_utilisation"]), "seat_utilisation")
    # seats: A 5 (customers.seats), B 4 (subscription quantity), D 10 (idle);
    # C has no seats; E's subscription ended in 2023. Active users: A 2, B 1, D 0.
    assert got.value == pytest.approx(3 / 19)
    assert (got.n, got.active_users, got.seats) == (3, 3, 19)
    assert got.customer_mean == pytest.approx((2 / 5 + 1 / 4 + 0) / 3)


def test_activity_intensity_and_breadth(week):
    got = query_week(week, ["active_days", "events_per_active_user", "time_spent",
                            "feature_breadth"])
    # A active every day of the week (7), B on Sunday (1): mean 4 days, 4/7 of the week
    assert one(got, "active_days").value == 4
    assert one(got, "active_days").share_of_days == pytest.approx(4 / 7)
    # events: A/u1 7 logins + 1 report, A/u2 2, B/u1 1 -> 11 / 3 active users
    assert one(got, "events_per_active_user").value == pytest.approx(11 / 3)
    # seconds: A/u1 7*600 + 1800 = 6000, A/u2 1800, B/u1 3600 -> 11400 s = 19/6 h, / 3 users
    spent = one(got, "time_spent")
    assert spent.value == pytest.approx(11400 / 3600 / 3)
    assert spent.total_hours == pytest.approx(11400 / 3600)
    # features: A login/report/export (3), B report (1) -> mean 2
    assert one(got, "feature_breadth").value == 2
    assert one(got, "feature_breadth").n == 2


def test_feature_adoption_per_feature(week):
    got = query_week(week, ["feature_adoption"])
    # active customers A and B (2), active users A/u1, A/u2, B/u1 (3)
    expected = {"login": (1 / 2, 2 / 3), "report": (2 / 2, 2 / 3), "export": (1 / 2, 1 / 3)}
    assert sorted(got.event) == sorted(expected)
    for event, (customer_share, user_share) in expected.items():
        row = one(got, "feature_adoption", event=event)
        assert row.value == pytest.approx(customer_share)
        assert row.user_share == pytest.approx(user_share)
        assert row.n == 2
        assert row.ci_low <= row.value <= row.ci_high


def test_per_feature_metrics_with_a_customer_segment(week):
    got = query_week(week, ["feature_adoption"], by="plan")
    # pro: only A is active (all three features); basic: B (report), C is not active
    pro = got[got.plan == "pro"].set_index("event")
    assert sorted(pro.index) == ["export", "login", "report"]
    assert list(pro.value) == [1.0, 1.0, 1.0]
    assert list(pro.user_share) == pytest.approx([1 / 2, 1.0, 1 / 2])
    basic = got[(got.plan == "basic") & got.value.notna()]
    assert list(basic.event) == ["report"] and list(basic.value) == [1.0]


def test_consumption_rate_weights_entitlement_by_days_in_force(week):
    got = one(query_week(week, ["consumption_rate"]), "consumption_rate")
    # consumed (empty quantity = 1): A 7 + 3 + 1 + 2 = 13, B 5, D 0
    # purchased: A 20, B 4, D 7 from Thursday -> 7 * 4/7 = 4; E's ended in 2023
    assert got.value == pytest.approx(18 / 28)
    assert (got.consumed, got.purchased, got.n) == (18, 28, 3)
    assert got.customer_median == pytest.approx(13 / 20)   # of 0.65, 1.25 and 0


# -- the active_events setting ------------------------------------------------------------


def compute_with(ws: Workspace, metrics_options: dict[str, object], names: Sequence[str],
                 **request: object) -> pd.DataFrame:
    config = Settings.from_mapping({"metrics": metrics_options})
    return compute(ws.warehouse.ibis, config, MetricRequest.create(list(names), **request))


def test_active_events_setting_changes_who_is_active(week):
    names = ["dau", "mau", "events_per_active_user", "feature_adoption", "feature_breadth"]
    got = compute_with(week, {"active_events": ["report", "export"]}, names,
                       period="week", start="2024-01-01", end="2024-01-07")
    # active user-days: A/u1 on the 2nd, A/u2 on the 3rd, B/u1 on the 7th -> 3 / 7;
    # C/u9 only logged in, so it is not in MAU any more
    assert one(got, "dau").value == pytest.approx(3 / 7)
    # MAU: A/u1 from the 2nd (6 days), A/u2 from the 3rd (5), B/u1 the 7th (1) -> 12 / 7
    assert one(got, "mau").value == pytest.approx(12 / 7)
    assert one(got, "mau").n == 3
    # every event of an active user still counts
    assert one(got, "events_per_active_user").value == pytest.approx(11 / 3)

    got = compute_with(week, {"active_events": ["export"]}, names,
                       period="week", start="2024-01-01", end="2024-01-07")
    # only A/u2 is active: its login and export are adopted by 1 of 1 active customers;
    # A/u1's and B/u1's reports come from inactive users, so no report row at all
    adoption = got[got.metric == "feature_adoption"]
    assert sorted(adoption.event) == ["export", "login"]
    assert list(adoption.value) == [1.0, 1.0]
    assert one(got, "events_per_active_user").value == 2
    # A is the only active customer, with two features: the report of its inactive user
    # is not one of them
    assert (one(got, "feature_breadth").value, one(got, "feature_breadth").n) == (2, 1)


# -- empty periods ------------------------------------------------------------------------


def test_empty_periods_are_zero_for_counts_and_null_for_ratios(week):
    # the data speaks until 31 March (as of), although the last event is on 7 January
    got = week.query(["dau", "mau", "stickiness", "events_per_active_user", "feature_adoption",
                      "seat_utilisation"], period="month", start="2024-01-01",
                     end="2024-03-31", as_of="2024-03-31")
    assert series(got, "dau") == [round(10 / 31, 6), 0, 0]
    # MAU in January: A/u1 31 days, A/u2 31 (3 Jan + 30 days reaches 1 Feb), B/u1 25
    # (from the 7th), C/u9 8 (10 Dec + 30 days reaches 8 Jan) -> 95 / 31. February: A/u1
    # 5 days, A/u2 1, B/u1 5 -> 11 / 29. March: nobody.
    assert series(got, "mau") == [round(95 / 31, 6), round(11 / 29, 6), 0]
    # February: users in MAU but nobody active on any day -> 0; March: no MAU -> null
    assert series(got, "stickiness") == [round(10 / 95, 6), 0, None]
    march = got[got.period_start.astype(str) == "2024-03-01"].set_index("metric")
    assert march.loc["stickiness", "null_reason"] == "no active users in the period"
    assert march.loc["events_per_active_user", "null_reason"] == "no active users in the period"
    assert march.loc["dau", "n"] == 0
    adoption = got[got.metric == "feature_adoption"]
    adoption = adoption[adoption.period_start.astype(str) == "2024-03-01"]
    assert len(adoption) == 3 and adoption.value.isna().all()
    assert set(adoption.null_reason) == {"no active customers in the period"}
    # licensed seats exist every month even without activity -> 0, not null
    assert series(got, "seat_utilisation")[1:] == [0, 0]


def test_days_after_the_data_end_are_not_averaged_in(week):
    # the data ends on 7 January (its last event): January so far has 7 days, not 31
    got = week.query(["dau", "mau"], period="month", start="2024-01-01", end="2024-01-31")
    assert one(got, "dau").value == pytest.approx(10 / 7)
    assert one(got, "mau").value == pytest.approx(22 / 7)


def test_no_seats_anywhere_is_null_with_reason(ws, tmp_path):
    load(ws, tmp_path, customers=[["A", "Acme", "2023-01-01", "pro", None]],
         events=[["A", "u1", "2024-01-02 10:00:00", "login", None, None]])
    got = one(ws.query("seat_utilisation", period="month", start="2024-01-01",
                       end="2024-01-31"), "seat_utilisation")
    assert pd.isna(got.value)
    assert got.null_reason == "no customer with licensed seats"


# -- time to value ------------------------------------------------------------------------

# P starts 5 Jan, first report 15 Jan (10 days). Q starts 10 Jan, logs in on the 11th (1 day),
# first report 9 Feb (30 days). R starts 20 Jan, logs in on the 25th (5 days), never reports.
# S started 28 Dec, logs in 2 Jan (5 days). T starts 1 Feb, was already active 30 Jan (0 days).
TTV_CUSTOMERS = [
    ["P", "P", "2024-01-05", "pro", None], ["Q", "Q", "2024-01-10", "pro", None],
    ["R", "R", "2024-01-20", "basic", None], ["S", "S", "2023-12-28", "pro", None],
    ["T", "T", "2024-02-01", "pro", None],
]
TTV_EVENTS = [
    ["P", "p", "2024-01-15 10:00:00", "report", None, None],
    ["Q", "q", "2024-01-11 10:00:00", "login", None, None],
    ["Q", "q", "2024-02-09 10:00:00", "report", None, None],
    ["R", "r", "2024-01-25 10:00:00", "login", None, None],
    ["S", "s", "2024-01-02 10:00:00", "login", None, None],
    ["T", "t", "2024-01-30 10:00:00", "login", None, None],
]


def test_time_to_value_any_event(ws, tmp_path):
    load(ws, tmp_path, customers=TTV_CUSTOMERS, events=TTV_EVENTS)
    got = ws.query("time_to_value", period="month", start="2023-12-01", end="2024-02-29")
    assert series(got, "time_to_value") == [5, 5, 0]   # Dec: S; Jan: P 10, Q 1, R 5; Feb: T
    jan = one(got, "time_to_value", period_start="2024-01-01")
    assert jan["mean"] == pytest.approx(16 / 3)
    assert jan.p90 == pytest.approx(9.0)   # interpolated: 5 + 0.8 * (10 - 5)
    assert (jan.n, jan.not_reached) == (3, 0)


def test_time_to_value_key_events_and_customers_who_never_reached_it(ws, tmp_path):
    load(ws, tmp_path, customers=TTV_CUSTOMERS, events=TTV_EVENTS)
    got = compute_with(ws, {"key_events": ["report"]}, ["time_to_value"], period="month",
                       start="2023-12-01", end="2024-02-29")
    jan = one(got, "time_to_value", period_start="2024-01-01")
    # P 10 days, Q 30 days; R has not reached value
    assert jan.value == 20 and jan["mean"] == 20
    assert jan.p90 == pytest.approx(28.0)   # 10 + 0.9 * (30 - 10)
    assert (jan.n, jan.not_reached) == (2, 1)
    dec = one(got, "time_to_value", period_start="2023-12-01")
    assert pd.isna(dec.value) and dec.not_reached == 1
    assert dec.null_reason == "no customer that started in the period has reached value yet"


# -- value unlock -------------------------------------------------------------------------

# Six paying customers active in January; K1-K3 used "report". Subscriptions of K3, K5 and K6
# end on 15 March, so at the end of the two months after January (31 March) K1, K2 and K4
# still pay. K7 used report too but stopped paying on 20 January: not in the cohort.
VU_CUSTOMERS = [[f"K{i}", f"K{i}", "2023-01-01", "pro", None] for i in range(1, 8)]
VU_SUBS = [
    [f"S{i}", f"K{i}", "pro", 100, "month", "2023-12-01",
     "2024-03-15" if i in (3, 5, 6) else None, None] for i in range(1, 7)
] + [["S7", "K7", "pro", 100, "month", "2023-12-01", "2024-01-20", None]]
VU_EVENTS = (
    [[f"K{i}", "u", "2024-01-10 09:00:00", "login", None, None] for i in range(1, 8)]
    + [[f"K{i}", "u", "2024-01-12 09:00:00", "report", None, None] for i in (1, 2, 3, 7)]
    + [["K1", "u", "2024-02-05 09:00:00", "login", None, None]]
)


def newcombe(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p0, written out from the 1998 paper."""
    def wilson(x: int, n: int) -> tuple[float, float]:
        p, z2 = x / n, Z95 ** 2
        centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        half = Z95 / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
        return centre - half, centre + half
    p1, p0 = x1 / n1, x0 / n0
    (l1, u1), (l0, u0) = wilson(x1, n1), wilson(x0, n0)
    d = p1 - p0
    return d - math.hypot(p1 - l1, u0 - p0), d + math.hypot(u1 - p1, p0 - l0)


def test_value_unlock_difference_and_interval(ws, tmp_path):
    load(ws, tmp_path, customers=VU_CUSTOMERS, subscriptions=VU_SUBS, events=VU_EVENTS)
    got = compute_with(ws, {"value_unlock_window_months": 2}, ["value_unlock"],
                       period="month", start="2024-01-01", end="2024-03-31", as_of="2024-03-31")
    report = one(got, "value_unlock", period_start="2024-01-01", event="report")
    # adopters K1 K2 K3 -> 2 of 3 retained; non-adopters K4 K5 K6 -> 1 of 3
    assert report.adopter_retention == pytest.approx(2 / 3)
    assert report.non_adopter_retention == pytest.approx(1 / 3)
    assert report.value == pytest.approx(1 / 3)
    assert (report.n, report.adopters, report.non_adopters) == (6, 3, 3)
    low, high = newcombe(2, 3, 1, 3)
    assert (report.ci_low, report.ci_high) == (pytest.approx(low), pytest.approx(high))
    assert report.ci_low < report.value < report.ci_high
    # everybody logged in: nobody to compare with
    login = one(got, "value_unlock", period_start="2024-01-01", event="login")
    assert pd.isna(login.value) and login.null_reason.startswith("every active paying")
    # February's window ends 30 April, after the data end (31 March)
    feb = one(got, "value_unlock", period_start="2024-02-01", event="login")
    assert pd.isna(feb.value) and pd.isna(feb.adopter_retention)
    assert feb.null_reason == "the 2-month window after the period runs past the data end"
    # by plan (everyone is on pro) gives the same figures in the pro segment
    by_plan = compute_with(ws, {"value_unlock_window_months": 2}, ["value_unlock"],
                           period="month", start="2024-01-01", end="2024-03-31",
                           as_of="2024-03-31", by="plan")
    row = one(by_plan, "value_unlock", period_start="2024-01-01", event="report", plan="pro")
    assert row.value == pytest.approx(1 / 3) and row.n == 6


def test_value_unlock_default_window_is_still_open(ws, tmp_path):
    load(ws, tmp_path, customers=VU_CUSTOMERS, subscriptions=VU_SUBS, events=VU_EVENTS)
    got = ws.query("value_unlock", period="month", start="2024-01-01", end="2024-03-31",
                   as_of="2024-03-31")
    report = one(got, "value_unlock", period_start="2024-01-01", event="report")
    assert pd.isna(report.value)
    assert "6-month window" in report.null_reason


# -- properties against a brute-force oracle ----------------------------------------------

ORACLE_START = date(2023, 12, 1)


def oracle(active: set[tuple[str, int]], first: date, end: date, window: int) -> tuple[float, int]:
    """Mean over the days of [first, end] of the users active in the trailing ``window`` days,
    and the number of users counted on any day, by enumerating every day."""
    counts, seen = [], set()
    day = first
    while day <= end:
        today = {u for u, offset in active
                 if 0 <= (day - (ORACLE_START + timedelta(days=offset))).days < window}
        counts.append(len(today))
        seen |= today
        day += timedelta(days=1)
    return sum(counts) / len(counts), len(seen)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.tuples(st.sampled_from(["A:1", "A:2", "B:1", "B:3"]),
                         st.integers(min_value=0, max_value=100)), max_size=40))
def test_active_users_match_a_day_by_day_count(active):
    with Warehouse.open(EngineSection(url="duckdb:///:memory:"), Path("."), "UTC") as w:
        w.sql.execute("INSERT INTO customers (customer_id, name, started_at) VALUES "
                      "('A', 'A', '2023-01-01'), ('B', 'B', '2023-01-01')")
        rows = [(u.split(":")[0], u, ORACLE_START + timedelta(days=d), "e")
                for u, d in active]
        if rows:
            w.sql.executemany("INSERT INTO usage_events (customer_id, user_id, occurred_at, "
                              "event) VALUES (?, ?, ?, ?)", rows)
        # as of 20 February: the last month is partial, later events are ignored
        got = compute(w.ibis, Settings(), MetricRequest.create(
            ["dau", "wau", "mau", "stickiness"], period="month", start="2024-01-01",
            end="2024-02-20", as_of="2024-02-20"))
    if not active:  # no usage_events at all: unknown, not zero
        assert got.value.isna().all()
        assert got.null_reason.str.startswith("no usage_events loaded").all()
        return
    visible = {(u, d) for u, d in active if ORACLE_START + timedelta(days=d) <= date(2024, 2, 20)}
    for first, last in [(date(2024, 1, 1), date(2024, 1, 31)),
                        (date(2024, 2, 1), date(2024, 2, 20))]:
        row = {m: one(got, m, period_start=first) for m in ["dau", "wau", "mau", "stickiness"]}
        for name, window in [("dau", 1), ("wau", 7), ("mau", 30)]:
            mean, n = oracle(visible, first, last, window)
            assert row[name].value == pytest.approx(mean)
            assert row[name].n == n
        assert row["dau"].value <= row["wau"].value <= row["mau"].value
        if row["mau"].value > 0:
            assert row["stickiness"].value == pytest.approx(row["dau"].value / row["mau"].value)
            assert 0 <= row["stickiness"].value <= 1
        else:
            assert pd.isna(row["stickiness"].value)
