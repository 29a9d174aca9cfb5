"""The dashboard in a real headless browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

PASSWORD = "dashboard-pass-1"
EDITOR_PASSWORD = "editor-pass-123"
#: Screenshots of every page the tests open, kept as test artifacts for people to look at.
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"


SERVED: dict[str, Workspace] = {}


def shot(page: Page, name: str) -> None:
    """Keep a full-page screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo company served on loopback, with a viewer account."""
    folder = tmp_path_factory.mktemp("web")
    ws = Workspace.init(folder / "ws", name="Dash Co")
    for table, paths in write_company(folder / "files", customers=60, months=14, seed=9,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    Accounts(ws.warehouse.sql).add_user("eddie", EDITOR_PASSWORD, "editor")
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield url
    ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "Debian's chromium is missing: 'make test' installs it"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield launched
        launched.close()


def new_page(browser: Browser, width: int = 1280) -> Page:
    page = browser.new_page(viewport={"width": width, "height": 1000}, accept_downloads=True)
    # nothing leaves the machine: every request not to the app is refused
    page.route("**/*", lambda route: route.continue_()
               if route.request.url.startswith("http://127.0.0.1") else route.abort())
    return page


def sign_in(page: Page, base_url: str, password: str = PASSWORD, user: str = "viv") -> None:
    page.goto(base_url + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_every_page_needs_a_sign_in_and_a_wrong_password_is_refused(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url, password="not-the-password")
    assert "Wrong username or password" in page.content()
    page.goto(base_url + "/revenue")
    assert page.url.endswith("/login")


def test_overview_tiles_and_charts_render_offline(browser, base_url):
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url)
    page.wait_for_selector(".tile[data-metric=mrr] .value")
    titles = page.locator(".tile .label").all_inner_texts()
    assert ({"MRR", "Net revenue retention", "Customer churn rate", "Net Promoter Score"}
            <= set(titles))
    assert "USD" in page.locator(".tile[data-metric=mrr] .value").inner_text()
    assert "vs previous" in page.locator(".tile[data-metric=nrr] .change").inner_text()
    assert "green" in page.locator(".tile[data-metric=health_mix] .value").inner_text()
    # plotly.js (served by the app itself) drew every chart and sparkline
    page.wait_for_selector("#chart-mrr .main-svg")
    assert page.locator(".spark .main-svg").count() >= 5
    assert not errors
    shot(page, "overview")
    # the numbers shown are the metrics engine's
    ws = SERVED["workspace"]
    month = page.locator("input[name=to]").input_value()
    engine = ws.query("mrr", start=month[:8] + "01", end=month)
    shown = page.locator(".tile[data-metric=mrr] .value").inner_text()
    assert shown == format_value(float(engine.value.iloc[-1]), Unit.MONEY, "USD")
    cookie = next(c for c in page.context.cookies() if c["name"] == "csmetrics_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_revenue_page_chart_csv_matches_the_metric(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url)
    page.goto(base_url + "/revenue?period=quarter")
    page.wait_for_selector("#chart-movements .main-svg")
    with page.expect_download() as info:
        page.click("#chart-mrr >> xpath=.. >> text=CSV")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert rows and {r["metric"] for r in rows} == {"mrr"}
    assert all(r["period_start"].endswith(("-01-01", "-04-01", "-07-01", "-10-01")) for r in rows)
    # the numbers are the metrics engine's, quarter by quarter over the chart's window
    starts = sorted(r["period_start"] for r in rows)
    engine = SERVED["workspace"].query("mrr", period="quarter", start=starts[0], end=starts[-1])
    expected = {str(p)[:10]: (v, n) for p, v, n in zip(engine.period_start, engine.value,
                                                        engine.n, strict=True)}
    assert sorted(expected) == starts
    for r in rows:
        value, n = expected[r["period_start"]]
        assert float(r["value"]) == pytest.approx(value, rel=1e-9), r
        assert int(float(r["n"])) == n, r
    assert any(float(r["value"]) > 0 for r in rows)


def test_segment_filter_and_phone_width(browser, base_url):
    page = new_page(browser, width=390)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    everyone = page.locator(".tile[data-metric=mrr] .value").inner_text()
    options = page.locator("select[name=where] option").all_inner_texts()
    region = next(o for o in options if o.startswith("region="))
    page.select_option("select[name=where]", region)
    page.click("form.filters button")
    page.wait_for_selector("#chart-mrr .main-svg")
    assert "where=" + region.replace("=", "%3D") in page.url
    assert page.locator("select[name=where]").input_value() == region
    assert page.locator(".tile[data-metric=mrr] .value").inner_text() != everyone
    # readable on a phone: nothing wider than the screen
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390 + 1


def test_sign_out_needs_the_form_token(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    forged = page.request.post(base_url + "/logout", form={"csrf": "forged"})
    assert forged.ok and page.context.cookies()  # still signed in
    page.goto(base_url + "/revenue")
    assert page.url.endswith("/revenue")
    page.click("header form button")
    page.wait_for_url("**/login")
    page.goto(base_url + "/")
    assert page.url.endswith("/login")


@pytest.mark.parametrize("name", ["revenue", "retention", "voice", "support", "usage",
                                  "acquisition"])
def test_every_metric_page_draws_its_charts_without_errors(browser, base_url, name):
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    response = page.goto(f"{base_url}/{name}")
    assert response is not None and response.ok
    charts = page.locator(".chart")
    assert charts.count() >= 4
    page.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.querySelector('.main-svg'))")
    assert not errors
    shot(page, name)
    # every chart offers the rows behind it
    for link in page.locator(".card h2 a[data-format=csv]").all():
        csv_response = page.request.get(base_url + link.get_attribute("href"))
        assert csv_response.ok and csv_response.text().count("\n") >= 1


def test_voice_page_lists_themes_requests_and_comments(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(base_url + "/voice")
    for table in ("themes", "requests", "comments"):
        assert page.locator(f"#table-{table} tbody tr").count() >= 1, table
    assert "Label" in page.locator("#table-themes thead").inner_text()  # a header for people


def test_customers_table_filters_sorts_and_opens_the_customer_page(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(base_url + "/customers?sort=-mrr")
    rows = page.locator("#customers tbody tr")
    assert rows.count() >= 10
    mrr = [float(t.split()[0].replace(",", "")) for t in
           page.locator("#customers tbody td.num:nth-of-type(8)").all_inner_texts()]
    assert mrr == sorted(mrr, reverse=True)
    page.select_option("select[name=band]", "red")
    page.click("form.filters button")
    assert all(t == "red" for t in page.locator("#customers tbody .band").all_inner_texts())
    page.goto(base_url + "/customers?sort=-mrr")
    first = page.locator("#customers tbody tr:first-child a")
    name = first.inner_text()
    first.click()
    page.wait_for_selector("#chart-timeline .main-svg")
    shot(page, "customer")
    assert name in page.locator("h1").inner_text()
    assert "scores" in page.locator("#health").inner_text()
    assert page.locator("#comments li").count() >= 1
    assert page.goto(base_url + "/customers/NOPE").status == 404


def test_unauthenticated_requests_are_refused_everywhere(browser, base_url):
    page = new_page(browser)
    for path in ("/", "/revenue", "/retention", "/customers", "/customers/C00001", "/voice",
                 "/support", "/usage", "/acquisition", "/data", "/download/revenue/mrr.csv"):
        page.goto(base_url + path)
        assert page.url.endswith("/login"), path
    refused = page.request.post(base_url + "/data/upload", multipart={
        "table": "customers", "csrf": "x",
        "file": {"name": "c.csv", "mimeType": "text/csv", "buffer": b"customer_id\n"}},
        max_redirects=0)
    assert refused.status == 303 and refused.headers["location"] == "/login"
    for path in ("/api/v1/metrics", "/api/v1/metrics/mrr", "/api/v1/customers",
                 "/api/v1/health", "/api/v1/predictions/churn"):
        assert page.request.get(base_url + path).status == 401, path
    assert page.request.get(base_url + "/api/v1/live").ok


def test_viewers_cannot_load_data_editors_can(browser, base_url):
    viewer = new_page(browser)
    sign_in(viewer, base_url)
    viewer.wait_for_selector(".tile")
    viewer.goto(base_url + "/data")
    assert viewer.locator("form#upload").count() == 0
    assert "can read but not load data" in viewer.content()
    csrf = viewer.locator("header input[name=csrf]").input_value()
    denied = viewer.request.post(base_url + "/data/upload", multipart={
        "table": "customers", "csrf": csrf,
        "file": {"name": "c.csv", "mimeType": "text/csv",
                 "buffer": b"customer_id,name,started_at\nV1,Viewer Co,2024-01-01\n"}})
    assert denied.status == 403 and "editor role" in denied.text()

    editor = new_page(browser)
    sign_in(editor, base_url, EDITOR_PASSWORD, user="eddie")
    editor.wait_for_selector(".tile")
    editor.goto(base_url + "/data")
    good = ARTIFACTS.parent / "upload.csv"
    good.parent.mkdir(parents=True, exist_ok=True)
    good.write_text("customer_id,name,started_at\nE1,Editor Co,2024-01-01\n")
    editor.set_input_files("input[name=file]", str(good))
    editor.click("form#upload button")
    editor.wait_for_selector("p.ok")
    assert "1 inserted" in editor.locator("p.ok").inner_text()
    good.write_text("customer_id,name,started_at\nE2,Broken Co,someday\n")
    editor.set_input_files("input[name=file]", str(good))
    editor.click("form#upload button")
    editor.wait_for_selector("pre.error")
    assert "got 'someday'" in editor.locator("pre.error").inner_text()
    shot(editor, "data")
