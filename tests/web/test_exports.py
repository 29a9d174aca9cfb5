"""Dashboard downloads in a real browser: every chart and table as CSV, Excel and Parquet."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

PASSWORD = "exports-pass-1"


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo company served on loopback, with a viewer account."""
    folder = tmp_path_factory.mktemp("web-exports")
    ws = Workspace.init(folder / "ws", name="Export Co")
    for table, paths in write_company(folder / "files", customers=40, months=8, seed=4,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    with served(ws) as url:
        yield url
    ws.close()


@pytest.fixture(scope="module")
def signed_in(site_url: str) -> Iterator[Page]:
    """A headless chromium page, signed in; nothing leaves the machine."""
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: 'make test' installs it"
    with sync_playwright() as p:
        browser: Browser = p.chromium.launch(executable_path=executable, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith("http://127.0.0.1") else route.abort())
        page.goto(site_url + "/login")
        page.fill("input[name=username]", "viv")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector(".tile")
        yield page
        browser.close()


def download(page: Page, selector: str) -> tuple[str, bytes]:
    """Click a download link as a user does; the file's suggested name and its bytes."""
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, info.value.path().read_bytes()


def test_a_charts_excel_download_equals_its_csv(signed_in, site_url):
    page = signed_in
    page.goto(site_url + "/revenue?period=month")
    page.wait_for_selector("#chart-mrr .main-svg")
    links = page.locator("#chart-mrr >> xpath=.. >> .downloads")
    assert links.inner_text() == "CSV · Excel · Parquet"
    name, excel = download(page, "#chart-mrr >> xpath=.. >> a[data-format=xlsx]")
    assert name == "revenue-mrr.xlsx"
    _, text = download(page, "#chart-mrr >> xpath=.. >> a[data-format=csv]")
    from_excel = pd.read_excel(io.BytesIO(excel))
    from_csv = pd.read_csv(io.BytesIO(text))
    assert len(from_csv) >= 6 and list(from_excel.columns) == list(from_csv.columns)
    # Excel has real dates where CSV has text; the same days and the same figures
    assert pd.api.types.is_datetime64_dtype(from_excel["period_start"])
    assert from_excel["period_start"].dt.strftime("%Y-%m-%d").tolist() == \
        from_csv["period_start"].tolist()
    assert from_excel["value"].tolist() == pytest.approx(from_csv["value"].tolist())
    assert from_excel["n"].tolist() == from_csv["n"].tolist()
    # and the Parquet link holds the same rows
    href = page.locator("#chart-mrr >> xpath=.. >> a[data-format=parquet]").get_attribute("href")
    parquet = page.request.get(site_url + href)
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    from_parquet = pd.read_parquet(io.BytesIO(parquet.body()))
    assert from_parquet["value"].tolist() == pytest.approx(from_csv["value"].tolist())


def test_every_card_offers_three_formats(signed_in, site_url):
    page = signed_in
    page.goto(site_url + "/voice")
    cards = page.locator(".card h2 .downloads")
    assert cards.count() >= 4
    for i in range(cards.count()):
        formats = [a.get_attribute("data-format") for a in cards.nth(i).locator("a").all()]
        assert formats == ["csv", "xlsx", "parquet"]
    href = page.locator("#table-themes >> xpath=../.. >> a[data-format=xlsx]").get_attribute(
        "href")
    themes = page.request.get(site_url + href)
    assert themes.ok and len(pd.read_excel(io.BytesIO(themes.body()))) == page.locator(
        "#table-themes tbody tr").count()


def test_customers_table_downloads_the_filtered_rows(signed_in, site_url):
    page = signed_in
    page.goto(site_url + "/customers?band=green&sort=-mrr")
    shown = page.locator("#customers tbody tr")
    assert shown.count() >= 1
    name, excel = download(page, ".downloads a[data-format=xlsx]")
    assert name == "customers-customers.xlsx"
    rows = pd.read_excel(io.BytesIO(excel))
    assert set(rows["band"]) == {"green"}
    assert len(rows) == shown.count()
    ids = [t.strip() for t in page.locator("#customers tbody tr td:first-child .meta")
           .all_inner_texts()]
    assert rows["customer_id"].tolist() == ids
    assert rows["mrr"].tolist() == sorted(rows["mrr"].tolist(), reverse=True)


def test_an_unknown_download_format_is_not_found(signed_in, site_url):
    response = signed_in.request.get(site_url + "/download/revenue/mrr.xls")
    assert response.status == 404 and ".xlsx" in response.text()
