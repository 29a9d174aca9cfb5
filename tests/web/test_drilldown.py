"""Drill-downs: the customers behind an MRR movement, a churn figure and a cohort cell add up
to the figure the metric reports (in Python and on the dashboard), and export."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.metrics.drilldown import churn_list, cohort_list, movement_list
from csmetrics.metrics.periods import Grain, next_start
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served
from tests.web.test_dashboard import PASSWORD, browser, new_page, shot, sign_in  # noqa: F401

KINDS = ("new", "expansion", "reactivation", "contraction", "churned")
PERIODS = [("month", date(2026, 1, 1)), ("month", date(2026, 3, 1)),
           ("month", date(2026, 6, 1)), ("quarter", date(2026, 1, 1))]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("drill")
    ws = Workspace.init(folder / "ws", name="Drill Co")
    for table, paths in write_company(folder / "files", customers=60, months=14, seed=9,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def base_url(workspace: Workspace) -> Iterator[str]:
    with served(workspace) as url:
        yield url


def _last_day(grain: str, first: date) -> date:
    return next_start(first, Grain(grain)) - timedelta(days=1)


def _customers(count: int) -> str:
    return f"{count} customer{'' if count == 1 else 's'}"


@pytest.mark.parametrize(("grain", "first"), PERIODS)
def test_movement_lists_add_up_to_the_movement_metrics(workspace, grain, first):
    ws = workspace
    figures = ws.query([f"mrr_{k}" for k in KINDS], period=grain, start=first,
                       end=_last_day(grain, first))
    moved = 0
    for kind in KINDS:
        row = figures[figures.metric == f"mrr_{kind}"].iloc[0]
        listed = movement_list(ws.warehouse.ibis, ws.settings, kind, Grain(grain), first,
                               today=ws.today())
        assert len(listed) == int(row.n), (kind, first)
        assert listed["amount"].sum() == pytest.approx(float(row.value), abs=1e-6)
        assert listed["customer_id"].is_unique
        assert (listed["amount"] > 0).all()
        moved += len(listed)
    assert moved > 0, "the demo moves some MRR in every period tested"


@pytest.mark.parametrize(("grain", "first"), PERIODS)
def test_churn_list_counts_the_churned_of_the_churn_rate(workspace, grain, first):
    ws = workspace
    row = ws.query("customer_churn_rate", period=grain, start=first,
                   end=_last_day(grain, first)).iloc[0]
    listed = churn_list(ws.warehouse.ibis, ws.settings, Grain(grain), first, today=ws.today())
    assert len(listed) == int(row.churned)
    assert len(listed) / int(row.n) == pytest.approx(float(row.value))
    assert (listed["mrr_cur"] == 0).all()


def test_a_segment_filter_narrows_the_list_like_the_metric(workspace):
    ws = workspace
    plan = ws.warehouse.sql.execute("SELECT plan FROM customers WHERE plan IS NOT NULL "
                                    "ORDER BY plan LIMIT 1").fetchall()[0][0]
    first = date(2026, 1, 1)
    row = ws.query("mrr_expansion", period="quarter", start=first, end=date(2026, 3, 31),
                   where={"plan": plan}).iloc[0]
    listed = movement_list(ws.warehouse.ibis, ws.settings, "expansion", Grain.QUARTER, first,
                           (("plan", plan),), today=ws.today())
    assert len(listed) == int(row.n)
    assert listed["amount"].sum() == pytest.approx(float(row.value), abs=1e-6)


def test_cohort_list_is_the_cells_cohort(workspace):
    ws = workspace
    table = ws.cohorts("logo")
    cohorts = [c for c in table.index if table.loc[c, "customers"] > 0]
    checked = 0
    for cohort in cohorts[:4]:
        for month in (0, 2):
            value = table.loc[cohort, month]
            if value != value:  # a month after the table's end
                continue
            listed = cohort_list(ws.warehouse.ibis, ws.settings, cohort, month,
                                 today=ws.today())
            assert len(listed) == int(table.loc[cohort, "customers"])
            assert listed["paying"].sum() / len(listed) == pytest.approx(float(value))
            checked += 1
    assert checked >= 4


def test_clicking_a_movements_bar_lists_its_customers(browser, base_url, workspace):  # noqa: F811
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(base_url + "/revenue")
    page.wait_for_selector("#chart-movements .main-svg")
    boxes = [b for b in (bar.bounding_box() for bar in page.locator(
        "#chart-movements .bars .point path").all()) if b]
    tallest = max(boxes, key=lambda b: b["height"])
    # plotly's drag layer lies over the bars: click where the bar is, as a person does
    page.mouse.click(tallest["x"] + tallest["width"] / 2, tallest["y"] + tallest["height"] / 2)
    page.wait_for_url(re.compile(r".*/drill/movement\?.*"))
    shot(page, "drill-movement")
    asked = parse_qs(urlparse(page.url).query)
    kind, start = asked["kind"][0], asked["start"][0]
    first = date.fromisoformat(start)
    row = workspace.query(f"mrr_{kind}", start=first, end=_last_day("month", first)).iloc[0]
    assert page.locator("#drill tbody tr").count() == int(row.n) > 0
    assert f"Total: {_customers(int(row.n))}" in page.locator("#drill tfoot").inner_text()
    # the total row shows the movement's sum, as the revenue page formats money
    total = page.locator("#drill tfoot th").last.inner_text()
    assert float(total.split()[0].replace(",", "")) == pytest.approx(float(row.value), abs=0.01)
    # the export holds the same customers
    with page.expect_download() as info:
        page.click(".downloads a[data-format=csv]")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert len(rows) == int(row.n)
    assert {r["Customer ID"] for r in rows} == set(
        page.locator("#drill tbody td:first-child a").all_inner_texts())
    xlsx = page.request.get(base_url + page.locator(
        ".downloads a[data-format=xlsx]").get_attribute("href"))
    assert xlsx.ok and xlsx.body()[:2] == b"PK"
    # a customer link opens the customer page
    page.locator("#drill tbody td:first-child a").first.click()
    page.wait_for_url(re.compile(r".*/customers/.+"))
    assert not errors


@pytest.mark.parametrize(("grain", "first"), [("month", date(2026, 3, 1)),
                                              ("quarter", date(2026, 4, 1))])
def test_drill_links_show_every_movement_and_the_churned(browser, base_url, workspace,  # noqa: F811
                                                         grain, first):
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    end = _last_day(grain, first)
    figures = workspace.query([f"mrr_{k}" for k in KINDS] + ["customer_churn_rate"],
                              period=grain, start=first, end=end)
    page.goto(f"{base_url}/drill/movement?kind=new&period={grain}&start={first}")
    for kind in KINDS:
        page.locator("#drill-links a", has_text=kind.capitalize()).first.click()
        page.wait_for_url(re.compile(f".*kind={kind}.*"))
        n = int(figures[figures.metric == f"mrr_{kind}"].n.iloc[0])
        assert page.locator("#drill tbody tr").count() == max(n, 1)  # "No customers." row
        assert page.locator("#drill-count").inner_text() == _customers(n)
    page.goto(f"{base_url}/drill/churn?period={grain}&start={first}")
    churned = int(figures[figures.metric == "customer_churn_rate"].churned.iloc[0])
    assert page.locator("#drill-count").inner_text() == _customers(churned)
    shot(page, f"drill-churn-{grain}")


def test_clicking_a_cohort_cell_lists_the_cohort(browser, base_url, workspace):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(base_url + "/retention")
    page.wait_for_selector("#chart-cohorts_logo .main-svg")
    box = page.locator("#chart-cohorts_logo .nsewdrag").first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 5, box["y"] + 5)  # the first cohort, month 0
    page.wait_for_url(re.compile(r".*/drill/cohort\?.*"))
    asked = parse_qs(urlparse(page.url).query)
    cohort = date.fromisoformat(asked["cohort"][0])
    table = workspace.cohorts("logo", start=asked["from"][0], end=asked["to"][0])
    size = int(table.loc[cohort, "customers"])
    assert page.locator("#drill tbody tr").count() == size
    shot(page, "drill-cohort")


def test_bad_drill_addresses_say_what_to_fix(browser, base_url):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    wrong = page.request.get(base_url + "/drill/movement?kind=upsell&start=2026-03-01")
    assert wrong.status == 400 and "new, expansion" in wrong.text()
    undated = page.request.get(base_url + "/drill/churn?period=month")
    assert undated.status == 400 and "start=YYYY-MM-DD" in undated.text()
    assert page.request.get(base_url + "/drill/nothing?start=2026-03-01").status == 404
