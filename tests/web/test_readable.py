"""A readable dashboard, in a real headless browser: numbers formatted by unit, headers for
people, tick labels without repeats, periods labelled as periods, cohort heatmaps that fit a
phone, tiles that do not judge a tiny sample. On the demo company and on a workspace loaded
from the shipped Stripe / HubSpot / Zendesk / NPS sample exports."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.metrics.definition import Unit
from csmetrics.store.accounts import Accounts
from csmetrics.web import charts
from csmetrics.web.pages import _tiles
from tests.conftest import DEMO_END_DAY
from tests.samples import build_sample_workspace
from tests.serving import served
from tests.web.test_dashboard import browser, new_page, shot, sign_in  # noqa: F401

PASSWORD = "readable-pass-1"
MONEY = re.compile(r"^-?\d{1,3}(,\d{3})*\.\d{2} USD$")
PERCENT = re.compile(r"^-?\d+\.\d %$")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo company (60 customers, 14 months to DEMO_END_DAY), served, with a viewer."""
    folder = tmp_path_factory.mktemp("readable")
    ws = Workspace.init(folder / "ws", name="Readable Co")
    for table, paths in write_company(folder / "files", customers=60, months=14, seed=9,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    with served(ws) as url:
        yield url
    ws.close()


@pytest.fixture(scope="module")
def samples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A workspace loaded from the sample exports through the real CLI, served."""
    root = build_sample_workspace(tmp_path_factory.mktemp("readable-samples"))
    ws = Workspace.load(root)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    with served(ws) as url:
        yield url
    ws.close()


def signed_in(browser: Browser, base_url: str, width: int = 1280) -> Page:  # noqa: F811
    page = new_page(browser, width)
    sign_in(page, base_url, PASSWORD)
    page.wait_for_selector(".tile")
    return page


def ticks(page: Page, chart: str, axis: str) -> list[str]:
    """The tick labels plotly drew on one axis (``x`` or ``y``) of a chart."""
    page.wait_for_selector(f"#chart-{chart} .main-svg")
    return page.locator(f"#chart-{chart} .{axis}tick text").evaluate_all(
        "els => els.map(e => e.textContent)")


def every_chart_key(page: Page) -> list[str]:
    """The keys of the page's drawn charts (empty states are not charts), once every
    figure of the page is drawn."""
    page.wait_for_function("[...document.querySelectorAll('[data-figure]')]"
                           ".every(e => e.querySelector('.main-svg'))")
    return [i.removeprefix("chart-") for i in page.locator(
        ".chart[id^=chart-][data-figure]").evaluate_all("els => els.map(e => e.id)")]


# -- without a browser --------------------------------------------------------------------


def test_axis_ticks_get_as_many_decimals_as_their_step_needs():
    # churn between 1 % and 3 %: a step of 0.5 % (span 2 % / 5 = 0.4 % -> 0.5 %), so ".1%"
    axis = charts._axis_format(Unit.RATE, [0.01, 0.02, 0.03])
    assert (axis["dtick"], axis["tickformat"]) == (pytest.approx(0.005), ".1%")
    labels = [f"{k * 0.005:.1%}" for k in range(2, 7)]
    assert labels == ["1.0%", "1.5%", "2.0%", "2.5%", "3.0%"]  # no repeats
    # MRR 40,000 to 61,000: a step of 5,000 USD (21,000 / 5 = 4,200 -> 5,000)
    money = charts._axis_format(Unit.MONEY, [40_000, 61_000], "EUR")
    assert (money["dtick"], money["tickformat"], money["ticksuffix"]) == (5000, ",.0f", " EUR")
    assert charts._axis_format(Unit.RATIO, [0.5, 4])["ticksuffix"] == "×"


def test_bars_of_zero_or_more_start_their_axis_at_zero():
    # a month without churn in any plan: 0 % bars on an axis 0-5 %, not one from -100 %
    frame = pd.DataFrame({"metric": "customer_churn_rate", "period_start": "2026-06-01",
                          "plan": ["a", "b"], "value": [0.0, 0.0], "n": [10, 12],
                          "ci_low": [None, None], "ci_high": [None, None]})
    axis = charts.bars(frame, "customer_churn_rate", "plan").layout.xaxis
    assert list(axis.range) == [0, pytest.approx(0.05)] and axis.dtick == pytest.approx(0.01)
    frame["value"] = [0.02, 0.05]
    assert list(charts.bars(frame, "customer_churn_rate", "plan").layout.xaxis.range) == [
        0, pytest.approx(0.054)]
    frame["value"] = [-0.02, 0.05]  # net churn can be negative: plotly's own range
    assert charts.bars(frame, "customer_churn_rate", "plan").layout.xaxis.range is None


def test_period_axes_label_quarters_weeks_and_months():
    quarters = charts._period_axis(pd.to_datetime(["2025-01-01", "2025-04-01", "2025-07-01"]))
    assert quarters["tickformat"] == "%Y Q%q" and quarters["dtick"] == "M3"
    weeks = charts._period_axis(pd.date_range("2026-01-05", periods=12, freq="7D"))
    # 12 weeks, at most 4 labels: every 3rd week, 3 x 7 days in milliseconds
    assert weeks["tickformat"] == "Week of %-d %b" and weeks["dtick"] == 21 * 86_400_000
    months = charts._period_axis(pd.date_range("2025-07-01", periods=12, freq="MS"))
    assert months["tickformat"] == "%b %Y" and months["dtick"] == "M2"


def test_tiles_do_not_judge_a_small_sample():
    rows = [("csat", "2026-05-01", 0.40, 2), ("csat", "2026-06-01", 0.50, 2),
            ("nrr", "2026-05-01", 1.00, 40), ("nrr", "2026-06-01", 1.03, 40),
            ("mrr", "2026-05-01", 900.0, 2), ("mrr", "2026-06-01", 1000.0, 2)]
    frame = pd.DataFrame(rows, columns=["metric", "period_start", "value", "n"]).assign(
        target=None, null_reason=None)
    tiles = {t["name"]: t for t in _tiles(frame, "USD", "month", min_sample=30)}
    assert tiles["csat"]["few"] and tiles["csat"]["good"] is None
    assert tiles["csat"]["change"] == "+10.0 pts"
    assert not tiles["nrr"]["few"] and tiles["nrr"]["good"] is True
    # a sum is exact at any n: MRR of two customers is judged
    assert not tiles["mrr"]["few"] and tiles["mrr"]["good"] is True
    assert tiles["mrr"]["value"] == "1,000.00 USD"
    lowered = {t["name"]: t for t in _tiles(frame, "USD", "month", min_sample=2)}
    assert not lowered["csat"]["few"] and lowered["csat"]["good"] is True


# -- in the browser ------------------------------------------------------------------------


def test_overview_tiles_are_formatted_and_a_small_sample_is_flagged(browser, demo_url):  # noqa: F811
    page = signed_in(browser, demo_url)
    assert MONEY.match(page.locator(".tile[data-metric=mrr] .value").inner_text())
    for metric in ("nrr", "grr", "customer_churn_rate"):
        assert PERCENT.match(page.locator(f".tile[data-metric={metric}] .value").inner_text())
    assert re.match(r"^\d+\.\d×$", page.locator(".tile[data-metric=ltv_cac_ratio] .value")
                    .inner_text())
    # the demo's CSAT has 2 answers in the last month: flagged, neither good nor bad
    csat = page.locator(".tile[data-metric=csat]")
    assert "n = 2 · too few to judge" in csat.locator(".meta").first.inner_text()
    classes = csat.locator(".change").get_attribute("class").split()
    assert "good" not in classes and "bad" not in classes
    flagged = page.locator(".tile.few")
    assert flagged.count() >= 1
    for i in range(flagged.count()):
        change = flagged.nth(i).locator(".change").get_attribute("class").split()
        assert "good" not in change and "bad" not in change
    # a monthly page shows the yearly churn benchmark per month: 1 - 0.95^(1/12) = 0.43 %
    churn = page.locator(".tile[data-metric=customer_churn_rate]").inner_text()
    assert "0.43–0.60 % a month (= 5–7 % a year)" in churn
    hover = page.locator("#chart-mrr").get_attribute("data-figure")
    assert "USD" in hover and "%{y:,.2f} USD" in hover
    shot(page, "readable-overview")


def test_no_chart_repeats_a_tick_label(browser, demo_url):  # noqa: F811
    page = signed_in(browser, demo_url)
    for address in ("/", "/revenue", "/retention", "/retention?period=quarter",
                    "/revenue?period=week"):
        page.goto(demo_url + address)
        for key in every_chart_key(page):
            for axis in ("x", "y"):
                labels = ticks(page, key, axis)
                assert len(labels) == len(set(labels)), (address, key, axis, labels)
    page.goto(demo_url + "/retention")
    churn = ticks(page, "churn", "y")
    assert churn and all(t.endswith("%") for t in churn)
    page.goto(demo_url + "/revenue")
    assert all(t.endswith(" USD") for t in ticks(page, "mrr", "y"))


def test_periods_are_labelled_as_periods(browser, demo_url):  # noqa: F811
    page = signed_in(browser, demo_url)
    page.goto(demo_url + "/retention?period=quarter")
    quarters = ticks(page, "churn", "x")
    assert quarters and all(re.fullmatch(r"\d{4} Q[1-4]", t) for t in quarters), quarters
    shot(page, "readable-retention-quarter")
    page.goto(demo_url + "/revenue?period=week")
    weeks = ticks(page, "mrr", "x")
    assert weeks and all(re.fullmatch(r"Week of \d{1,2} [A-Z][a-z]{2}", t) for t in weeks)
    page.goto(demo_url + "/revenue")
    months = ticks(page, "mrr", "x")
    assert months and all(re.fullmatch(r"[A-Z][a-z]{2} \d{4}", t) for t in months)


def test_tables_have_headers_for_people(browser, demo_url):  # noqa: F811
    page = signed_in(browser, demo_url)
    for address in ("/", "/revenue", "/retention", "/voice"):
        page.goto(demo_url + address)
        headers = page.locator("main table th").all_inner_texts()
        assert not [h for h in headers if "_" in h], (address, headers)
    page.goto(demo_url + "/voice")
    comments = page.locator("#table-comments th").all_inner_texts()
    assert comments[:2] == ["Day", "Customer"]
    day = page.locator("#table-comments tbody tr td").first.inner_text()
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]{2} \d{4}", day), day
    shot(page, "readable-voice-tables")


@pytest.mark.parametrize("width", [390, 1280])
def test_cohort_heatmaps_fit_their_cards_and_show_cohort_sizes(browser, demo_url, width):  # noqa: F811
    page = signed_in(browser, demo_url, width)
    page.goto(demo_url + "/retention?period=quarter")  # two years of monthly cohorts
    for key in ("cohorts_logo", "cohorts_revenue"):
        chart = f"#chart-{key}"
        page.wait_for_selector(f"{chart} .main-svg")
        fit = page.locator(chart).evaluate("""el => {
            const card = el.closest('.card'), box = card.getBoundingClientRect();
            const svg = el.querySelector('.main-svg').getBoundingClientRect();
            return {scroll: card.scrollWidth, client: card.clientWidth,
                    left: svg.left - box.left, right: box.right - svg.right,
                    bottom: box.bottom - svg.bottom};
        }""")
        assert fit["scroll"] <= fit["client"], (key, width, fit)
        assert fit["left"] >= 0 and fit["right"] >= 0 and fit["bottom"] >= 0, (key, fit)
        rows = ticks(page, key, "y")
        assert rows and all(re.fullmatch(r"[A-Z][a-z]{2} \d{4} · n=\d+", r) for r in rows)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"readable-retention-cohorts-{width}")


def test_sample_exports_read_with_currency_and_percentages(browser, samples_url):  # noqa: F811
    page = signed_in(browser, samples_url)
    assert MONEY.match(page.locator(".tile[data-metric=mrr] .value").inner_text())
    assert PERCENT.match(page.locator(".tile[data-metric=nrr] .value").inner_text())
    shot(page, "readable-samples-overview")
    page.goto(samples_url + "/revenue?period=quarter")
    assert all(t.endswith(" USD") for t in ticks(page, "movements", "y"))
    quarters = ticks(page, "mrr", "x")
    assert quarters and all(re.fullmatch(r"\d{4} Q[1-4]", t) for t in quarters), quarters
    page.goto(samples_url + "/retention")
    churn = ticks(page, "churn", "y")
    assert len(churn) == len(set(churn)), churn
    shot(page, "readable-samples-retention")
