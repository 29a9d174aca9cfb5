"""The Data page loads a real tool's export with a mapping file beside it (headless chromium)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, sync_playwright

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.samples import mapping_for, sample
from tests.serving import served
from tests.web.test_dashboard import ARTIFACTS, new_page, shot, sign_in

PASSWORD = "editor-pass-123"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A workspace holding the HubSpot sample customers, with an editor account."""
    ws = Workspace.init(tmp_path_factory.mktemp("upload") / "ws", name="Northwind Desk")
    export = sample("hubspot_companies.csv")
    ws.ingest("customers", [export], mapping=mapping_for(export.name))
    Accounts(ws.warehouse.sql).add_user("eddie", PASSWORD, "editor")
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


def test_a_stripe_export_loads_with_its_mapping_from_the_data_page(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url, PASSWORD, user="eddie")
    page.wait_for_selector("nav")
    page.goto(base_url + "/data")
    export = sample("stripe_subscriptions.csv")
    # without the mapping the Stripe headers are not ours: refused, naming the fix
    page.select_option("select[name=table]", "subscriptions")
    page.set_input_files("input[name=file]", str(export))
    page.click("form#upload button")
    page.wait_for_selector("pre.error")
    error = page.locator("pre.error").inner_text()
    assert "stripe_subscriptions.csv" in error and "--mapping" in error
    assert "/tmp" not in error  # no server paths
    # with it, every line loads
    page.select_option("select[name=table]", "subscriptions")
    page.set_input_files("input[name=file]", str(export))
    page.set_input_files("input[name=mapping]", str(mapping_for(export.name)))
    page.click("form#upload button")
    page.wait_for_selector("p.ok")
    assert "73 rows read" in page.locator("p.ok").inner_text()
    assert "73 inserted" in page.locator("p.ok").inner_text()
    assert "stripe_subscriptions.csv" in page.locator("#batches").inner_text()
    shot(page, "data-upload-with-mapping")


def test_a_broken_mapping_is_refused_with_its_error(browser, base_url):
    page = new_page(browser)
    sign_in(page, base_url, PASSWORD, user="eddie")
    page.wait_for_selector("nav")
    page.goto(base_url + "/data")
    broken = ARTIFACTS.parent / "broken-mapping.toml"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('[columns]\n"Amount" = "amout"\n')
    page.select_option("select[name=table]", "subscriptions")
    page.set_input_files("input[name=file]", str(sample("stripe_subscriptions.csv")))
    page.set_input_files("input[name=mapping]", str(broken))
    page.click("form#upload button")
    page.wait_for_selector("pre.error")
    error = page.locator("pre.error").inner_text()
    assert "broken-mapping.toml" in error and "Did you mean 'amount'?" in error
