"""Bad input in the dashboard's address or forms: the page says what is wrong (400), never a
500. Called over HTTP with a signed-in session's cookie."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts
from csmetrics.web import sessions
from tests.conftest import DEMO_END_DAY
from tests.serving import served

PASSWORD = "bad-input-pass-1"
SERVED: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small demo company served on loopback, with an editor account."""
    folder = tmp_path_factory.mktemp("web-bad-input")
    ws = Workspace.init(folder / "ws", name="Bad Input Co")
    for table, paths in write_company(folder / "files", customers=20, months=6, seed=12,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    Accounts(ws.warehouse.sql).add_user("eddie", PASSWORD, "editor")
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield url
    ws.close()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.fixture(scope="module")
def browser(site_url: str) -> Iterator[httpx.Client]:
    """A client signed in as the editor. The cookies are Secure (even on loopback), which
    httpx keeps from plain http: they are sent by hand, as a browser would send them."""
    form = httpx.get(site_url + "/login")
    login_cookie = form.cookies[sessions.LOGIN_CSRF_COOKIE]
    signed = httpx.post(site_url + "/login", data={
        "username": "eddie", "password": PASSWORD, "csrf": _csrf(form.text)},
        headers={"Cookie": f"{sessions.LOGIN_CSRF_COOKIE}={login_cookie}"})
    assert signed.status_code == 303 and signed.headers["location"] == "/", signed.text
    cookie = f"{sessions.COOKIE}={signed.cookies[sessions.COOKIE]}"
    with httpx.Client(base_url=site_url, headers={"Cookie": cookie}, timeout=120) as client:
        assert client.get("/data").status_code == 200
        yield client


def alerts(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'role="alert">(.*?)</', page, re.S)]


@pytest.mark.parametrize(("path", "field", "value", "message"), [
    ("/revenue", "from", "0001-01-01",
     "from 0001-01-01 is outside the supported range 1900-01-01..2100-12-31."),
    ("/", "to", "9999-12-31",
     "to 9999-12-31 is outside the supported range 1900-01-01..2100-12-31."),
    ("/retention", "from", "2101-01-01",
     "from 2101-01-01 is outside the supported range 1900-01-01..2100-12-31."),
    ("/support", "to", "soon", "to 'soon' is not a date; write it as YYYY-MM-DD."),
])
def test_a_bad_date_in_the_address_is_explained_on_the_page(browser, path, field, value,
                                                            message):
    page = browser.get(path, params={field: value})
    assert page.status_code == 400
    assert alerts(page.text) == [f"{message} Showing the default range instead."]
    # the page itself is there, with the default range in the pickers
    assert 'name="from" value="' in page.text and 'class="chart"' in page.text
    assert f'value="{value}"' not in page.text


def test_a_good_range_shows_no_message(browser):
    page = browser.get("/revenue", params={"from": "2026-01-01", "to": "2026-06-30"})
    assert page.status_code == 200 and alerts(page.text) == []
    assert 'name="from" value="2026-01-01"' in page.text


def test_a_download_with_a_bad_date_is_a_400_saying_why(browser):
    response = browser.get("/download/revenue/mrr.csv", params={"from": "0001-01-01"})
    assert response.status_code == 400
    assert response.text == ("from 0001-01-01 is outside the supported range "
                             "1900-01-01..2100-12-31.")


@pytest.mark.parametrize("name", ["..", "../customers.csv", "a/customers.csv"])
def test_an_upload_without_a_plain_file_name_is_refused_on_the_data_page(browser, name):
    before = len(SERVED["workspace"].batches())
    csrf = _csrf(browser.get("/data").text)
    response = browser.post("/data/upload", data={"csrf": csrf, "table": "customers"}, files={
        "file": (name, b"customer_id,name,started_at\nNEW1,New,2024-01-01\n")})
    assert response.status_code == 400
    assert alerts(response.text) == [
        f"file: {name!r} is not a file name; send the file under a plain name such as "
        "customers.csv (no folders, not '.' or '..')."]
    assert len(SERVED["workspace"].batches()) == before


def test_the_data_page_merges_a_partial_file_unless_whole_rows_are_asked_for(browser):
    ws = SERVED["workspace"]
    customer, name, started, plan, region = ws.warehouse.sql.execute(
        "SELECT customer_id, name, started_at, plan, region FROM customers "
        "ORDER BY customer_id LIMIT 1").fetchone()
    assert plan is not None and region is not None
    subset = f"customer_id,name,started_at\n{customer},{name},{started}\n".encode()
    stored = "SELECT plan, region FROM customers WHERE customer_id = ?"
    csrf = _csrf(browser.get("/data").text)
    kept = browser.post("/data/upload", data={"csrf": csrf, "table": "customers"},
                        files={"file": ("subset.csv", subset)})
    assert kept.status_code == 200 and "0 inserted, 0 updated, 1 unchanged" in kept.text
    assert ws.warehouse.sql.execute(stored, [customer]).fetchone() == (plan, region)
    emptied = browser.post("/data/upload", data={"csrf": csrf, "table": "customers",
                                                 "replace_columns": "true"},
                           files={"file": ("subset.csv", subset)})
    assert "0 inserted, 1 updated, 0 unchanged" in emptied.text
    assert ws.warehouse.sql.execute(stored, [customer]).fetchone() == (None, None)
