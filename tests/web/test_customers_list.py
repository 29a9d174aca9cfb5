"""The customers list in a real browser, on a workspace built from the sample exports (HubSpot
companies without a plan, Stripe subscriptions and invoices, Zendesk tickets, NPS answers):
pages of 50, sort indicators, the period picker, the "insufficient data" band, and plans read
from the subscriptions."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from csmetrics import Workspace
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.store.accounts import Accounts
from tests.samples import build_sample_workspace
from tests.serving import served
from tests.web.test_dashboard import browser as browser  # noqa: F401 - the fixture
from tests.web.test_dashboard import new_page, shot, sign_in

PASSWORD = "customers-pass-1"
#: The samples hold 60 companies (tests/samples.py): 50 on page 1, 10 on page 2.
CUSTOMERS = 60


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Workspace]]:
    root = build_sample_workspace(tmp_path_factory.mktemp("samples"))
    ws = Workspace.load(root)
    Accounts(ws.warehouse.sql).add_user("cara", PASSWORD, "viewer")
    with served(ws) as url:
        yield url, ws
    ws.close()


def signed_in(browser: Browser, url: str) -> Page:  # noqa: F811
    page = new_page(browser)
    sign_in(page, url, password=PASSWORD, user="cara")
    return page


def column(page: Page, key: str) -> list[str]:
    """The texts of one column of the table, by its header's sort key."""
    keys = page.locator("#customers thead th").evaluate_all(
        "ths => ths.map(th => th.dataset.key)")
    index = keys.index(key) + 1
    return page.locator(f"#customers tbody tr td:nth-child({index})").all_inner_texts()


def money(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def test_pages_of_fifty_with_links_and_a_count(browser: Browser, site) -> None:  # noqa: F811
    url, _ = site
    page = signed_in(browser, url)
    page.goto(url + "/customers")
    assert page.locator("#customers tbody tr").count() == 50
    assert page.locator("#showing").inner_text() == f"Showing 1–50 of {CUSTOMERS} customers"
    assert page.locator(".pager a[aria-current=page]").inner_text() == "1"
    shot(page, "customers-list-page-1")
    page.click(".pager a:text-is('2')")
    page.wait_for_selector(".pager a[aria-current=page]:text-is('2')")
    assert page.locator("#customers tbody tr").count() == CUSTOMERS - 50
    assert page.locator("#showing").inner_text() == (
        f"Showing 51–{CUSTOMERS} of {CUSTOMERS} customers")
    # the download holds every matching customer, not the page shown
    with page.expect_download() as info:
        page.click(".downloads a[data-format=csv]")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text("utf-8"))))
    assert len(rows) == CUSTOMERS
    assert {"arr", "coverage", "mrr_change"} <= set(rows[0])


def test_the_sorted_column_shows_its_direction_and_a_click_toggles_it(browser: Browser,  # noqa: F811
                                                                      site) -> None:
    url, _ = site
    page = signed_in(browser, url)
    page.goto(url + "/customers")
    mrr = page.locator("#customers th[data-key=mrr]")
    assert mrr.get_attribute("aria-sort") == "descending" and "▼" in mrr.inner_text()
    assert page.locator("#customers th[aria-sort]").count() == 1
    values = [money(t) for t in column(page, "mrr")]
    assert values == sorted(values, reverse=True)
    mrr.locator("a").click()
    page.wait_for_selector("#customers th[data-key=mrr][aria-sort=ascending]")
    assert "▲" in page.locator("#customers th[data-key=mrr]").inner_text()
    values = [money(t) for t in column(page, "mrr")]
    assert values == sorted(values)
    page.locator("#customers th[data-key=name] a").click()
    page.wait_for_selector("#customers th[data-key=name][aria-sort=ascending]")
    assert page.locator("#customers th[data-key=mrr]").get_attribute("aria-sort") is None
    shot(page, "customers-list-sorted-by-name")


def test_too_little_data_is_insufficient_not_green(browser: Browser, site) -> None:  # noqa: F811
    url, ws = site
    page = signed_in(browser, url)
    page.goto(url + "/customers")
    # The samples have no usage events, CSM activities or CSAT answers: of the default
    # scorecard's 100 weight, at most support load 10 + first-contact resolution 5 + NPS 10
    # + payment problems 5 + renewal history 5 = 35 can have data, under min_coverage 0.5.
    bands = column(page, "band")
    assert set(bands) <= {"insufficient data", "not paying"}
    assert bands.count("insufficient data") > 40
    coverage = [int(t.split()[0]) for t in column(page, "coverage") if t]
    assert coverage and max(coverage) <= 35
    assert not page.locator("#customers .band.green, #customers .band.red").count()
    # and the customer page says so too
    first = page.locator("#customers tbody tr", has_text="insufficient data").first
    first.locator("td a").first.click()
    page.wait_for_selector("#health-coverage")
    assert "of the scorecard's weight has data" in page.locator("#health-coverage").inner_text()
    assert "insufficient data" in page.locator("#health .band").inner_text()
    shot(page, "customer-insufficient-data")


def test_plans_come_from_the_subscriptions(browser: Browser, site) -> None:  # noqa: F811
    url, ws = site
    page = signed_in(browser, url)
    page.goto(url + "/customers?band=insufficient")
    plans = column(page, "plan")
    assert plans and all(plans)  # every paying customer has a plan, though HubSpot has none
    page.goto(url + "/customers?plan=Growth&band=insufficient")
    assert set(column(page, "plan")) == {"Growth"}
    # the dashboard's segment filter offers the plans and computes them
    page.goto(url + "/")
    options = page.locator("select[name=where] option").all_inner_texts()
    assert "plan=Growth" in options
    page.goto(url + "/?where=plan%3DGrowth")
    page.wait_for_selector(".tile[data-metric=mrr] .value")
    month = page.locator("input[name=to]").input_value()
    engine = ws.query("mrr", start=month[:8] + "01", end=month, where={"plan": "Growth"})
    total = ws.query("mrr", start=month[:8] + "01", end=month)
    assert 0 < float(engine.value.iloc[-1]) < float(total.value.iloc[-1])
    assert page.locator(".tile[data-metric=mrr] .value").inner_text() == format_value(
        float(engine.value.iloc[-1]), Unit.MONEY, "USD")
    shot(page, "overview-plan-growth-from-subscriptions")


def test_the_period_picker_sets_the_change_window(browser: Browser, site) -> None:  # noqa: F811
    url, _ = site
    page = signed_in(browser, url)
    page.goto(url + "/customers?sort=name")
    assert "over the last 30 days" in page.locator(".table-head").inner_text()
    page.select_option("select[name=days]", "90")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**days=90**")
    assert "over the last 90 days" in page.locator(".table-head").inner_text()
    assert page.locator("select[name=days]").input_value() == "90"
    # the sort and the window travel together: a header link keeps days=90
    assert "days=90" in page.locator("#customers th[data-key=mrr] a").get_attribute("href")
    shot(page, "customers-list-90-days")


def test_wrong_query_values_fall_back_instead_of_failing(browser: Browser, site) -> None:  # noqa: F811
    url, _ = site
    page = signed_in(browser, url)
    response = page.goto(url + "/customers?page=999&days=12&sort=nonsense")
    assert response is not None and response.status == 200
    assert page.locator("#showing").inner_text() == (
        f"Showing 51–{CUSTOMERS} of {CUSTOMERS} customers")
    assert page.locator("select[name=days]").input_value() == "30"

