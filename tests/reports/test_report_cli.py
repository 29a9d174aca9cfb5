"""``csmetrics report`` and ``csmetrics schedule`` as a user runs them, mailing to a real local
SMTP server (STARTTLS, self-signed certificate verified through ca_file)."""

from __future__ import annotations

import os
import subprocess
import threading
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pytest

from csmetrics import Workspace
from csmetrics.reports.scheduler import Scheduler
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
from tests.pg import new_database
from tests.reports.demo import configured_copy, demo_workspace
from tests.serving import wait_until


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_workspace(tmp_path_factory)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def data_end(demo: Path) -> date:
    with Workspace.load(demo) as ws:
        return ws.data_end()


def env() -> dict[str, str]:
    return {**os.environ, "TEST_SMTP_PASSWORD": SMTP_PASSWORD,
            "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}


def pdf_text(content: bytes, folder: Path) -> str:
    path = folder / "attached.pdf"
    path.write_bytes(content)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def headline_mrr(workspace: Path, start: date, end: date) -> str:
    with Workspace.load(workspace) as ws:
        value = float(ws.query("mrr", period="month", start=start, end=end).value.iloc[0])
    return f"{value:,.2f} USD"


def test_report_monthly_to_email_arrives_with_the_pdf(demo, cert, data_end, tmp_path):
    with smtp_server(*cert) as (port, inbox):
        ws = configured_copy(demo, tmp_path / "ws", "[notify]\n" + email_toml(port, cert[0]))
        result = run_cli("report", "monthly", "--to", "head-of-cs@example.com", "-w",
                         str(ws), env=env(), cwd=tmp_path)
    assert "Sent 2 notification(s) in 2 message(s)" in result.stdout
    assert list(tmp_path.glob("*.pdf")) == []  # --to alone writes no files
    assert sorted(r[0] for r in inbox.recipients) == ["cs-lead@example.com",
                                                      "head-of-cs@example.com"]
    message = inbox.messages[0]
    month = date(data_end.year, data_end.month, 1)
    assert message["Subject"] == (f"Demo Co (synthetic): Monthly tactical review, "
                                  f"{month:%B %Y}")
    mrr = headline_mrr(ws, month, data_end)
    assert f"MRR: {mrr}" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "data:image/png;base64," in html and mrr in html
    [attached] = list(message.iter_attachments())
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_filename() == f"csmetrics-monthly-{month}.pdf"
    assert mrr in pdf_text(attached.get_content(), tmp_path)


def test_report_out_folder_gets_both_formats(demo, tmp_path):
    result = run_cli("report", "monthly", "--segment", "plan=growth", "--out",
                     str(tmp_path / "both"), "-w", str(demo))
    files = sorted((tmp_path / "both").iterdir())
    assert [p.suffix for p in files] == [".html", ".pdf"]
    assert files[0].name.endswith("-plan-growth.html")
    assert files[0].read_text().startswith("<!doctype html>")
    assert "(plan = growth)" in result.stdout


def test_report_out_with_another_extension_is_refused_at_once(demo, tmp_path):
    bad = run_cli("report", "monthly", "--out", str(tmp_path / "x.txt"), "-w", str(demo),
                  check=False)
    assert bad.returncode == 2 and ".pdf or .html" in bad.stderr


def test_report_to_without_email_says_how_to_enable_it(demo, tmp_path):
    result = run_cli("report", "monthly", "--to", "a@example.com", "-w", str(demo),
                     check=False)
    assert result.returncode == 2 and "[notify.email] enabled = true" in result.stderr


SCHEDULES = """
[[schedule]]
name = "monthly-tactical"
cadence = "monthly"
day = 2
to = ["head-of-cs@example.com"]
"""


def test_schedule_run_twice_sends_once(demo, cert, data_end, tmp_path):
    # two days after the data's last month ends: its report (day = 2) is due
    now = (data_end + timedelta(days=2)).isoformat() + "T07:00"
    with smtp_server(*cert) as (port, inbox), webhook_server(Hook()) as hook:
        config = ("[notify]\n" + email_toml(port, cert[0], default_to=()) + "\n"
                  + webhook_toml(hook.url, events=("report.*",)) + SCHEDULES)
        ws = configured_copy(demo, tmp_path / "ws", config)
        first = run_cli("schedule", "run", "--now", now, "-w", str(ws), env=env())
        second = run_cli("schedule", "run", "--now", now, "-w", str(ws), env=env())
        listed = run_cli("schedule", "list", "--now", now, "--format", "json", "-w", str(ws))
    month = date(data_end.year, data_end.month, 1)
    assert f"monthly-tactical (monthly, period from {month}): sent" in first.stdout
    assert f"monthly-tactical (monthly, period from {month}): already sent" in second.stdout
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects.count(f"Demo Co (synthetic): Monthly tactical review, {month:%B %Y}") == 1
    assert len(inbox.messages) == 1
    reports = [r["json"] for r in hook.requests]
    assert [r["event"] for r in reports] == ["report.monthly"]
    assert reports[-1]["data"]["period_start"] == month.isoformat()
    assert reports[-1]["data"]["mrr_display"] == headline_mrr(ws, month, data_end)
    assert '"sent": "' in listed.stdout and f'"last_due_period": "{month}"' in listed.stdout


def test_the_server_scheduler_runs_the_same_job(demo, cert, tmp_path, monkeypatch, capfd):
    with smtp_server(*cert) as (port, inbox):
        config = "[notify]\n" + email_toml(port, cert[0], default_to=()) + SCHEDULES
        folder = configured_copy(demo, tmp_path / "ws", config)
        monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        with Workspace.load(folder) as ws:

            @contextmanager
            def use():
                yield ws

            runner = Scheduler(use, every=3600)
            runner.start()
            try:  # a failing run is only printed on stderr: show it if no run comes through
                wait_until(lambda: bool(runner.runs), "the scheduler's first run", timeout=120,
                           output=lambda: capfd.readouterr().err, poll=0.2)
            finally:
                runner.stop()
    [run] = runner.runs
    [outcome] = run.outcomes
    assert outcome.status == "sent" and run.delivery.sent == 1
    assert len(inbox.messages) == 1 and "tactical review" in inbox.messages[0]["Subject"]


def test_two_servers_sharing_an_app_store_send_a_scheduled_report_once(
        demo, cert, data_end, tmp_path, postgres_url):
    # two machines' workspaces, one PostgreSQL app store ([app] url): both run the schedule at
    # the same moment (cron on each); the report goes out once and both know it was sent
    now = (data_end + timedelta(days=2)).isoformat() + "T07:00"
    app_url = new_database(postgres_url)
    with smtp_server(*cert) as (port, inbox):
        config = "[notify]\n" + email_toml(port, cert[0], default_to=()) + SCHEDULES
        folders = [configured_copy(demo, tmp_path / name, config) for name in ("one", "two")]
        for folder in folders:
            toml = folder / "csmetrics.toml"
            toml.write_text(toml.read_text().replace("\n[app]\n", f'\n[app]\nurl = "{app_url}"\n'))
        runs: list[str] = []
        threads = [threading.Thread(target=lambda f=folder: runs.append(run_cli(
            "schedule", "run", "--now", now, "-w", str(f), env=env()).stdout))
            for folder in folders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    month = date(data_end.year, data_end.month, 1)
    said = f"monthly-tactical (monthly, period from {month}): "
    assert sorted(said + "sent" in out for out in runs) == [False, True]
    assert sorted(said + "already sent" in out for out in runs) == [False, True]
    assert len(inbox.messages) == 1
    assert inbox.messages[0]["Subject"] == (f"Demo Co (synthetic): Monthly tactical review, "
                                            f"{month:%B %Y}")
