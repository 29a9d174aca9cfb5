"""Kaplan-Meier lifetimes: golden values from R's survival package, checks against lifelines,
curves computed by hand on tiny companies, and the real command."""

from __future__ import annotations

import json
import math
from datetime import date

import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_lung
from lifelines.statistics import multivariate_logrank_test
from lifelines.utils import restricted_mean_survival_time

from csmetrics import Workspace
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict.survival import (
    DAYS_PER_MONTH,
    analyse,
    kaplan_meier,
    lifetimes,
    logrank,
    mean_with_tail,
    median_time,
    restricted_mean,
    survival_curves,
)
from csmetrics.store import Warehouse
from tests.conftest import run_cli
from tests.metrics.revenue_fixtures import insert, memory_warehouse

AS_OF = date(2024, 12, 31)
M = DAYS_PER_MONTH

#: R's ``aml`` data set (survival package; Miller 1981), typed in: weeks to relapse,
#: 0 = censored (the "+" of the printed data).
AML_MAINTAINED = [(9, 1), (13, 1), (13, 0), (18, 1), (23, 1), (28, 0), (31, 1), (34, 1),
                  (45, 0), (48, 1), (161, 0)]
AML_NONMAINTAINED = [(5, 1), (5, 1), (8, 1), (8, 1), (12, 1), (16, 0), (23, 1), (27, 1),
                     (30, 1), (33, 1), (43, 1), (45, 1)]


def _aml() -> tuple[list[int], list[int], list[str]]:
    rows = AML_MAINTAINED + AML_NONMAINTAINED
    groups = ["Maintained"] * len(AML_MAINTAINED) + ["Nonmaintained"] * len(AML_NONMAINTAINED)
    return [t for t, _ in rows], [e for _, e in rows], groups


# -- golden values: R's survival package and lifelines ----------------------------------------


def test_lung_median_and_its_confidence_interval_against_r() -> None:
    # R: survfit(Surv(time, status) ~ 1, data = lung)
    #    n = 228, events = 165, median = 310, 0.95LCL = 285, 0.95UCL = 363 (conf.type "log")
    lung = load_lung()  # lifelines ships R's lung data, status recoded 1 = dead, 0 = censored
    row = analyse(lung["time"], lung["status"]).summary.iloc[0]
    assert (row["n"], row["events"]) == (228, 165)
    assert (row["median"], row["median_ci_lower"], row["median_ci_upper"]) == (310, 285, 363)


def test_aml_medians_against_r() -> None:
    # R: survfit(Surv(time, status) ~ x, data = aml)
    #    Maintained    n = 11 events = 7  median = 31 0.95LCL = 18 0.95UCL = NA
    #    Nonmaintained n = 12 events = 11 median = 23 0.95LCL = 8  0.95UCL = NA
    summary = analyse(*_aml()).summary.set_index("group")
    assert summary.loc["Maintained"].tolist()[:5] == [11, 7, 31, 18, None]
    assert summary.loc["Nonmaintained"].tolist()[:5] == [12, 11, 23, 8, None]


def test_aml_log_band_against_r_and_greenwood_by_hand() -> None:
    # R: summary(survfit(Surv(time, status) ~ x, data = aml)), Maintained: survival,
    # lower 95% CI, upper 95% CI at the event times 9, 13, 18, 23, 31, 34, 48
    r_survival = [0.909, 0.818, 0.716, 0.614, 0.491, 0.368, 0.184]
    r_lower = [0.7541, 0.6192, 0.4884, 0.3769, 0.2549, 0.1549, 0.0359]
    r_upper = [1.000, 1.000, 1.000, 0.999, 0.946, 0.875, 0.944]
    t, e = zip(*AML_MAINTAINED, strict=True)
    curve = kaplan_meier(t, e).set_index("time").loc[[9, 13, 18, 23, 31, 34, 48]]
    assert curve["survival"].tolist() == pytest.approx(r_survival, abs=5e-4)
    assert curve["ci_lower"].tolist() == pytest.approx(r_lower, abs=5e-5)
    assert curve["ci_upper"].tolist() == pytest.approx(r_upper, abs=5e-4)
    # by hand at t = 9: S = 10/11, Greenwood se(log S) = sqrt(1 / (11 x 10))
    se = math.sqrt(1 / 110)
    assert curve.loc[9, "ci_lower"] == pytest.approx(10 / 11 * math.exp(-1.959964 * se))


def test_log_log_band_is_lifelines_exponential_greenwood() -> None:
    lung = load_lung()
    ours = kaplan_meier(lung["time"], lung["status"], ci="log-log")
    kmf = KaplanMeierFitter().fit(lung["time"], lung["status"])
    theirs = kmf.confidence_interval_survival_function_
    assert ours["time"].tolist() == kmf.timeline.tolist()
    assert ours["survival"].to_numpy() == pytest.approx(
        kmf.survival_function_.iloc[:, 0].to_numpy(), rel=1e-12)
    inside = ((ours["survival"] > 0) & (ours["survival"] < 1)).to_numpy()
    for ci, column in (("ci_lower", 0), ("ci_upper", 1)):
        assert ours[ci].to_numpy()[inside] == pytest.approx(
            theirs.iloc[:, column].to_numpy()[inside], rel=1e-10)


def test_logrank_against_r_and_lifelines() -> None:
    # R: survdiff(Surv(time, status) ~ sex, data = lung): Chisq = 10.3 on 1 df, p = 0.001
    lung = load_lung()
    test = logrank(lung["time"], lung["status"], lung["sex"])
    assert test is not None
    assert (round(test.statistic, 1), test.degrees_of_freedom, round(test.p_value, 3)) == (
        10.3, 1, 0.001)
    theirs = multivariate_logrank_test(lung["time"], lung["sex"], lung["status"])
    assert test.statistic == pytest.approx(theirs.test_statistic, rel=1e-12)
    assert test.p_value == pytest.approx(theirs.p_value, rel=1e-12)
    # R: survdiff(Surv(time, status) ~ x, data = aml): Chisq = 3.4 on 1 df, p = 0.0653
    aml = analyse(*_aml()).logrank
    assert aml is not None
    assert (round(aml.statistic, 1), aml.degrees_of_freedom) == (3.4, 1)
    assert aml.p_value == pytest.approx(0.0653, abs=5e-5)
    # three groups: two degrees of freedom, as lifelines
    three = logrank(lung["time"], lung["status"], lung["ph.ecog"].fillna(1).clip(upper=2))
    theirs = multivariate_logrank_test(lung["time"], lung["ph.ecog"].fillna(1).clip(upper=2),
                                       lung["status"])
    assert three is not None and three.degrees_of_freedom == 2
    assert three.statistic == pytest.approx(theirs.test_statistic, rel=1e-12)


def test_rmst_against_lifelines() -> None:
    lung = load_lung()
    curve = kaplan_meier(lung["time"], lung["status"])
    kmf = KaplanMeierFitter().fit(lung["time"], lung["status"])
    for horizon in (100, 365.5, 1022):
        assert restricted_mean(curve["time"], curve["survival"], horizon) == pytest.approx(
            restricted_mean_survival_time(kmf, t=horizon), rel=1e-12)


# -- the maths by hand ---------------------------------------------------------------------------


def test_zero_durations_are_events_at_zero_as_in_lifelines() -> None:
    durations, events = [0, 0, 1, 2, 3], [1, 0, 1, 0, 1]
    curve = kaplan_meier(durations, events).set_index("time")
    # at 0: 5 at risk, 1 churned (and 1 censored): S(0) = 4/5; S(1) = 4/5 x 2/3
    assert curve.loc[0, ["at_risk", "events", "censored"]].tolist() == [5, 1, 1]
    assert curve["survival"].tolist() == pytest.approx([4 / 5, 8 / 15, 8 / 15, 0])
    kmf = KaplanMeierFitter().fit(durations, events)
    assert curve["survival"].tolist() == pytest.approx(kmf.survival_function_.iloc[:, 0])


def test_rmst_and_tail_by_hand() -> None:
    # churned at 0, 2 and 5, censored at 3: S = 3/4 on [0, 2), 1/2 on [2, 5), 0 from 5
    curve = kaplan_meier([0, 2, 3, 5], [1, 1, 0, 1])
    t, s = curve["time"], curve["survival"]
    assert restricted_mean(t, s, 4) == pytest.approx(2 * 3 / 4 + 2 * 1 / 2)
    assert restricted_mean(t, s) == pytest.approx(2 * 3 / 4 + 3 * 1 / 2)  # to the last time
    assert restricted_mean(t, s, 10) == pytest.approx(3.0)  # S = 0 after 5: known
    assert mean_with_tail(t, s) == pytest.approx(3.0)  # nobody left: no tail
    # churned at 1, censored at 2: S = 1/2 from 1; beyond 2 the curve is unknown
    t, s = [0, 1, 2], [1, 0.5, 0.5]
    assert restricted_mean(t, s, 3) is None
    assert mean_with_tail(t, s) == pytest.approx(1 + 0.5 + 0.5 * 2 / math.log(2))
    assert mean_with_tail([0, 3], [1, 1]) is None  # nobody churned: no hazard to extend


def test_median_not_reached_is_none_and_rs_midpoint_rule() -> None:
    row = analyse([1, 2, 3], [1, 0, 0]).summary.iloc[0]  # S stays at 2/3
    # the lower band (2/3 x exp(-1.96 x sqrt(1/6)) = 0.30) is below 1/2 from 1 on
    assert (row["median"], row["median_ci_lower"], row["median_ci_upper"]) == (None, 1, None)
    assert analyse([1, 2, 3], [1, 0, 0]).logrank is None  # one group, nothing to compare
    # R: survfit(Surv(1:4, rep(1, 4)) ~ 1) has median 2.5: S = 1/2 exactly on [2, 3)
    assert median_time(*kaplan_meier([1, 2, 3, 4], [1, 1, 1, 1])[["time", "survival"]].T.values
                       ) == 2.5


def test_bad_arrays_say_what_to_fix() -> None:
    with pytest.raises(UserInputError, match=">= 0"):
        kaplan_meier([1, -2], [1, 1])
    with pytest.raises(UserInputError, match="same"):
        kaplan_meier([1, 2], [1])
    with pytest.raises(UserInputError, match="1 \\(churned\\) or 0"):
        kaplan_meier([1, 2], [1, 2])
    with pytest.raises(UserInputError, match="log, log-log"):
        kaplan_meier([1, 2], [1, 1], ci="plain")


# -- customers' lifetimes from the warehouse ---------------------------------------------------


def _company(wh: Warehouse | None = None) -> Warehouse:
    """Six customers (into ``wh``, default a new in-memory warehouse), lifetimes in days as of
    2024-12-31 (E = churned, C = censored there): A 91 E, D 92 E, B 182 E, E 183 C, C 365 C,
    F 365 C (F's end is after the as-of day, so it is not known yet). A, B, C, F started in
    2024-Q1, D and E in 2024-Q3."""
    wh = wh or memory_warehouse()
    insert(wh, "customers", ("customer_id", "name", "started_at", "region"), [
        (c, c, "2024-01-01", "NA" if c in "ABC" else "EU") for c in "ABCDEF"])
    insert(wh, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), [
        ("sA", "A", "p", 10, "month", "2024-01-01", "2024-04-01"),
        ("sB", "B", "p", 10, "month", "2024-01-01", "2024-07-01"),
        ("sC", "C", "p", 10, "month", "2024-01-01", None),
        ("sD", "D", "p", 10, "month", "2024-07-01", "2024-10-01"),
        ("sE", "E", "p", 10, "month", "2024-07-01", None),
        ("sF", "F", "p", 10, "month", "2024-01-01", "2025-03-01"),
        ("sG", "G", "free", 0, "month", "2024-01-01", None),  # never paid: not a customer
    ])
    return wh


def test_kaplan_meier_by_hand() -> None:
    result = survival_curves(_company().ibis, Settings(), as_of=AS_OF)
    curve = result.curves.set_index("months")
    # S(91) = 5/6; S(92) = 5/6 x 4/5 = 4/6; S(182) = 4/6 x 3/4 = 1/2; then only censoring
    assert curve.loc[0, "survival"] == 1
    assert curve.loc[91 / M, "survival"] == pytest.approx(5 / 6)
    assert curve.loc[92 / M, "survival"] == pytest.approx(4 / 6)
    assert curve.loc[182 / M, "survival"] == pytest.approx(1 / 2)
    assert curve.loc[365 / M, "survival"] == pytest.approx(1 / 2)
    assert curve.loc[91 / M, "at_risk"] == 6 and curve.loc[182 / M, "at_risk"] == 4
    assert (curve["ci_lower"] <= curve["survival"]).all()
    assert (curve["survival"] <= curve["ci_upper"]).all()
    assert result.ci_transform == "log" and result.logrank is None
    row = result.summary.iloc[0]
    assert (row["customers"], row["churned"]) == (6, 3)
    # S reaches 1/2 at 182 days and stays there: R's median is 182 (lifelines' says never)
    assert row["median_months"] == pytest.approx(182 / M)
    # RMST to the last observed time: 91 x 1 + 1 x 5/6 + 90 x 4/6 + 183 x 1/2 days
    assert row["rmst_horizon_months"] == pytest.approx(365 / M)
    assert row["rmst_months"] == pytest.approx((91 + 5 / 6 + 60 + 91.5) / M)
    assert "mean_with_tail_months" not in result.summary  # an extrapolation: only on request
    assert result.rmst_to == "the last observed time of each segment"

    six = survival_curves(_company().ibis, Settings(), as_of=AS_OF, horizon_months=6,
                          tail=True)
    row = six.summary.iloc[0]
    horizon = 6 * M  # 182.6 days
    assert row["rmst_months"] == pytest.approx((91 + 5 / 6 + 60 + (horizon - 182) / 2) / M)
    assert row["mean_with_tail_months"] == pytest.approx(
        (91 + 5 / 6 + 60 + 91.5 + 0.5 * 365 / math.log(2)) / M)
    assert six.rmst_to == "6 months"


def test_zero_length_lifetimes_are_churn_at_zero() -> None:
    """Paid service that starts and ends the same day is a lifetime of 0 days that churned
    (free service like that is still not a customer)."""
    wh = _company()
    insert(wh, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), [
        ("sZ", "Z", "p", 10, "month", "2024-03-01", "2024-03-01"),
        ("sY", "Y", "free", 0, "month", "2024-03-01", "2024-03-01"),
    ])
    data = lifetimes(wh.ibis, Settings(), AS_OF).set_index("customer_id")
    assert "Y" not in data.index
    assert data.loc["Z", ["months", "churned"]].tolist() == [0, 1]
    result = survival_curves(wh.ibis, Settings(), as_of=AS_OF)
    at_zero = result.curves.set_index("months").loc[0]
    assert at_zero[["at_risk", "churned"]].tolist() == [7, 1]
    assert at_zero["survival"] == pytest.approx(6 / 7)
    assert result.summary.iloc[0][["customers", "churned"]].tolist() == [7, 4]


def test_open_lifetimes_are_censored_on_the_as_of_day() -> None:
    """As-of day minus start day, as a churned lifetime is end day minus start day: a
    customer leaving on the as-of day and one still paying then have the same length."""
    wh = memory_warehouse()
    insert(wh, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                 "billing_interval", "start_date", "end_date"), [
        ("s1", "left", "p", 10, "month", "2024-12-01", "2024-12-31"),
        ("s2", "open", "p", 10, "month", "2024-12-01", None),
        ("s3", "later", "p", 10, "month", "2024-12-01", "2025-01-15"),
        ("s4", "today", "p", 10, "month", "2024-12-31", None),
    ])
    data = lifetimes(wh.ibis, Settings(), AS_OF).set_index("customer_id")
    assert data["months"].mul(M).round(9).to_dict() == {
        "left": 30, "open": 30, "later": 30, "today": 0}
    assert data["churned"].to_dict() == {"left": 1, "open": 0, "later": 0, "today": 0}


def test_by_cohort_and_by_segment() -> None:
    wh = _company()
    cohorts = survival_curves(wh.ibis, Settings(), by="cohort", as_of=AS_OF).summary
    assert cohorts.set_index("segment")["customers"].to_dict() == {"2024-Q1": 4, "2024-Q3": 2}
    q3 = cohorts.set_index("segment").loc["2024-Q3"]
    assert q3["churned"] == 1  # D churns, E is censored
    regions = survival_curves(wh.ibis, Settings(), by="region", as_of=AS_OF)
    assert regions.summary.set_index("segment")["churned"].to_dict() == {"EU": 1, "NA": 2}
    # NA: A 91 E, B 182 E, C 365 C -> S(91) = 2/3, S(182) = 1/3: the median is 182 days
    na = regions.summary.set_index("segment").loc["NA"]
    assert na["median_months"] == pytest.approx(182 / M)
    data = lifetimes(wh.ibis, Settings(), AS_OF, "region")
    theirs = multivariate_logrank_test(data["months"], data["segment"], data["churned"])
    assert regions.logrank is not None
    assert regions.logrank.statistic == pytest.approx(theirs.test_statistic, rel=1e-12)
    assert regions.logrank.p_value == pytest.approx(theirs.p_value, rel=1e-12)


def test_as_of_hides_later_churn() -> None:
    # as of 2024-05-01 only A has churned; B's end (July) is not known yet
    result = survival_curves(_company().ibis, Settings(), as_of=date(2024, 5, 1))
    assert result.summary.iloc[0]["churned"] == 1
    assert result.summary.iloc[0]["customers"] == 4  # D, E start later


def test_clear_errors() -> None:
    with pytest.raises(UserInputError, match="load subscriptions"):
        survival_curves(memory_warehouse().ibis, Settings(), as_of=AS_OF)
    with pytest.raises(UserInputError, match="not a customer column"):
        survival_curves(_company().ibis, Settings(), by="agent", as_of=AS_OF)
    with pytest.raises(UserInputError, match="positive number of months"):
        survival_curves(_company().ibis, Settings(), as_of=AS_OF, horizon_months=0)


def test_a_run_stores_its_curves_unless_told_not_to() -> None:
    """The dashboard draws curves without storing them (a page view only reads)."""
    from csmetrics.predict.service import survival

    wh = _company()
    count = "SELECT count(*) FROM _survival_summary"
    shown = survival(wh, Settings(), "region", AS_OF, store=False)
    assert not shown.curves.empty and wh.sql.execute(count).fetchall() == [(0,)]
    survival(wh, Settings(), "region", AS_OF)
    assert wh.sql.execute(count).fetchall() == [(len(shown.summary),)]


def test_clv_method_one_can_take_its_lifespan_from_the_survival_curve() -> None:
    """[metrics] lifespan_source = "survival": CLV = APV x frequency x the lifespan of the
    last overall run: the mean with its constant-hazard tail, whether the run showed it or
    the restricted mean (which stops at the last observed month)."""
    from csmetrics.metrics import MetricRequest, compute
    from csmetrics.predict.service import survival

    wh = _company()
    insert(wh, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
        ("o1", "C", "2024-11-05 10:00:00", 100, "paid"),
        ("o2", "C", "2024-12-05 10:00:00", 300, "paid"),
    ])
    settings = Settings.from_mapping({"metrics": {"clv_method": 1,
                                                  "lifespan_source": "survival"}})
    request = MetricRequest.create("clv", start="2024-12-01", end="2024-12-31")
    before = compute(wh.ibis, settings, request).iloc[0]
    assert before.value != before.value and "run 'csmetrics survival'" in before.null_reason
    years = survival(wh, settings, None, AS_OF, tail=True).summary.iloc[0][
        "mean_with_tail_months"] / 12
    for tail in (False, True):
        summary = survival(wh, settings, None, AS_OF, tail=tail).summary.iloc[0]
        row = compute(wh.ibis, settings, request).iloc[0]
        assert row.lifespan_years == pytest.approx(years)
        assert summary["rmst_months"] / 12 < years  # the tail adds the unobserved part
        assert row.value == pytest.approx(row.average_purchase_value * row.purchase_frequency
                                          * years)


# -- the real command ---------------------------------------------------------------------------


def test_survival_command(ws: Workspace) -> None:
    _company(ws.warehouse)
    ws.close()  # the command opens the warehouse itself
    w = ("--as-of", AS_OF.isoformat(), "--workspace", str(ws.root))
    out = json.loads(run_cli("survival", "--by", "region", "--ci", "log-log", "--horizon", "6",
                             "--format", "json", *w).stdout)
    assert (out["ci_transform"], out["confidence"], out["rmst_to"]) == ("log-log", 0.95,
                                                                       "6 months")
    ours = survival_curves(_company().ibis, Settings(), by="region", as_of=AS_OF,
                           ci="log-log", horizon_months=6)
    assert ours.logrank is not None
    assert out["logrank"] == {"statistic": ours.logrank.statistic, "degrees_of_freedom": 1,
                              "p_value": ours.logrank.p_value}
    na = {s["segment"]: s for s in out["segments"]}["NA"]
    assert na["median_months"] == 182 / M  # full precision in JSON
    assert na["median_ci_upper"] is None  # the upper band never reaches 1/2
    printed = [p["survival"] for p in na["curve"]]
    assert printed == pytest.approx([1, 2 / 3, 1 / 3, 1 / 3])
    assert printed == ours.curves.query("segment == 'NA'")["survival"].tolist()  # not rounded
    assert na["rmst_months"] == ours.summary.set_index("segment").loc["NA", "rmst_months"]
    assert "mean_with_tail_months" not in na

    table = run_cli("survival", *w).stdout
    assert "log transform" in table and "RMST to the last observed time" in table
    assert "Log-rank" not in table  # one segment: nothing to compare
    bad = run_cli("survival", "--ci", "plain", *w, check=False)
    assert bad.returncode == 2 and "log, log-log" in bad.stderr
