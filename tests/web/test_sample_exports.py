"""The dashboard on a workspace built from the sample exports (Stripe, HubSpot, Zendesk and an
NPS tool, loaded with their mapping files through the real CLI), as a new user sees it: the
drill-downs add up to the movements, the week the data ends in is marked partial, numbers
read by their unit, and the retention page lays out on a phone without overlaps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page

from csmetrics import Workspace
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.store.accounts import Accounts
from tests.samples import SAMPLE_END, build_sample_workspace
from tests.serving import served
from tests.web.test_dashboard import PASSWORD, browser, new_page, shot, sign_in  # noqa: F401

END = date.fromisoformat(SAMPLE_END)
KINDS = ("new", "expansion", "reactivation", "contraction", "churned")
STATE: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_sample_workspace(tmp_path_factory.mktemp("exports"))
    ws = Workspace.load(root)
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    STATE["ws"] = ws
    with served(ws) as url:
        yield url
    ws.close()


def _signed_in(browser: Any, base_url: str, width: int = 1280) -> Page:  # noqa: F811
    page = new_page(browser, width)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    return page


def test_drill_down_lists_have_as_many_customers_as_each_movement(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    first = date(2025, 7, 1)
    figures = ws.query([f"mrr_{k}" for k in KINDS], period="month", start=first, end=END)
    assert figures["n"].sum() > 20, "the samples move MRR in every direction"
    page = _signed_in(browser, base_url)
    seen = set()
    for row in figures.itertuples():
        kind = row.metric.removeprefix("mrr_")
        page.goto(f"{base_url}/drill/movement?kind={kind}&period=month&start={row.period_start}")
        count = page.locator("#drill-count").inner_text()
        assert count.split()[0] == str(int(row.n)), (kind, row.period_start, count)
        if row.n:
            seen.add(kind)
            total = page.locator("#drill tfoot th").last.inner_text()
            assert total == format_value(float(row.value), Unit.MONEY, "USD")
    assert seen == set(KINDS), "every kind of movement has customers behind it somewhere"
    shot(page, "samples-drill-movement")


def test_the_week_the_data_ends_in_is_partial(browser, base_url):  # noqa: F811
    page = _signed_in(browser, base_url)
    page.goto(f"{base_url}/revenue?period=week")
    page.wait_for_selector("#chart-mrr .main-svg")
    figure = json.loads(page.locator("#chart-mrr").get_attribute("data-figure") or "{}")
    monday = END - timedelta(days=END.weekday())  # weeks start on Monday by default
    assert monday + timedelta(days=6) > END  # 2026-06-30 is a Tuesday: that week runs on
    partial = [t for t in figure["data"] if t.get("name") == "MRR (partial)"]
    assert len(partial) == 1 and partial[0]["x"] == [monday.isoformat()]
    whole = next(t for t in figure["data"] if t.get("name") == "MRR")
    assert monday.isoformat() not in whole["x"]
    shot(page, "samples-revenue-week-partial")


def test_numbers_read_by_their_unit(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    page = _signed_in(browser, base_url)
    tiles = {t.get_attribute("data-metric"): t for t in page.locator(".tile[data-metric]").all()}
    june = ws.query(["mrr", "customer_churn_rate"], start=date(2026, 6, 1), end=END)
    mrr = float(june[june.metric == "mrr"].value.iloc[0])
    churn = float(june[june.metric == "customer_churn_rate"].value.iloc[0])
    assert tiles["mrr"].locator(".value").inner_text() == format_value(mrr, Unit.MONEY, "USD")
    assert format_value(mrr, Unit.MONEY, "USD").endswith(" USD")
    assert tiles["customer_churn_rate"].locator(".value").inner_text() == format_value(
        churn, Unit.RATE, "USD")
    assert tiles["customer_churn_rate"].locator(".value").inner_text().endswith("%")
    # without usage or CSM activity no account has enough data for a band: said so
    assert tiles["health_mix"].locator(".change").inner_text().endswith(
        "· 100% insufficient data")
    # no costs: no value, the reason, and no "too few to judge" or change beside it
    ltv = tiles["ltv_cac_ratio"]
    assert ltv.locator(".value").inner_text() == "—"
    assert "load costs" in ltv.inner_text() and "too few" not in ltv.inner_text()
    assert ltv.locator(".change").inner_text() == ""
    # no machine names in the tables a user reads
    page.goto(f"{base_url}/voice")
    headers = page.locator("th").all_inner_texts()
    assert headers and not [h for h in headers if "_" in h]


def _boxes(page: Page, selector: str) -> list[tuple[str, dict[str, float]]]:
    """The visible elements of ``selector`` with their bounding boxes."""
    found = []
    for i, element in enumerate(page.locator(selector).all()):
        box = element.bounding_box()
        if box and box["width"] > 0 and box["height"] > 0:
            found.append((f"{selector}[{i}]", box))
    return found


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes share area (touching edges do not count; 0.5 px of rounding)."""
    return (a["x"] + a["width"] - 0.5 > b["x"] and b["x"] + b["width"] - 0.5 > a["x"]
            and a["y"] + a["height"] - 0.5 > b["y"] and b["y"] + b["height"] - 0.5 > a["y"])


def test_retention_page_on_a_phone_has_no_overlapping_elements(browser, base_url):  # noqa: F811
    page = _signed_in(browser, base_url, width=390)
    page.goto(f"{base_url}/retention")
    page.wait_for_selector(".card .main-svg")
    page.wait_for_load_state("networkidle")
    # nothing sticks out of the screen sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    blocks = _boxes(page, "main > *") + _boxes(page, "header")
    cards = _boxes(page, "main .card")
    assert len(cards) >= 4
    for group in (blocks, cards):
        for i, (name, box) in enumerate(group):
            assert box["x"] >= -0.5 and box["x"] + box["width"] <= 390.5, name
            for other, other_box in group[i + 1:]:
                assert not _overlaps(box, other_box), (name, other)
    # inside each card: its title, chart, table or empty state, one under the other
    for c in range(len(cards)):
        card = f"main .card >> nth={c}"
        parts = [(f"{card} > *[{i}]", b) for i, b in enumerate(
            e.bounding_box() for e in page.locator(f"{card} > *").all()) if b and b["height"]]
        for i, (name, box) in enumerate(parts):
            for other, other_box in parts[i + 1:]:
                assert not _overlaps(box, other_box), (name, other)
    shot(page, "samples-retention-phone")


def test_the_customer_page_speaks_to_people(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    customer = ws.warehouse.sql.execute(
        "SELECT customer_id FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()[0][0]
    page = _signed_in(browser, base_url)
    page.goto(f"{base_url}/customers/{customer}")
    page.wait_for_selector("#chart-timeline .main-svg")
    headers = page.locator("main th").all_inner_texts()
    assert "Opened at" in headers and not [h for h in headers if "_" in h]
    assert "_" not in page.locator("main > p.meta").first.inner_text()  # "Started at: ..."
    assert "None" not in page.locator("#last-touch").inner_text()  # a ticket without category
    # no usage loaded: the timeline is MRR alone, without an empty DAU axis
    figure = json.loads(page.locator("#chart-timeline").get_attribute("data-figure") or "{}")
    assert [t["name"] for t in figure["data"]] == ["MRR"]
    shot(page, "samples-customer")
