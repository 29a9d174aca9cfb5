"""The customer page a CSM needs, the note form and the renewals view, in a real browser on
a workspace built from the sample exports (Stripe, HubSpot, Zendesk, NPS)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import date

import pytest

from csmetrics import Workspace
from csmetrics.metrics.definition import Unit
from csmetrics.metrics.formatting import format_value
from csmetrics.reports.customer360 import NOTE_MAX_CHARS
from tests.samples import SAMPLE_END, build_sample_workspace
from tests.serving import served
from tests.web.test_dashboard import (  # noqa: F401 - browser is a fixture
    EDITOR_PASSWORD,
    PASSWORD,
    browser,
    new_page,
    shot,
    sign_in,
)

END = date.fromisoformat(SAMPLE_END)
STATE: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = build_sample_workspace(tmp_path_factory.mktemp("c360"))
    ws = Workspace.load(root)
    from csmetrics.store.accounts import Accounts
    Accounts(ws.warehouse.sql).add_user("viv", PASSWORD, "viewer")
    Accounts(ws.warehouse.sql).add_user("eddie", EDITOR_PASSWORD, "editor")
    STATE["ws"] = ws
    with served(ws) as url:
        yield url
    ws.close()


def _annual_customer(ws: Workspace) -> tuple[str, date, float]:
    """A customer with one annual subscription in service on the data end and no other:
    its id, the anniversary after the end, and the yearly amount (its ARR)."""
    rows = ws.warehouse.sql.execute(
        "SELECT s.customer_id, min(s.start_date), sum(s.amount) FROM subscriptions s "
        "WHERE s.start_date <= ? AND (s.end_date IS NULL OR s.end_date > ?) "
        "AND s.canceled_at IS NULL AND (s.currency IS NULL OR s.currency = 'USD') "
        "GROUP BY 1 HAVING count(*) = 1 AND bool_and(s.billing_interval = 'year') "
        "AND min(s.start_date) < ? ORDER BY 1 LIMIT 1", [END, END, date(2026, 2, 28)]).fetchall()
    assert rows, "the samples have annual subscriptions in service on the data end"
    customer, start, amount = rows[0]
    start = start if isinstance(start, date) else start.date()
    anniversary = start.replace(year=END.year)
    if anniversary <= END:
        anniversary = start.replace(year=END.year + 1)
    return customer, anniversary, float(amount)


def test_customer_page_shows_arr_subscriptions_and_next_renewal(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    customer, anniversary, yearly = _annual_customer(ws)
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(f"{base_url}/customers/{customer}")
    page.wait_for_selector("#account")
    money = lambda v: format_value(v, Unit.MONEY, "USD")  # noqa: E731
    assert page.locator("#account-arr").inner_text() == money(yearly)
    assert page.locator("#account-mrr").inner_text() == money(yearly / 12)
    assert page.locator("#account-renewal").inner_text() == (
        f"{anniversary} · {money(yearly)}")
    assert page.locator("#subscriptions tbody tr").count() == 1
    assert "year" in page.locator("#subscriptions tbody").inner_text()
    assert page.locator("#last-touch").inner_text()
    # a viewer sees no note form
    assert page.locator("#note-form").count() == 0
    assert not errors
    shot(page, "customer360-viewer")


def test_an_editor_logs_a_note_that_becomes_the_last_touch(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    customer, _, _ = _annual_customer(ws)
    page = new_page(browser)
    sign_in(page, base_url, password=EDITOR_PASSWORD, user="eddie")
    page.wait_for_selector(".tile")
    page.goto(f"{base_url}/customers/{customer}")
    # an empty note: refused by the page with the reason (the browser's own check bypassed)
    page.eval_on_selector("#note-form textarea", "t => t.removeAttribute('required')")
    page.fill("#note-form textarea", "   ")
    page.click("#note-form button")
    assert "The note is empty" in page.locator(".error").inner_text()
    too_long = "x" * (NOTE_MAX_CHARS + 1)
    page.eval_on_selector("#note-form textarea", "t => t.removeAttribute('maxlength')")
    page.fill("#note-form textarea", too_long)
    page.click("#note-form button")
    assert f"keep it to {NOTE_MAX_CHARS:,} or fewer" in page.locator(".error").inner_text()
    page.fill("#note-form textarea", "Renewal call booked, sponsor happy with the new plan.")
    page.click("#note-form button")
    page.wait_for_url(re.compile(rf".*/customers/{customer}\?message=.*"))
    touch = page.locator("#last-touch").inner_text()
    assert "activity: note by eddie" in touch and "Renewal call booked" in touch
    shot(page, "customer360-note")
    stored = ws.warehouse.sql.execute(
        "SELECT kind, employee, notes FROM activities WHERE customer_id = ? AND kind = 'note'",
        [customer]).fetchall()
    assert stored == [("note", "eddie",
                       "Renewal call booked, sponsor happy with the new plan.")]
    assert any(b.table == "activities" and b.loaded_by == "eddie (dashboard)"
               for b in ws.batches())
    # the note is dated when it was written, after the exports end: it does not move the data end
    assert ws.data_end() == END
    assert f"data through {END}" in page.locator("#freshness").inner_text()


def test_a_viewer_may_not_log_a_note(browser, base_url):  # noqa: F811
    ws = STATE["ws"]
    customer, _, _ = _annual_customer(ws)
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.goto(f"{base_url}/customers/{customer}")
    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    refused = page.request.post(f"{base_url}/customers/{customer}/notes",
                                form={"csrf": csrf, "text": "sneaky"})
    assert refused.status == 403 and "needs the editor role" in refused.text()
    forged = page.request.post(f"{base_url}/customers/{customer}/notes",
                               form={"csrf": "forged", "text": "sneaky"})
    assert forged.status == 403
    assert ws.warehouse.sql.execute(
        "SELECT count(*) FROM activities WHERE notes = 'sneaky'").fetchall() == [(0,)]


@pytest.mark.parametrize("days", [30, 60, 90])
def test_renewals_view_lists_renewals_and_arr_at_risk(browser, base_url, days):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url)
    page.wait_for_selector(".tile")
    page.click("header nav a:text('Renewals')")
    page.wait_for_url(re.compile(r".*/renewals(\?.*)?$"), timeout=60_000)
    page.click(f"#windows a:text('Next {days} days')")
    page.wait_for_url(f"**/renewals?days={days}&billing=all")
    with page.expect_download() as info:
        page.click(".downloads a[data-format=csv]")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    end = STATE["ws"].data_end()  # 2026-06-30, or the day of a note logged since
    dates = [date.fromisoformat(r["Renewal date"][:10]) for r in rows]
    assert all(0 < (d - end).days <= days for d in dates) and dates == sorted(dates)
    assert page.locator("#renewals tbody tr").count() == max(len(rows), 1)
    total = sum(float(r["ARR"]) for r in rows)
    money = lambda v: format_value(v, Unit.MONEY, "USD")  # noqa: E731
    assert page.locator("#renewals-count").inner_text() == (
        f"{len(rows)} renewals · {money(total)} ARR")
    # ARR at risk per band adds up to the total, each band to its rows
    for band in ("red", "yellow", "green", "insufficient data"):
        mine = sum(float(r["ARR"]) for r in rows if r["Health band"] == band)
        tile = page.locator(f"#at-risk .tile[data-band='{band}'] .value").inner_text()
        assert tile == money(mine), band
    if days == 90:
        assert rows, "the samples have annual renewals in the 90 days after 2026-06-30"
        shot(page, "renewals-90")
        # contracts only: the annual and quarterly renewals, not each month of a monthly plan
        page.click("#billing a:text('Contracts')")
        page.wait_for_url(f"**/renewals?days={days}&billing=contracts")
        contracts = [r for r in rows if r["Interval"] in ("quarter", "year")]
        assert 0 < len(contracts) < len(rows)
        assert page.locator("#renewals tbody tr").count() == len(contracts)
        assert set(page.locator("#renewals tbody td:nth-child(4)").all_inner_texts()) <= {
            "quarter", "year"}
        assert page.locator("#renewals-count").inner_text() == (
            f"{len(contracts)} renewals · {money(sum(float(r['ARR']) for r in contracts))} ARR")
        shot(page, "renewals-90-contracts")
