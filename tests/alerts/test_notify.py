"""Notifications against real local receivers: an SMTP server with STARTTLS / implicit TLS and
a self-signed certificate, and HTTP webhook receivers that check the HMAC and fail on purpose."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from csmetrics import Workspace
from csmetrics.alerts.notify import Attachment, Notice, deliver, enqueue, outbox_rows
from csmetrics.clock import default_clock
from tests.alerts.receivers import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    Hook,
    email_toml,
    self_signed_cert,
    smtp_server,
    webhook_server,
    webhook_toml,
)
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)


def workspace(tmp_path: Path, notify_toml: str, *, digest: bool = False,
              wait_limit: float = 5) -> Workspace:
    """A fresh workspace whose csmetrics.toml holds ``notify_toml``."""
    Workspace.init(tmp_path / "ws").close()
    (tmp_path / "ws" / "csmetrics.toml").write_text(
        f'[workspace]\nname = "Test Co"\n\n[notify]\ndigest = {str(digest).lower()}\n'
        f"retry_wait_limit_seconds = {wait_limit}\n\n{notify_toml}", encoding="utf-8")
    return Workspace.load(tmp_path / "ws")


def notice(n: int = 1, **changes: object) -> Notice:
    fields: dict[str, object] = {
        "key": f"task:{n}:created", "event": "task.created",
        "subject": f"New task {n}: call Acme", "text": f"Task {n}: Acme's health fell to 31.",
        "payload": {"task_id": n, "customer_id": "C1", "score": 31},
    }
    fields.update(changes)
    return Notice(**fields)  # type: ignore[arg-type]


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server(Hook()) as receiver:
        yield receiver


# -- e-mail --------------------------------------------------------------------------------


def test_starttls_email_with_login_verified_by_ca_file(tmp_path, cert):
    with smtp_server(*cert) as (port, inbox):
        ws = workspace(tmp_path, email_toml(port, cert[0]))
        pdf = Attachment("report.pdf", b"%PDF-1.4 fake body", "application/pdf")
        report = ws.notify([notice(1, to=("owner@example.com",), html="<p>Task <b>1</b></p>",
                                   attachments=(pdf,))])
    assert (report.sent, report.failed, report.pending, report.messages) == (2, 0, 0, 2)
    assert inbox.logins == ["reports", "reports"]
    assert sorted(r[0] for r in inbox.recipients) == ["cs-lead@example.com",
                                                      "owner@example.com"]
    message = inbox.messages[0]
    assert message["Subject"] == "New task 1: call Acme"
    assert message["From"] == "csmetrics@test.example"
    assert message.get_body(("plain",)).get_content().strip() == "Task 1: Acme's health fell to 31."
    assert "<b>1</b>" in message.get_body(("html",)).get_content()
    [attached] = list(message.iter_attachments())
    assert attached.get_filename() == "report.pdf"
    assert attached.get_content() == b"%PDF-1.4 fake body"
    rows = outbox_rows(ws.warehouse.sql)
    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}
    assert all(r["sent_at"] is not None for r in rows)
    ws.close()


def test_implicit_tls_email(tmp_path, cert):
    with smtp_server(*cert, implicit_tls=True) as (port, inbox):
        ws = workspace(tmp_path, email_toml(port, cert[0], security="ssl"))
        report = ws.notify([notice(7)])
    assert report.sent == 1 and len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"] == "New task 7: call Acme"
    ws.close()


def test_an_unverifiable_certificate_fails_and_is_recorded(tmp_path, cert):
    with smtp_server(*cert) as (port, inbox):
        toml = email_toml(port, cert[0], max_attempts=2).replace(
            f'ca_file = {json.dumps(str(cert[0]))}', 'ca_file = ""')
        ws = workspace(tmp_path, toml)
        report = ws.notify([notice(1)])
    assert inbox.messages == []
    assert (report.sent, report.failed) == (0, 1)
    [row] = outbox_rows(ws.warehouse.sql)
    assert row["status"] == "failed" and row["attempts"] == 2
    assert "TLS failed" in row["last_error"] and "CERTIFICATE_VERIFY_FAILED" in row["last_error"]
    ws.close()


def test_a_missing_password_variable_is_a_clear_error_on_the_row(tmp_path, cert, monkeypatch):
    monkeypatch.delenv("TEST_SMTP_PASSWORD")
    with smtp_server(*cert) as (port, inbox):
        ws = workspace(tmp_path, email_toml(port, cert[0], max_attempts=1))
        report = ws.notify([notice(1)])
    assert inbox.messages == [] and report.failed == 1
    [row] = outbox_rows(ws.warehouse.sql)
    assert "TEST_SMTP_PASSWORD" in row["last_error"] and "not set" in row["last_error"]
    ws.close()


def test_the_same_key_is_sent_once(tmp_path, cert):
    with smtp_server(*cert) as (port, inbox):
        ws = workspace(tmp_path, email_toml(port, cert[0]))
        con, settings = ws.warehouse.sql, ws.settings.notify
        assert enqueue(con, [notice(1)], settings) == 1
        assert enqueue(con, [notice(1), notice(1)], settings) == 0
        first_run = deliver(con, settings)
        again = ws.notify([notice(1, subject="edited subject")])
    assert (first_run.sent, again.sent, again.messages) == (1, 0, 0)
    assert len(inbox.messages) == 1 and inbox.messages[0]["Subject"] == "New task 1: call Acme"
    ws.close()


def test_digest_sends_one_email_holding_three_notices(tmp_path, cert):
    with smtp_server(*cert) as (port, inbox):
        ws = workspace(tmp_path, email_toml(port, cert[0]), digest=True)
        report = ws.notify([notice(1), notice(2), notice(3)])
    assert (report.sent, report.messages) == (3, 1)
    [message] = inbox.messages
    assert message["Subject"] == "csmetrics digest: 3 notices"
    text = message.get_body(("plain",)).get_content()
    for n in (1, 2, 3):
        assert f"New task {n}: call Acme" in text and f"Task {n}: Acme's health" in text
    ws.close()


# -- webhooks -------------------------------------------------------------------------------


def test_webhook_is_signed_and_carries_the_notice(tmp_path, hook):
    ws = workspace(tmp_path, webhook_toml(hook.url))
    before = default_clock().now()  # the tests' fixed clock (tests/conftest.py)
    report = ws.notify([notice(5)])
    after = default_clock().now()
    assert (report.sent, report.failed) == (1, 0)
    [request] = hook.requests
    assert request["valid"] and request["status"] == 200
    headers = request["headers"]
    assert headers["X-Csmetrics-Event"] == "task.created"
    assert headers["X-Csmetrics-Delivery"] == "task:5:created"
    # signed while notify ran (whole seconds): bracketed, whatever the machine's speed
    assert int(before.timestamp()) <= int(headers["X-Csmetrics-Timestamp"]) <= after.timestamp()
    body = request["json"]
    assert {k: body[k] for k in ("event", "key", "subject", "text", "data")} == {
        "event": "task.created", "key": "task:5:created", "subject": "New task 5: call Acme",
        "text": "Task 5: Acme's health fell to 31.",
        "data": {"task_id": 5, "customer_id": "C1", "score": 31}}
    assert datetime.fromisoformat(body["sent_at"]) >= before.replace(microsecond=0)
    ws.close()


def test_a_wrong_secret_is_refused_by_the_receiver(tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", "not-the-shared-secret")
    with webhook_server(Hook()) as hook:
        ws = workspace(tmp_path, webhook_toml(hook.url, max_attempts=1))
        report = ws.notify([notice(1)])
    assert report.failed == 1 and hook.requests[0]["valid"] is False
    assert "HTTP 401" in outbox_rows(ws.warehouse.sql)[0]["last_error"]
    ws.close()


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(tmp_path):
    with webhook_server(Hook(fail_first=2)) as hook:
        ws = workspace(tmp_path, webhook_toml(hook.url, max_attempts=5))
        report = ws.notify([notice(1)])
    assert (report.sent, report.failed, report.pending) == (1, 0, 0)
    assert [r["status"] for r in hook.requests] == [503, 503, 200]
    assert {r["headers"]["X-Csmetrics-Delivery"] for r in hook.requests} == {"task:1:created"}
    [row] = outbox_rows(ws.warehouse.sql)
    assert row["status"] == "sent" and row["attempts"] == 3
    assert "HTTP 503" in row["last_error"]  # the history of the retries stays readable
    ws.close()


def test_long_back_off_waits_for_a_later_run(tmp_path):
    with webhook_server(Hook(fail_first=1)) as hook:
        ws = workspace(tmp_path, webhook_toml(hook.url), wait_limit=0)
        now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        enqueue(ws.warehouse.sql, [notice(1)], ws.settings.notify)
        first_run = ws.deliver_notifications(now=now)
        [row] = outbox_rows(ws.warehouse.sql)
        assert (first_run.pending, row["status"], row["attempts"]) == (1, "pending", 1)
        # attempt 1 is followed by backoff_seconds x 2**0 = 0.05 s
        assert 0.05 <= (row["next_attempt_at"] - now).total_seconds() < 1
        too_early = ws.deliver_notifications(now=now)
        assert (too_early.sent, len(hook.requests)) == (0, 1)
        later = ws.deliver_notifications(now=now + timedelta(minutes=1))
    assert (later.sent, later.pending, len(hook.requests)) == (1, 0, 2)
    assert outbox_rows(ws.warehouse.sql)[0]["attempts"] == 2
    ws.close()


def test_webhook_events_filter(tmp_path, hook):
    ws = workspace(tmp_path, webhook_toml(hook.url, events=("task.*",)))
    ws.notify([notice(1), notice(2, key="report:weekly:2026-03-02", event="report.weekly")])
    assert [r["json"]["event"] for r in hook.requests] == ["task.created"]
    ws.close()


def test_webhook_digest_is_one_post(tmp_path, hook):
    ws = workspace(tmp_path, webhook_toml(hook.url), digest=True)
    report = ws.notify([notice(1), notice(2), notice(3)])
    assert (report.sent, report.messages) == (3, 1)
    [request] = hook.requests
    assert request["valid"] and request["json"]["event"] == "digest"
    assert [n["key"] for n in request["json"]["data"]["notices"]] == [
        "task:1:created", "task:2:created", "task:3:created"]
    ws.close()


# -- the commands ---------------------------------------------------------------------------


def cli_env() -> dict[str, str]:
    return {**os.environ, "TEST_SMTP_PASSWORD": SMTP_PASSWORD,
            "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}


def test_a_receiver_that_always_fails_ends_failed_and_is_listed(tmp_path):
    with webhook_server(Hook(always_fail=True)) as hook:
        ws = workspace(tmp_path, webhook_toml(hook.url, max_attempts=3))
        enqueue(ws.warehouse.sql, [notice(1)], ws.settings.notify)
        ws.close()
        sent = run_cli("notify", "send", "-w", str(tmp_path / "ws"), check=False, env=cli_env())
    assert sent.returncode == 1, sent.stderr
    assert "1 failed for good" in sent.stdout and "HTTP 503" in sent.stderr
    assert len(hook.requests) == 3
    status = run_cli("notify", "status", "--format", "json", "-w", str(tmp_path / "ws"))
    [document] = json.loads(status.stdout)
    assert document["counts"] == [{"channel": "webhook", "pending": 0, "sent": 0, "failed": 1}]
    [failed] = document["not_sent"]
    assert failed["status"] == "failed" and failed["attempts"] == 3
    assert "HTTP 503" in failed["error"] and failed["key"] == "task:1:created"
    table = run_cli("notify", "status", "-w", str(tmp_path / "ws"))
    assert "HTTP 503" in table.stdout and "failed" in table.stdout


def test_notify_test_goes_through_every_channel(tmp_path, cert):
    with smtp_server(*cert) as (port, inbox), webhook_server(Hook()) as hook:
        workspace(tmp_path, email_toml(port, cert[0]) + "\n" + webhook_toml(hook.url)).close()
        result = run_cli("notify", "test", "--to", "me@example.com", "-w",
                         str(tmp_path / "ws"), env=cli_env())
    assert "Sent 3 notification(s)" in result.stdout
    assert sorted(r[0] for r in inbox.recipients) == ["cs-lead@example.com", "me@example.com"]
    assert inbox.messages[0]["Subject"] == "csmetrics test notification from Test Co"
    assert hook.requests[0]["valid"] and hook.requests[0]["json"]["event"] == "test"


def test_notify_test_without_channels_says_how_to_add_one(tmp_path):
    workspace(tmp_path, "").close()
    result = run_cli("notify", "test", "-w", str(tmp_path / "ws"), check=False)
    assert result.returncode == 2 and "[[notify.webhooks]]" in result.stderr
