"""Satisfaction, loyalty and advocacy metrics against figures computed by hand."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csmetrics import Workspace
from csmetrics.config import EngineSection, Settings
from csmetrics.metrics import MetricRequest, compute, get_metric
from csmetrics.metrics.definition import Direction
from csmetrics.store import Warehouse
from tests.conftest import write_csv
from tests.metrics.revenue_fixtures import data_through

JAN_MAR = {"start": "2024-01-01", "end": "2024-03-31"}
SURVEY_HEADER = ["response_id", "customer_id", "survey", "score", "responded_at", "scale_max",
                 "employee", "location"]


def load(ws: Workspace, table: str, header: Sequence[str], rows: Sequence[Sequence[object]]
         ) -> None:
    """Write ``rows`` to a CSV file and ingest it into ``table``."""
    path = write_csv(ws.root / f"{table}.csv", header, rows)
    ws.ingest(table, [path])


def customers(ws: Workspace, rows: Sequence[Sequence[object]],
              header: Sequence[str] = ("customer_id", "name", "started_at", "region")) -> None:
    load(ws, "customers", header, rows)


def answers(ws: Workspace, rows: Sequence[Sequence[object]]) -> None:
    """Survey answers: (survey, score, responded_at[, scale_max, employee, location]), all
    from customer C1 unless a 7th item names the customer."""
    full = []
    for i, row in enumerate(rows):
        survey, score, at, *rest = row
        rest = list(rest) + [None] * (4 - len(rest))
        scale_max, employee, location, customer = rest
        full.append([f"R{i}", customer or "C1", survey, score, at, scale_max, employee,
                     location])
    load(ws, "survey_responses", SURVEY_HEADER, full)


def rows_of(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The metric's rows in period order, indexed by period start (ISO text)."""
    got = frame[frame.metric == metric].copy()
    got.index = got.period_start.astype(str)
    return got


def val(x: object) -> float | None:
    return None if pd.isna(x) else round(float(x), 6)


@pytest.fixture
def one_customer(ws: Workspace) -> Workspace:
    customers(ws, [["C1", "Acme", "2023-01-01", "EMEA"], ["C2", "Beta", "2023-01-01", "NA"]])
    return ws


# -- NPS -----------------------------------------------------------------------------------


def test_nps_ten_answers_by_hand(one_customer):
    # 10 answers in January: 5 promoters (9-10), 3 passives (7-8), 2 detractors (0-6)
    scores = [10, 9, 9, 10, 9, 7, 8, 8, 3, 6]
    answers(one_customer, [("nps", s, f"2024-01-{i + 10} 12:00:00") for i, s in
                           enumerate(scores)])
    data_through(one_customer, "2024-03-31")
    got = rows_of(one_customer.query("nps", **JAN_MAR), "nps")
    jan = got.loc["2024-01-01"]
    # NPS = 50 % - 20 % = 30
    assert jan.value == pytest.approx(30.0)
    assert jan.n == 10
    assert (jan.promoters, jan.passives, jan.detractors) == pytest.approx((0.5, 0.3, 0.2))
    # var = (0.5 + 0.2 - (0.5 - 0.2)^2) / 10 = 0.061; half = 1.96 x 100 x sqrt(0.061) = 48.41
    assert jan.ci_low == pytest.approx(30 - 48.408, abs=0.01)
    assert jan.ci_high == pytest.approx(30 + 48.408, abs=0.01)
    # February and March: no answers -> empty with a reason, n = 0
    for month in ("2024-02-01", "2024-03-01"):
        assert pd.isna(got.loc[month, "value"])
        assert got.loc[month, "null_reason"] == "no NPS answers in the period"
        assert got.loc[month, "n"] == 0


def test_nps_is_promoters_minus_detractors_not_the_articles_reverse(one_customer):
    # fifteen-cs-metrics.txt: "subtract the percentage of promoters from the percentage of
    # detractors" -- backwards. 8 promoters and 2 detractors is a good score: +60, not -60.
    answers(one_customer, [("nps", 10, "2024-01-05")] * 8 + [("nps", 0, "2024-01-06")] * 2)
    got = rows_of(one_customer.query("nps", start="2024-01-01", end="2024-01-31"), "nps")
    assert got.value.iloc[0] == pytest.approx(60.0)
    assert get_metric("nps").direction is Direction.UP


def test_nps_extremes_and_clipped_interval(one_customer):
    answers(one_customer, [("nps", 10, "2024-01-05")] * 3 + [("nps", 6, "2024-02-05")] * 4
            + [("nps", 9, "2024-03-05"), ("nps", 0, "2024-03-06")])
    got = rows_of(one_customer.query("nps", **JAN_MAR), "nps")
    assert [val(v) for v in got.value] == [100.0, -100.0, 0.0]
    # all answers in one group: variance 0, interval [100, 100] / [-100, -100]
    assert [val(v) for v in got.ci_high] == [100.0, -100.0, 100.0]
    # March: p = d = 0.5 -> var = (1 - 0) / 2, half = 1.96 x 100 x 0.7071 = 138.6 -> clipped
    assert val(got.loc["2024-03-01", "ci_low"]) == -100.0


def test_nps_other_scales_are_rescaled_to_0_10(one_customer):
    # scale_max 5: 5 -> 10 and 4.5 -> 9 promoters, 4 -> 8 passive, 3 -> 6 detractor;
    # scale_max 100: 95 -> 9.5 promoter
    answers(one_customer, [("nps", 5, "2024-01-02", 5), ("nps", 4.5, "2024-01-02", 5),
                           ("nps", 4, "2024-01-02", 5), ("nps", 3, "2024-01-02", 5),
                           ("nps", 95, "2024-01-02", 100)])
    got = rows_of(one_customer.query("nps", start="2024-01-01", end="2024-01-31"), "nps")
    assert got.value.iloc[0] == pytest.approx(100 * (3 - 1) / 5)


def test_nps_by_segment_and_customer_and_time_zone(tmp_path: Path):
    with Workspace.init(tmp_path / "berlin", timezone="Europe/Berlin") as ws:
        customers(ws, [["C1", "Acme", "2023-01-01", "EMEA"], ["C2", "Beta", "2023-01-01", "NA"]])
        answers(ws, [
            ("nps", 10, "2024-01-10 09:00:00", None, None, None, "C1"),
            ("nps", 2, "2024-01-11 09:00:00", None, None, None, "C2"),
            # 23:30 UTC on 31 January is 00:30 on 1 February in Berlin
            ("nps", 9, "2024-01-31T23:30:00+00:00", None, None, None, "C2"),
        ])
        by_region = ws.query("nps", start="2024-01-01", end="2024-02-29", by="region")
        emea = rows_of(by_region[by_region.region == "EMEA"], "nps")
        na = rows_of(by_region[by_region.region == "NA"], "nps")
        assert val(emea.loc["2024-01-01", "value"]) == 100.0
        assert val(na.loc["2024-01-01", "value"]) == -100.0
        assert val(na.loc["2024-02-01", "value"]) == 100.0     # the late answer is February's
        assert emea.loc["2024-02-01", "null_reason"] == "no NPS answers in the period"
        one = rows_of(ws.query("nps", start="2024-01-01", end="2024-01-31", customer="C2"),
                      "nps")
        assert (val(one.value.iloc[0]), one.n.iloc[0]) == (-100.0, 1)


# -- CSAT and CES --------------------------------------------------------------------------

CSAT_ANSWERS = [
    # 1-5 scale (the survey's default): 5 and 4 positive, 3 and 2 not
    ("csat", 5, "2024-01-03"), ("csat", 4, "2024-01-03"), ("csat", 3, "2024-01-03"),
    ("csat", 2, "2024-01-03"),
    # 1-10 scale: 7, 8 and 10 positive by default (>= 7), 6 not
    ("csat", 7, "2024-01-04", 10), ("csat", 8, "2024-01-04", 10), ("csat", 6, "2024-01-04", 10),
    ("csat", 10, "2024-01-04", 10),
]


def csat_with(ws: Workspace, metrics: dict[str, float]) -> pd.DataFrame:
    config = Settings.from_mapping({"metrics": metrics})
    request = MetricRequest.create("csat", start="2024-01-01", end="2024-01-31")
    return compute(ws.warehouse.ibis, config, request)


def test_csat_both_scales_with_wilson_interval(one_customer):
    answers(one_customer, CSAT_ANSWERS)
    data_through(one_customer, "2024-02-29")
    got = rows_of(one_customer.query("csat", start="2024-01-01", end="2024-02-29"), "csat")
    jan = got.loc["2024-01-01"]
    # 2 of 4 on the 1-5 scale + 3 of 4 on the 1-10 scale = 5 / 8
    assert (jan.value, jan.n, jan.positive) == (0.625, 8, 5)
    # Wilson, z = 1.96, p = 0.625, n = 8: centre (p + z^2/2n) / (1 + z^2/n) = 0.5845,
    # half (z / (1 + z^2/n)) sqrt(p(1-p)/n + z^2/4n^2) = 0.2787
    assert (jan.ci_low, jan.ci_high) == pytest.approx((0.3057, 0.8632), abs=1e-3)
    assert got.loc["2024-02-01", "null_reason"] == "no CSAT answers in the period"


def test_csat_thresholds_are_settings(one_customer):
    answers(one_customer, CSAT_ANSWERS)
    # the article's 8-10: on the 1-10 scale only 8 and 10 -> (2 + 2) / 8
    assert csat_with(one_customer, {"csat_positive_min_10": 8}).value.iloc[0] == 0.5
    # only 5 counts on the 1-5 scale: (1 + 3) / 8
    assert csat_with(one_customer, {"csat_positive_min_5": 5}).value.iloc[0] == 0.5
    both = csat_with(one_customer, {"csat_positive_min_5": 5, "csat_positive_min_10": 9})
    assert both.value.iloc[0] == 2 / 8 and both.positive.iloc[0] == 2


def test_ces_mean_easy_share_and_interval(one_customer):
    answers(one_customer, [("ces", s, "2024-01-08") for s in (7, 6, 5, 4, 2)])
    got = rows_of(one_customer.query("ces", start="2024-01-01", end="2024-01-31"), "ces")
    jan = got.loc["2024-01-01"]
    # mean 24 / 5 = 4.8; sample sd = sqrt(14.8 / 4) = 1.9235; half = 1.96 x 1.9235 / sqrt 5
    assert (jan.value, jan.n, jan.easy_share) == pytest.approx((4.8, 5, 0.6))   # 7, 6, 5
    assert (jan.ci_low, jan.ci_high) == pytest.approx((3.1139, 6.4861), abs=1e-3)
    config = Settings.from_mapping({"metrics": {"ces_easy_min": 6}})
    stricter = compute(one_customer.warehouse.ibis, config,
                       MetricRequest.create("ces", start="2024-01-01", end="2024-01-31"))
    assert stricter.easy_share.iloc[0] == pytest.approx(0.4)


def test_ces_single_answer_and_other_scale(one_customer):
    # 1-5 scale mapped onto 1-7: 1 + (4 - 1) x 6 / 4 = 5.5
    answers(one_customer, [("ces", 4, "2024-01-08", 5)])
    got = one_customer.query("ces", start="2024-01-01", end="2024-01-31")
    assert got.value.iloc[0] == pytest.approx(5.5)
    assert pd.isna(got.ci_low.iloc[0])        # no interval from one answer
    assert got.easy_share.iloc[0] == 1.0


# -- ratings -------------------------------------------------------------------------------


def test_employee_rating_weekly_decline(one_customer):
    rows = [
        ("employee_review", 1, "2024-01-03", None, "Ann"),   # 5 weeks before: outside
        ("employee_review", 5, "2024-01-09", None, "Ann"),   # the 4 weeks before 5 Feb
        ("employee_review", 5, "2024-01-16", None, "Ann"),
        ("employee_review", 8, "2024-01-23", 10, "Ann"),     # 8 of 10 = 4 of 5
        ("employee_review", 5, "2024-02-02", None, "Ann"),
        ("employee_review", 3, "2024-02-05", None, "Ann"),   # the week of 5 February
        ("employee_review", 4, "2024-02-11 23:59:00", None, "Ann"),
        ("employee_review", 4, "2024-02-07", None, "Bob"),   # Bob's first review
        ("employee_review", 2, "2024-02-07", None, None),    # no employee: left out
        ("employee_review", 5, "2024-02-14", None, "Bob"),   # the next week: Bob only
    ]
    answers(one_customer, rows)
    got = one_customer.query("employee_rating", period="week", start="2024-02-05",
                             end="2024-02-18")
    week = got[got.period_start.astype(str) == "2024-02-05"].set_index("employee")
    ann, bob = week.loc["Ann"], week.loc["Bob"]
    assert set(got.employee) == {"Ann", "Bob"}
    # this week (3 + 4) / 2 = 3.5; the 4 weeks before: (5 + 5 + 4 + 5) / 4 = 4.75
    assert (ann.value, ann.n, ann.previous_mean, ann.previous_n) == (3.5, 2, 4.75, 4)
    assert ann.change == pytest.approx(-1.25)
    # sd of (3, 4) = 0.7071: 3.5 +/- 1.96 x 0.7071 / sqrt 2 = 3.5 +/- 0.98
    assert (ann.ci_low, ann.ci_high) == pytest.approx((2.52, 4.48), abs=1e-3)
    assert (bob.value, bob.n, bob.previous_n) == (4.0, 1, 0)
    assert pd.isna(bob.change) and pd.isna(bob.previous_mean)
    # the next week: Ann has no review -> empty with a reason; Bob 5 against his 4 before
    nxt = got[got.period_start.astype(str) == "2024-02-12"].set_index("employee")
    assert pd.isna(nxt.loc["Ann", "value"]) and nxt.loc["Ann", "n"] == 0
    assert nxt.loc["Ann", "null_reason"] == "no reviews of this employee in the period"
    assert (nxt.loc["Bob", "value"], nxt.loc["Bob", "previous_mean"]) == (5.0, 4.0)
    assert nxt.loc["Bob", "change"] == 1.0


def test_public_review_rating_per_location(one_customer):
    answers(one_customer, [
        ("public_review", 5, "2024-01-02", None, None, "Paris"),
        ("public_review", 4, "2024-01-03", None, None, "Paris"),
        ("public_review", 6, "2024-01-04", 10, None, "Paris"),   # 6 of 10 = 3 of 5
        ("public_review", 2, "2024-01-05", None, None, "Berlin"),
        ("public_review", 5, "2024-02-05", None, None, "Berlin"),
    ])
    got = one_customer.query("public_review_rating", **JAN_MAR)
    jan = got[got.period_start.astype(str) == "2024-01-01"].set_index("location")
    # Paris (5 + 4 + 3) / 3 = 4, sd 1: 4 +/- 1.96 / sqrt 3
    assert (jan.loc["Paris", "value"], jan.loc["Paris", "n"]) == (4.0, 3)
    assert jan.loc["Paris", "ci_low"] == pytest.approx(2.8684, abs=1e-3)
    assert (jan.loc["Berlin", "value"], jan.loc["Berlin", "n"]) == (2.0, 1)
    mar = got[got.period_start.astype(str) == "2024-03-01"]
    assert set(mar.n) == {0} and set(mar.location) == {"Paris", "Berlin"}


# -- referrals -----------------------------------------------------------------------------

REFERRAL_CUSTOMERS = [
    # customer_id, name, started_at, plan, referred_by
    ["A", "A", "2023-06-01", "pro", None],
    ["B", "B", "2024-01-10", "basic", "A"],
    ["C", "C", "2024-02-03", "basic", "A"],    # also lead L2, created 25 January
    ["D", "D", "2024-02-15", "basic", "B"],
    ["S", "S", "2024-02-20", "basic", "S"],    # names itself: ignored
]
REFERRAL_SUBS = [
    ["SA", "A", "pro", 100, "month", "2023-06-01", None],
    ["SB", "B", "basic", 50, "month", "2024-01-10", None],
    ["SC", "C", "basic", 50, "month", "2024-02-03", None],
    ["SD", "D", "basic", 50, "month", "2024-02-15", None],
]
SUB_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
              "start_date", "end_date"]


@pytest.fixture
def referral_story(ws: Workspace) -> Workspace:
    customers(ws, REFERRAL_CUSTOMERS, ("customer_id", "name", "started_at", "plan",
                                       "referred_by"))
    load(ws, "subscriptions", SUB_HEADER, REFERRAL_SUBS)
    load(ws, "leads", ["lead_id", "created_at", "channel", "converted_at", "customer_id",
                       "referred_by"], [
        ["L1", "2024-01-20 10:00:00", "referral", None, None, "A"],      # never converted
        ["L2", "2024-01-25 10:00:00", "referral", "2024-02-03 09:00:00", "C", "A"],
        ["L3", "2024-01-26 10:00:00", "paid_search", None, None, None],
    ])
    data_through(ws, "2024-03-31")
    return ws


def test_referrals_per_customer(referral_story):
    got = rows_of(referral_story.query("referrals", **JAN_MAR), "referrals")
    # January: A introduced B (start 10 Jan), L1 (20 Jan) and C via L2 (25 Jan, counted once)
    # February: B introduced D. March: nobody.
    assert [val(v) for v in got.value] == [3.0, 1.0, 0.0]
    # active customers: Jan A, B; Feb and Mar A, B, C, D
    assert list(got.n) == [2, 4, 4]
    assert [val(v) for v in got.per_customer] == [1.5, 0.25, 0.0]
    assert [val(v) for v in got.referrers] == [1.0, 1.0, 0.0]
    only_a = rows_of(referral_story.query("referrals", customer="A", **JAN_MAR), "referrals")
    assert [val(v) for v in only_a.value] == [3.0, 0.0, 0.0]
    by_plan = referral_story.query("referrals", by="plan", **JAN_MAR)
    feb = by_plan[by_plan.period_start.astype(str) == "2024-02-01"].set_index("plan")
    assert feb.loc["basic", "value"] == 1 and feb.loc["pro", "value"] == 0   # the referrer's


def test_introducer_share(referral_story):
    got = rows_of(referral_story.query("introducer_share", **JAN_MAR), "introducer_share")
    # Jan: A of (A, B). Feb: A and B of (A, B, C, D). Mar: the same, cumulatively.
    assert [val(v) for v in got.value] == [0.5, 0.5, 0.5]
    # introductions made in the period itself: Jan A; Feb B; Mar nobody
    assert [val(v) for v in got.in_period_share] == [0.5, 0.25, 0.0]
    empty = referral_story.query("introducer_share", start="2023-01-01", end="2023-01-31")
    assert empty.null_reason.iloc[0] == "no active customers in the period"


NEW_CUSTOMERS = [
    # customer_id, name, started_at, acquisition_channel, referred_by
    ["N1", "N1", "2024-01-05", "Referral", None],
    ["N2", "N2", "2024-01-06", "organic", None],
    ["N3", "N3", "2024-01-07", "paid_search", None],
    ["N4", "N4", "2024-01-08", None, "N1"],            # referred: a referral
    ["N5", "N5", "2024-01-09", "Word of Mouth", None],  # organic
    ["N6", "N6", "2024-01-10", None, None],            # unknown
    ["N7", "N7", "2024-02-20", "outbound", None],
]


def test_referral_and_organic_share_of_new(ws):
    customers(ws, NEW_CUSTOMERS, ("customer_id", "name", "started_at", "acquisition_channel",
                                  "referred_by"))
    load(ws, "subscriptions", SUB_HEADER, [
        ["S1", "N1", "p", 100, "month", "2024-01-05", None],
        ["S2", "N2", "p", 200, "month", "2024-01-06", None],
        ["S3", "N3", "p", 300, "month", "2024-01-07", None],
        ["S4", "N4", "p", 400, "month", "2024-01-08", None],
    ])
    data_through(ws, "2024-03-31")
    got = ws.query(["referral_share_of_new", "organic_share_of_new"], **JAN_MAR)
    ref = rows_of(got, "referral_share_of_new")
    org = rows_of(got, "organic_share_of_new")
    jan_ref, jan_org = ref.loc["2024-01-01"], org.loc["2024-01-01"]
    # 6 new in January: referral N1, N4; organic N2, N5; paid N3; unknown N6
    assert (jan_ref.value, jan_ref.n) == (pytest.approx(2 / 6), 6)
    assert jan_org.value == pytest.approx(2 / 6)
    # new MRR 100 + 200 + 300 + 400 = 1000: referral 500, organic 200
    assert (jan_ref.mrr_share, jan_org.mrr_share) == pytest.approx((0.5, 0.2))
    shares = (jan_ref.warm_share, jan_ref.cold_share, jan_ref.unknown_share)
    assert shares == pytest.approx((4 / 6, 1 / 6, 1 / 6))
    assert sum(shares) == pytest.approx(1.0)
    # February: N7 (outbound) is new, without MRR; March: nobody new
    assert (ref.loc["2024-02-01", "value"], ref.loc["2024-02-01", "cold_share"]) == (0.0, 1.0)
    assert pd.isna(ref.loc["2024-02-01", "mrr_share"])
    assert ref.loc["2024-03-01", "null_reason"] == "no new customers in the period"


def test_ideas_submitted(referral_story):
    load(referral_story, "feedback", ["feedback_id", "customer_id", "submitted_at", "kind",
                                      "text"], [
        ["F1", "A", "2024-01-03 10:00:00", "idea", "dark mode"],
        ["F2", "A", "2024-01-04 10:00:00", "feature_request", "SSO"],
        ["F3", "B", "2024-01-05 10:00:00", "complaint", "slow"],       # not an idea
        ["F4", "B", "2024-02-05 10:00:00", "idea", "API"],
    ])
    got = rows_of(referral_story.query("ideas_submitted", **JAN_MAR), "ideas_submitted")
    assert [val(v) for v in got.value] == [2.0, 1.0, 0.0]
    assert [val(v) for v in got.per_customer] == [1.0, 0.25, 0.0]   # / 2, 4, 4 active
    assert [val(v) for v in got.submitters] == [1.0, 1.0, 0.0]
    nothing = referral_story.query("ideas_submitted", start="2023-01-01", end="2023-01-31")
    assert (nothing.value.iloc[0], nothing.n.iloc[0]) == (0.0, 0)


# -- invariants ----------------------------------------------------------------------------


def memory_warehouse() -> Warehouse:
    return Warehouse.open(EngineSection(url="duckdb:///:memory:"), Path("."), "UTC")


@st.composite
def nps_answers(draw: st.DrawFn) -> list[tuple[str, float, str]]:
    """Up to 40 answers over three months, some on a 0-5 scale."""
    out = []
    for _ in range(draw(st.integers(1, 40))):
        month = draw(st.integers(1, 3))
        top = draw(st.sampled_from([10, 10, 10, 5]))
        score = draw(st.integers(0, top))
        out.append((f"2024-0{month}-{draw(st.integers(1, 28)):02d}", float(score), top))
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nps_answers())
def test_nps_within_bounds_and_interval_contains_it(rows):
    with memory_warehouse() as warehouse:
        warehouse.sql.execute("INSERT INTO customers (customer_id, name, started_at) "
                              "VALUES ('C1', 'C1', DATE '2023-01-01')")
        warehouse.sql.executemany(
            "INSERT INTO survey_responses (response_id, customer_id, survey, score, "
            "responded_at, scale_max) VALUES (?, 'C1', 'nps', ?, ?, ?)",
            [[f"R{i}", score, day, top] for i, (day, score, top) in enumerate(rows)])
        data_through(warehouse, "2024-03-31")
        got = compute(warehouse.ibis, Settings(),
                      MetricRequest.create("nps", start="2024-01-01", end="2024-03-31"))
    assert got.n.sum() == len(rows)
    for _, row in got[got.n > 0].iterrows():
        assert -100 <= row.value <= 100
        assert -100 <= row.ci_low <= row.value + 1e-9
        assert row.value - 1e-9 <= row.ci_high <= 100
        assert row.promoters + row.passives + row.detractors == pytest.approx(1.0)
        assert row.value == pytest.approx(100 * (row.promoters - row.detractors))
    for _, row in got[got.n == 0].iterrows():
        assert math.isnan(row.value) and row.null_reason == "no NPS answers in the period"
