"""Honest time and missing data on the dashboard, in a real headless browser: every page says
how current its numbers are, a quarter the data ends inside is drawn as partial, tiles show
the last complete period, and charts of tables nobody loaded say what to load instead of
drawing zeros."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY, write_csv
from tests.samples import SAMPLE_END, build_sample_workspace
from tests.serving import served
from tests.web.test_dashboard import PASSWORD, browser, new_page, shot, sign_in  # noqa: F401

#: A ticket opened after the demo's last day (2026-06-30) and before today (CSMETRICS_NOW,
#: 2026-07-15): the data now ends inside July and the third quarter.
LATE_TICKET_DAY = "2026-07-10"
#: What every page's header says: the data end, and the refresh run before serving (at the
#: pinned clock's time, in the workspace's zone, UTC).
FRESHNESS = f"data through {LATE_TICKET_DAY} · refreshed at 2026-07-15 10:00 UTC"
SERVED: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo company ending on the pinned demo day, plus one later ticket, refreshed."""
    folder = tmp_path_factory.mktemp("honest")
    ws = Workspace.init(folder / "ws", name="Honest Co")
    files = write_company(folder / "files", customers=30, months=9, seed=5, end=DEMO_END_DAY)
    for table, paths in files.items():
        ws.ingest(table, paths)
    first = ws.warehouse.sql.execute("SELECT min(customer_id) FROM customers").fetchone()[0]
    ws.ingest("tickets", [write_csv(folder / "late.csv", ["ticket_id", "customer_id",
                                                          "opened_at"],
                                    [("late-1", first, f"{LATE_TICKET_DAY}T09:00:00")])])
    ws.refresh()
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("viv", PASSWORD, "viewer")
    SERVED["token"] = accounts.create_token("viv", "tests")  # type: ignore[assignment]
    SERVED["demo"] = ws
    SERVED["customer"] = first  # type: ignore[assignment]
    with served(ws) as url:
        yield url
    ws.close()


@pytest.fixture(scope="module")
def samples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample exports (Stripe, HubSpot, Zendesk, NPS): no usage events, no costs."""
    root = build_sample_workspace(tmp_path_factory.mktemp("samples"))
    ws = Workspace.load(root)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    with served(ws) as url:
        yield url
    ws.close()


def test_every_page_says_how_current_the_data_is(browser: Browser, demo_url: str) -> None:  # noqa: F811
    page = new_page(browser)
    sign_in(page, demo_url)
    customer = SERVED["customer"]
    for path in ("/", "/revenue", "/usage", "/customers", f"/customers/{customer}", "/tasks",
                 "/data"):
        page.goto(demo_url + path)
        assert page.locator("#freshness").inner_text() == FRESHNESS, path
    shot(page, "honest-data-page-freshness")


def test_a_quarter_the_data_ends_inside_is_marked_partial(browser: Browser,  # noqa: F811
                                                          demo_url: str) -> None:
    page = new_page(browser)
    sign_in(page, demo_url)
    page.goto(demo_url + "/revenue?period=quarter")
    page.wait_for_selector("#chart-mrr .main-svg")
    # by default the range runs to the data end: the third quarter is there, as partial
    assert page.locator("input[name=to]").input_value() == LATE_TICKET_DAY
    figure = json.loads(page.locator("#chart-mrr").get_attribute("data-figure") or "{}")
    partial = [t for t in figure["data"] if t.get("name") == "MRR (partial)"]
    assert len(partial) == 1 and partial[0]["x"] == ["2026-07-01"]
    assert partial[0]["marker"]["color"] == "white"  # a hollow marker
    assert "partial period" in partial[0]["hovertemplate"]
    dotted = [t for t in figure["data"] if t.get("line", {}).get("dash") == "dot"]
    assert dotted and dotted[0]["x"] == ["2026-04-01", "2026-07-01"]  # Q2 to Q3, dotted
    whole = next(t for t in figure["data"] if t.get("name") == "MRR")
    assert "2026-07-01" not in whole["x"]
    assert "MRR (partial)" in page.locator("#chart-mrr .legendtext").all_text_contents()
    shot(page, "honest-revenue-quarter-partial")
    # the rows behind the chart say so too
    with page.expect_download() as info:
        page.click("#chart-mrr >> xpath=.. >> text=CSV")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    flags = {r["period_start"]: r["partial"] for r in rows}
    assert flags["2026-07-01"] == "True" and flags["2026-04-01"] == "False"


def test_the_api_carries_the_partial_flag_and_the_data_end(demo_url: str) -> None:
    answer = httpx.get(demo_url + "/api/v1/metrics/mrr", params={
        "period": "quarter", "start": "2026-01-01", "end": "2026-12-31"},
        headers={"Authorization": f"Bearer {SERVED['token']}"}, timeout=120)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["data_through"] == LATE_TICKET_DAY
    assert body["refreshed_at"].startswith("2026-07-15T10:00")
    shown = [(r["period_start"], r["partial"], r["value"] is None, r["null_reason"])
             for r in body["rows"]]
    assert shown == [("2026-01-01", False, False, None), ("2026-04-01", False, False, None),
                     ("2026-07-01", True, False, None),
                     ("2026-10-01", False, True, f"after the data end {LATE_TICKET_DAY}")]


def test_tiles_show_the_last_complete_month(browser: Browser, demo_url: str) -> None:  # noqa: F811
    page = new_page(browser)
    sign_in(page, demo_url)
    page.wait_for_selector(".tile[data-metric=mrr] .value")
    # July runs past the data end (07-10): the tile shows June, the last complete month
    june = SERVED["demo"].query("mrr", start="2026-06-01", end="2026-06-30")
    assert page.locator(".tile[data-metric=mrr] .value").inner_text() == format_value(
        float(june.value.iloc[0]), Unit.MONEY, "USD")


def test_charts_of_unloaded_tables_say_what_to_load(browser: Browser,  # noqa: F811
                                                    samples_url: str) -> None:
    page = new_page(browser)
    sign_in(page, samples_url)
    assert page.locator("#freshness").inner_text() == (
        f"data through {SAMPLE_END} · never refreshed")
    page.goto(samples_url + "/usage")
    cards = page.locator(".empty-state")
    assert cards.count() == 5  # every usage chart: no usage_events were loaded
    assert page.locator(".chart").count() == 0  # no chart of zeros, no axes
    active = page.locator("#empty-active").inner_text()
    assert "No usage_events loaded: load usage_events to see DAU, WAU, MAU." in active
    assert "csmetrics ingest usage_events FILE.csv" in active
    assert page.locator("#empty-active a[href='/data']").count() == 1
    shot(page, "honest-usage-empty-state")
    # a tile of a metric without its table: "—" and what to load (no costs in the samples)
    page.goto(samples_url + "/")
    tile = page.locator(".tile[data-metric=ltv_cac_ratio]")
    assert tile.locator(".value").inner_text() == "—"
    assert "load costs to see LTV : CAC" in tile.inner_text()
    shot(page, "honest-overview-samples")


def test_phone_width_keeps_the_freshness_line(browser: Browser, samples_url: str) -> None:  # noqa: F811
    page = new_page(browser, width=390)
    sign_in(page, samples_url)
    page.goto(samples_url + "/usage")
    box = page.locator("#freshness").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "honest-usage-phone")

