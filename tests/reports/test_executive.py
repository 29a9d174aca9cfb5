"""The executive report on a small demo company: its content against the metrics computed
independently, its periods by hand, and the HTML and PDF as a reader gets them."""

from __future__ import annotations

import re
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from PIL import Image

from csmetrics import Workspace
from csmetrics.errors import UserInputError
from csmetrics.metrics.periods import Calendar
from csmetrics.reports.charts import report_charts
from csmetrics.reports.executive import FALL_POINTS, build_report, report_period
from csmetrics.reports.render import render_html, render_pdf
from tests.reports.demo import demo_workspace


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):
    with Workspace.load(demo_workspace(tmp_path_factory)) as workspace:
        yield workspace


@pytest.fixture(scope="module")
def monthly(ws):
    return build_report(ws, "monthly")


@pytest.fixture(scope="module")
def pdf(monthly, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "monthly.pdf"
    path.write_bytes(render_pdf(monthly))
    return path


# -- periods, by hand ------------------------------------------------------------------------


@pytest.mark.parametrize(("cadence", "day", "calendar", "expected"), [
    # 2026-03-04 is a Wednesday: the last complete Monday-week is 23 Feb - 1 Mar
    ("weekly", date(2026, 3, 4), Calendar(), (date(2026, 2, 23), date(2026, 3, 1))),
    ("weekly", date(2026, 3, 4), Calendar(week_start="sunday"),
     (date(2026, 2, 22), date(2026, 2, 28))),
    # a Sunday ends its Monday-week: that week is complete
    ("weekly", date(2026, 3, 1), Calendar(), (date(2026, 2, 23), date(2026, 3, 1))),
    ("monthly", date(2026, 3, 31), Calendar(), (date(2026, 3, 1), date(2026, 3, 31))),
    ("monthly", date(2026, 3, 30), Calendar(), (date(2026, 2, 1), date(2026, 2, 28))),
    ("quarterly", date(2026, 5, 10), Calendar(), (date(2026, 1, 1), date(2026, 3, 31))),
    # fiscal year from February: quarters Feb-Apr, May-Jul, ...
    ("quarterly", date(2026, 5, 10), Calendar(year_start_month=2),
     (date(2026, 2, 1), date(2026, 4, 30))),
])
def test_report_period_is_the_last_complete_one(cadence, day, calendar, expected):
    period = report_period(cadence, day, calendar)
    assert (period.start, period.end) == expected


def test_an_unknown_cadence_is_refused():
    with pytest.raises(UserInputError, match="weekly, monthly, quarterly"):
        report_period("daily", date(2026, 3, 1))


# -- content against the metrics -----------------------------------------------------------


def test_headline_mrr_is_the_metric_of_the_period(ws, monthly):
    period = monthly.period
    frame = ws.query("mrr", period="month", start=period.start, end=period.end)
    mrr = float(frame.value.iloc[0])
    assert monthly.kpi("mrr").value == pytest.approx(mrr)
    assert monthly.kpi("mrr").display == f"{mrr:,.2f} USD"
    # the month is the one the headline KPIs show
    headline = {k.definition.name: k for k in ws.headline()}
    assert period.start == headline["mrr"].period_start
    assert monthly.kpi("nrr").value == pytest.approx(headline["nrr"].value)
    assert monthly.kpi("mrr").previous == pytest.approx(headline["mrr"].previous)


def test_movements_add_up_to_the_mrr_change(monthly):
    mrr = monthly.kpi("mrr")
    assert monthly.net_new_mrr == pytest.approx(mrr.value - mrr.previous, abs=0.01)
    assert monthly.net_new_mrr == pytest.approx(monthly.kpi("net_new_mrr").value, abs=0.01)
    assert [m.name for m in monthly.movements] == [
        "mrr_new", "mrr_expansion", "mrr_reactivation", "mrr_contraction", "mrr_churned"]
    assert all(m.amount >= 0 for m in monthly.movements)


def test_trend_holds_twelve_months_ending_with_the_period(monthly):
    trend = monthly.kpi("mrr").trend
    assert len(trend) == 12 and trend[-1][0] == monthly.period.start
    assert trend[-1][1] == pytest.approx(monthly.kpi("mrr").value)


def test_at_risk_accounts_are_red_or_falling_by_mrr(ws, monthly):
    scores = ws.health(monthly.period.end).scores.set_index("customer_id")
    before = ws.health(monthly.period.start - timedelta(days=1)).scores.set_index("customer_id")
    change = (scores.score - before.score.reindex(scores.index))
    expected = scores[(scores.band == "red") | (change <= -FALL_POINTS)]
    assert monthly.at_risk_total == len(expected) > 0
    assert {a.customer_id for a in monthly.at_risk} <= set(expected.index)
    mrrs = [a.mrr for a in monthly.at_risk]
    assert mrrs == sorted(mrrs, reverse=True)
    for account in monthly.at_risk:
        assert account.change == pytest.approx(change[account.customer_id])
        assert ("red band" in account.reason) == (account.band == "red")


def test_without_a_churn_model_the_report_says_so(monthly, pdf):
    assert "predict churn train" in monthly.churn_note
    assert all(a.churn_probability is None for a in monthly.at_risk)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Churn risk is not shown" in text


def test_voice_of_the_customer_has_nps_themes_and_requests(ws, monthly):
    nps = ws.query("nps", period="month", start=monthly.period.start, end=monthly.period.end)
    assert monthly.kpi("nps").value == pytest.approx(float(nps.value.iloc[0]))
    assert monthly.kpi("nps").n == int(nps.n.iloc[0])
    assert monthly.themes and all(t.example for t in monthly.themes)
    assert monthly.requests
    counts = [r.customers for r in monthly.requests]
    assert counts == sorted(counts, reverse=True)


def test_a_segment_narrows_every_section(ws):
    report = build_report(ws, "monthly", segment="plan=growth")
    period = report.period
    frame = ws.query("mrr", period="month", start=period.start, end=period.end,
                     where=["plan=growth"])
    assert report.kpi("mrr").value == pytest.approx(float(frame.value.iloc[0]))
    growth = set(ws.warehouse.sql.execute(
        "SELECT customer_id FROM customers WHERE plan = 'growth'").df().customer_id)
    assert {a.customer_id for a in report.at_risk} <= growth
    assert report.segment_label == "plan = growth"


def test_an_unknown_segment_value_lists_the_values(ws):
    with pytest.raises(UserInputError, match="plan values are: business, enterprise"):
        build_report(ws, "monthly", segment="plan=Pro")
    with pytest.raises(UserInputError, match="COLUMN=VALUE"):
        build_report(ws, "monthly", segment="plan")


def test_weekly_report_covers_the_last_complete_week(ws):
    report = build_report(ws, "weekly")
    assert report.period.start.weekday() == 0 and report.period.end.weekday() == 6
    assert report.period.end <= report.data_end < report.period.end + timedelta(days=7)
    frame = ws.query("mrr", period="week", start=report.period.start, end=report.period.end)
    assert report.kpi("mrr").value == pytest.approx(float(frame.value.iloc[0]))


# -- rendered ---------------------------------------------------------------------------------


def test_pdf_pages_render_and_show_the_headline_numbers(monthly, pdf, tmp_path):
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 2
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")],
                   check=True)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    for image in images:
        with Image.open(image) as picture:
            grey = picture.convert("L")
            low, high = grey.getextrema()
            assert picture.width > 200 and low < 100 and high > 200  # ink on paper
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    mrr = monthly.kpi("mrr")
    assert f"{mrr.value:,.2f} USD" in text
    assert f"{monthly.net_new_mrr:+,.2f}" in text
    assert "Monthly tactical review" in text and monthly.period.label in text
    assert "Accounts at risk" in text and monthly.at_risk[0].name in text
    assert "Voice of the customer" in text and monthly.themes[0].label in text


def test_html_is_self_contained(monthly):
    charts = report_charts(monthly)
    html = render_html(monthly, charts)
    assert not re.search(r"https?://", html)
    assert not re.search(r"""(?:src|href)\s*=\s*["'](?!data:)""", html)
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', html)) == 3
    assert f"{monthly.kpi('mrr').value:,.2f} USD" in html
    for png in charts.values():
        assert png.startswith(b"\x89PNG")
