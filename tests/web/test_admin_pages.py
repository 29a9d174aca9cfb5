"""The Admin and Account pages in a real headless browser: an admin adds a user and revokes a
token, a viewer sees no Admin entry and gets 403, and changing one's own password works (the
old one no longer signs in)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.serving import served
from tests.web.test_dashboard import browser, new_page, shot, sign_in  # noqa: F401

ADA_PASSWORD = "ada-admin-pass-1"
VIV_PASSWORD = "viv-viewer-pass-1"
SERVED: dict[str, object] = {}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty workspace served on loopback: an admin, a viewer, and the viewer's token."""
    folder = tmp_path_factory.mktemp("admin-web")
    ws = Workspace.init(folder / "ws", name="Admin Co")
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("ada", ADA_PASSWORD, "admin")
    accounts.add_user("viv", VIV_PASSWORD, "viewer")
    SERVED["viv_token"] = accounts.create_token("viv", "reporting script")
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield url
    ws.close()


def test_an_admin_adds_a_user_and_revokes_a_token(browser, base_url):  # noqa: F811
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url, ADA_PASSWORD, "ada")
    page.click("#nav-admin")
    assert page.url.endswith("/admin")
    assert page.locator("#users tbody tr").count() == 2

    page.fill("#add-user input[name=username]", "nia")
    page.select_option("#add-user select[name=role]", "editor")
    page.fill("#add-user input[name=password]", "nia-editor-pass-1")
    page.click("#add-user button[type=submit]")
    assert "Added nia (editor)" in page.locator("p.ok").inner_text()
    row = page.locator("#users tr[data-user=nia]")
    assert row.locator(".role").inner_text() == "editor"
    assert row.locator(".status").inner_text() == "active"
    ws = SERVED["workspace"]
    assert Accounts(ws.warehouse.sql).user("nia").role == "editor"

    # change a role and disable / enable from the table
    row.locator("select[name=role]").select_option("viewer")
    row.locator("button.set-role").click()
    assert page.locator("#users tr[data-user=nia] .role").inner_text() == "viewer"
    page.locator("#users tr[data-user=nia] button.disable").click()
    assert page.locator("#users tr[data-user=nia] .status").inner_text() == "disabled"
    page.locator("#users tr[data-user=nia] button.enable").click()
    assert page.locator("#users tr[data-user=nia] .status").inner_text() == "active"

    # the last admin is protected, with the reason shown
    page.locator("#users tr[data-user=ada] button.disable").click()
    assert "last active admin" in page.locator("[role=alert]").inner_text()

    # a token for nia, shown once
    page.select_option("#create-token select[name=username]", "nia")
    page.fill("#create-token input[name=name]", "nightly export")
    page.click("#create-token button[type=submit]")
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("csm_")
    shot(page, "admin")
    page.goto(base_url + "/admin")
    assert secret not in page.content()

    # revoke the viewer's token: the API refuses it on its next call
    token = str(SERVED["viv_token"])
    with httpx.Client(base_url=base_url + "/api/v1", timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        assert api.get("/tokens").status_code == 200
        viv_row = page.locator("#tokens tbody tr", has_text="reporting script")
        viv_row.locator("button.revoke").click()
        assert "Revoked token" in page.locator("p.ok").inner_text()
        assert page.locator("#tokens tbody tr", has_text="reporting script"
                            ).locator(".revoked").inner_text() != ""
        assert api.get("/tokens").status_code == 401

    # remove nia (behind a disclosure), with her token
    row = page.locator("#users tr[data-user=nia]")
    row.locator("summary", has_text="Remove").click()
    row.locator("button.remove").click()
    assert "Removed nia" in page.locator("p.ok").inner_text()
    assert page.locator("#users tr[data-user=nia]").count() == 0
    assert Accounts(ws.warehouse.sql).user("nia") is None
    assert not errors


def test_a_viewer_sees_no_admin_entry_and_gets_403(browser, base_url):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url, VIV_PASSWORD, "viv")
    page.wait_for_selector("#nav-account")
    assert page.locator("#nav-admin").count() == 0
    response = page.goto(base_url + "/admin")
    assert response is not None and response.status == 403
    assert "needs the admin role" in page.locator("#forbidden").inner_text()
    assert page.locator("#users").count() == 0
    shot(page, "admin-forbidden")


def test_change_my_password_and_the_old_one_no_longer_signs_in(browser, base_url):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url, VIV_PASSWORD, "viv")
    other = new_page(browser)  # a second session of viv's, elsewhere
    sign_in(other, base_url, VIV_PASSWORD, "viv")
    page.click("#nav-account")
    assert page.url.endswith("/account")

    page.fill("input[name=current]", "not-my-password")
    page.fill("input[name=new]", "viv-new-pass-123")
    page.fill("input[name=confirm]", "viv-new-pass-123")
    page.click("#change-password button[type=submit]")
    assert "current password is wrong" in page.locator("[role=alert]").inner_text()

    page.fill("input[name=current]", VIV_PASSWORD)
    page.fill("input[name=new]", "viv-new-pass-123")
    page.fill("input[name=confirm]", "viv-new-pass-123")
    page.click("#change-password button[type=submit]")
    assert "password is changed" in page.locator("p.ok").inner_text()
    shot(page, "account")
    page.goto(base_url + "/account")  # this browser stays signed in
    assert page.url.endswith("/account")
    other.goto(base_url + "/account")  # the other session ended
    assert other.url.endswith("/login")

    fresh = new_page(browser)
    sign_in(fresh, base_url, VIV_PASSWORD, "viv")
    assert "Wrong username or password" in fresh.content()
    sign_in(fresh, base_url, "viv-new-pass-123", "viv")
    assert not fresh.url.endswith("/login")
    assert fresh.locator("#nav-account").inner_text() == "viv"
