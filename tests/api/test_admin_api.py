"""Administration over the JSON API, served by a real uvicorn server on loopback: users and
tokens (admins), own tokens and own password (everyone), revocation and disabling taking
effect on the very next request, and the last-admin guard."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.serving import served

ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[str, Workspace, dict[str, str]]]:
    """An empty workspace served on loopback with an admin, an editor and a viewer, each with
    a token (a fresh one per test: these tests change who may do what)."""
    ws = Workspace.init(tmp_path / "ws", name="Admin Co")
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("ada", ADMIN_PASSWORD, "admin")
    accounts.add_user("ed", "editor-password-1", "editor")
    accounts.add_user("vi", "viewer-password-1", "viewer")
    tokens = {name: accounts.create_token(name, "tests") for name in ("ada", "ed", "vi")}
    with served(ws) as url:
        yield f"{url}/api/v1", ws, tokens
    ws.close()


def api(server: tuple[str, Workspace, dict[str, str]], who: str | None = None,
        token: str | None = None) -> httpx.Client:
    base, _, tokens = server
    secret = token or (tokens[who] if who else None)
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return httpx.Client(base_url=base, headers=headers, timeout=60)


def _message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


def test_an_admin_manages_users(server):
    with api(server, "ada") as admin:
        listed = admin.get("/users").json()
        assert [u["username"] for u in listed] == ["ada", "ed", "vi"]
        assert all(set(u) == {"username", "role", "disabled", "created_at"} for u in listed)
        assert "password" not in admin.get("/users").text

        added = admin.post("/users", json={"username": "nia", "role": "editor",
                                           "password": "nia-password-1"})
        assert added.status_code == 201
        assert added.json()["username"] == "nia" and added.json()["role"] == "editor"
        assert added.json()["created_at"].startswith("2026-07-15")
        assert "nia-password-1" not in added.text
        taken = admin.post("/users", json={"username": "nia", "role": "viewer",
                                           "password": "another-pass-1"})
        assert taken.status_code == 400 and "already exists" in _message(taken)
        short = admin.post("/users", json={"username": "bo", "password": "short"})
        assert short.status_code == 422 and short.json()["error"]["field"] == "password"
        odd = admin.post("/users", json={"username": "bo", "role": "owner",
                                         "password": "long-enough-1"})
        assert odd.status_code == 422 and odd.json()["error"]["field"] == "role"

        changed = admin.patch("/users/nia", json={"role": "viewer"})
        assert changed.status_code == 200 and changed.json()["role"] == "viewer"
        disabled = admin.patch("/users/nia", json={"disabled": True}).json()
        assert disabled["disabled"] is True and disabled["role"] == "viewer"
        assert admin.patch("/users/nia", json={"disabled": False}).json()["disabled"] is False
        assert admin.patch("/users/nobody", json={"role": "viewer"}).status_code == 404

        reset = admin.post("/users/nia/password", json={"password": "reset-password-1"})
        assert reset.status_code == 204
    _, ws, _ = server
    accounts = Accounts(ws.warehouse.sql)
    assert accounts.authenticate("nia", "reset-password-1") is not None
    assert accounts.authenticate("nia", "nia-password-1") is None

    nia_token = accounts.create_token("nia", "script")
    with api(server, token=nia_token) as nia:
        assert nia.get("/tokens").status_code == 200
    with api(server, "ada") as admin:
        assert admin.delete("/users/nia").status_code == 204
        assert "nia" not in [u["username"] for u in admin.get("/users").json()]
        assert admin.delete("/users/nia").status_code == 404
        assert all(t["username"] != "nia" for t in admin.get("/tokens").json())
    with api(server, token=nia_token) as nia:  # removing a user revokes their tokens
        assert nia.get("/tokens").status_code == 401


@pytest.mark.parametrize("who", ["ed", "vi"])
def test_editors_and_viewers_get_403_on_admin_routes(server, who):
    with api(server, who) as someone:
        for method, path, body in [
            ("GET", "/users", None),
            ("POST", "/users", {"username": "x", "role": "admin", "password": "x-password-1"}),
            ("PATCH", "/users/ada", {"role": "viewer"}),
            ("DELETE", "/users/ada", None),
            ("POST", "/users/ada/password", {"password": "hijacked-password"}),
        ]:
            refused = someone.request(method, path, json=body)
            assert refused.status_code == 403, (method, path)
            assert "needs the admin role" in _message(refused)
        # nor tokens for someone else
        other = someone.post("/tokens", json={"username": "ada", "name": "sneaky"})
        assert other.status_code == 403 and "Only admins" in _message(other)
    _, ws, _ = server
    assert Accounts(ws.warehouse.sql).user("ada").role == "admin"
    assert Accounts(ws.warehouse.sql).authenticate("ada", ADMIN_PASSWORD) is not None


def test_tokens_admins_see_all_others_their_own(server):
    with api(server, "ada") as admin:
        everyone = admin.get("/tokens").json()
        assert {t["username"] for t in everyone} == {"ada", "ed", "vi"}
        assert all(set(t) == {"token_id", "username", "name", "created_at", "revoked_at"}
                   for t in everyone)
        made = admin.post("/tokens", json={"username": "ed", "name": "for ed"})
        assert made.status_code == 201
        secret = made.json()["token"]
        assert secret.startswith("csm_") and made.json()["username"] == "ed"
        assert secret not in admin.get("/tokens").text  # shown once
        assert admin.post("/tokens", json={"username": "ghost", "name": "x"}).status_code == 404
    _, ws, _ = server
    hashes = ws.warehouse.sql.execute("SELECT token_hash FROM _api_tokens").fetchall()
    with api(server, "ada") as admin:
        assert not any(h[0] in admin.get("/tokens").text for h in hashes)
    with api(server, token=secret) as ed:
        mine = ed.get("/tokens").json()
        assert {t["username"] for t in mine} == {"ed"} and len(mine) == 2
        own = ed.post("/tokens", json={"name": "laptop"})
        assert own.status_code == 201 and own.json()["username"] == "ed"
        vi_token = next(t["token_id"] for t in everyone if t["username"] == "vi")
        assert ed.delete(f"/tokens/{vi_token}").status_code == 404  # not theirs
        revoked = ed.delete(f"/tokens/{own.json()['token_id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    with api(server, token=own.json()["token"]) as laptop:
        assert laptop.get("/tokens").status_code == 401


def test_a_revoked_token_is_refused_on_its_next_call(server):
    with api(server, "vi") as viewer:
        assert viewer.get("/tokens").status_code == 200
        with api(server, "ada") as admin:
            token_id = next(t["token_id"] for t in admin.get("/tokens").json()
                            if t["username"] == "vi")
            assert admin.delete(f"/tokens/{token_id}").status_code == 200
            again = admin.delete(f"/tokens/{token_id}")
            assert again.status_code == 400 and "no active token" in _message(again)
        refused = viewer.get("/tokens")
        assert refused.status_code == 401
        assert "revoked" in _message(refused)


def test_a_disabled_users_token_and_session_stop_at_once(server):
    base, ws, _ = server
    site = base.removesuffix("/api/v1")
    # cookies are Secure (even on loopback), which httpx keeps for https: carry them by hand
    with httpx.Client(base_url=site, timeout=60) as browser:
        form = browser.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        signed_in = browser.post(
            "/login", data={"username": "ed", "password": "editor-password-1", "csrf": csrf},
            headers={"Cookie": f"csmetrics_login_csrf={form.cookies['csmetrics_login_csrf']}"})
        browser.headers["Cookie"] = f"csmetrics_session={signed_in.cookies['csmetrics_session']}"
        browser.cookies.clear()
        assert browser.get("/account").status_code == 200
        with api(server, "ed") as editor, api(server, "ada") as admin:
            assert editor.get("/tokens").status_code == 200
            assert admin.patch("/users/ed", json={"disabled": True}).status_code == 200
            assert editor.get("/tokens").status_code == 401
            signed_out = browser.get("/account")
            assert signed_out.status_code == 303
            assert signed_out.headers["location"] == "/login"
            assert admin.patch("/users/ed", json={"disabled": False}).status_code == 200
            assert editor.get("/tokens").status_code == 200


def test_the_last_active_admin_cannot_be_removed_disabled_or_demoted(server):
    with api(server, "ada") as admin:
        for method, path, body in [("DELETE", "/users/ada", None),
                                   ("PATCH", "/users/ada", {"disabled": True}),
                                   ("PATCH", "/users/ada", {"role": "editor"})]:
            refused = admin.request(method, path, json=body)
            assert refused.status_code == 400, (method, path)
            assert "last active admin" in _message(refused)
            assert refused.json()["error"]["field"] == (list(body)[0] if body else "username")
        # a disabled admin does not count: promote ed, disable them, ada is still the last
        assert admin.patch("/users/ed", json={"role": "admin", "disabled": True}
                           ).status_code == 200
        assert admin.patch("/users/ada", json={"role": "viewer"}).status_code == 400
        # with a second active admin, ada may step down
        assert admin.patch("/users/ed", json={"disabled": False}).status_code == 200
        demoted = admin.patch("/users/ada", json={"role": "viewer"})
        assert demoted.status_code == 200 and demoted.json()["role"] == "viewer"
        assert admin.get("/users").status_code == 403  # at once
    with api(server, "ed") as ed:
        assert ed.patch("/users/ed", json={"role": "editor"}).status_code == 400
        assert ed.get("/users").status_code == 200


def test_change_own_password_needs_the_current_one(server):
    _, ws, _ = server
    with api(server, "vi") as viewer:
        wrong = viewer.post("/me/password", json={"current": "not-it-at-all",
                                                  "new": "new-viewer-pass-1"})
        assert wrong.status_code == 400 and "current password is wrong" in _message(wrong)
        assert wrong.json()["error"]["field"] == "current"
        short = viewer.post("/me/password", json={"current": "viewer-password-1",
                                                  "new": "short"})
        assert short.status_code == 422 and short.json()["error"]["field"] == "new"
        changed = viewer.post("/me/password", json={"current": "viewer-password-1",
                                                    "new": "new-viewer-pass-1"})
        assert changed.status_code == 204
        assert viewer.get("/tokens").status_code == 200  # the token keeps working
    accounts = Accounts(ws.warehouse.sql)
    assert accounts.authenticate("vi", "viewer-password-1") is None
    assert accounts.authenticate("vi", "new-viewer-pass-1").username == "vi"
    with api(server) as anonymous:
        assert anonymous.post("/me/password", json={"current": "x", "new": "y" * 12}
                              ).status_code == 401
