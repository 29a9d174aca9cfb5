"""The retention page's survival chart in a real browser: the shaded confidence band named by
its transform, and under it the log-rank test between the plans and each plan's median, all
equal to what ``Workspace.survival`` computes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

PASSWORD = "survival-pass-1"
#: A screenshot of the chart and its tables, kept as a test artifact for people to look at.
SHOT = Path(__file__).parents[2] / "test-artifacts" / "screenshots" / "retention-survival.png"
SERVED: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo company (several plans, two years of churn) served on loopback."""
    folder = tmp_path_factory.mktemp("web-survival")
    ws = Workspace.init(folder / "ws", name="Survival Co")
    for table, paths in write_company(folder / "files", customers=80, months=24, seed=5,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield url
    ws.close()


@pytest.fixture(scope="module")
def retention(site_url: str) -> Iterator[Page]:
    """The retention page in headless chromium, signed in, its charts drawn."""
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: 'make test' installs it"
    with sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=executable, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("http://127.0.0.1") else route.abort())
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(site_url + "/login")
        page.fill("input[name=username]", "viv")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".tile")
        page.goto(site_url + "/retention")
        page.wait_for_selector("#chart-survival .main-svg")
        assert not errors
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.locator("#chart-survival").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOT), full_page=True)
        yield page
        browser.close()


def _cells(page: Page, table: str) -> list[list[str]]:
    rows = page.locator(f"#table-{table} tbody tr")
    return [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]


def test_survival_band_is_shaded_and_named_by_its_transform(retention: Page) -> None:
    band = "95 % CI, log transform (as R)"
    assert band in retention.locator("#chart-survival").locator("xpath=..").locator(
        "h2").inner_text()
    legend = retention.locator("#chart-survival .legendtext").all_text_contents()
    assert legend.count(band) == 1  # one entry shows or hides every plan's band
    # one shaded area per plan, drawn by plotly as filled paths
    result = SERVED["workspace"].survival(by="plan", store=False)
    plans = result.curves["segment"].nunique()
    assert plans >= 2
    assert retention.locator("#chart-survival .scatterlayer .fills path").count() == plans


def test_logrank_and_medians_equal_the_survival_service(retention: Page) -> None:
    result = SERVED["workspace"].survival(by="plan", store=False)
    test = result.logrank
    assert test is not None
    (row,) = _cells(retention, "survival_logrank")
    assert row[0] == "log-rank, plans"
    assert float(row[1].replace(",", "")) == pytest.approx(test.statistic, abs=0.005)
    assert int(row[2]) == test.degrees_of_freedom == result.curves["segment"].nunique() - 1
    p = test.p_value
    shown = "< 0.0001" if p < 0.0001 else f"{p:.3g}"
    assert row[3] == shown
    reading = (f"the plans' survival differs (p = {shown})" if p < 0.05
               else f"no evidence of a difference (p = {shown})")
    assert row[4] == reading

    summary = result.summary.set_index("segment")
    shown_rows = {r[0]: r[1:] for r in _cells(retention, "survival_medians")}
    assert set(shown_rows) == set(summary.index)
    for plan, (customers, churned, *medians) in shown_rows.items():
        assert int(customers.replace(",", "")) == summary.loc[plan, "customers"]
        assert int(churned.replace(",", "")) == summary.loc[plan, "churned"]
        for text, column in zip(medians, ("median_months", "median_ci_lower",
                                          "median_ci_upper"), strict=True):
            value = summary.loc[plan, column]
            if value is None or pd.isna(value):
                assert text == "not reached", (plan, column)
            else:
                assert float(text) == pytest.approx(float(value), abs=0.005), (plan, column)
    assert "not reached" in {t for r in shown_rows.values() for t in r} or all(
        summary["median_months"].notna())
