"""The app store: users, tokens, sessions, tasks, rule state and notifications behave the same
in the warehouse's DuckDB database and in PostgreSQL (a real, throwaway server:
``tests/pg.py``), and give back the same rows.

Every time comes from the test clock: ``NOW`` is ``TEST_NOW`` (tests/conftest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.alerts.notify import Attachment, Notice, deliver, enqueue, outbox_counts, outbox_rows
from csmetrics.alerts.rulebook import default_alerts
from csmetrics.alerts.rules import Firing
from csmetrics.alerts.tasks import TASK_COLUMNS
from csmetrics.config import NotifySection, Settings, WebhookSection
from csmetrics.errors import ConfigError, FieldError, UserInputError
from csmetrics.store import migrations
from csmetrics.store.accounts import Accounts
from csmetrics.store.appstore import open_app_store, to_pyformat
from csmetrics.web import sessions
from tests.alerts.receivers import WEBHOOK_SECRET, Hook, webhook_server
from tests.pg import app_workspace, new_database
from tests.serving import free_port

NOW = datetime(2026, 7, 15, 10, 0, tzinfo=UTC)  # TEST_NOW
AS_OF = date(2026, 6, 30)
TODAY = date(2026, 7, 15)
ADA_PASSWORD = "ada-password-1"
BOB_PASSWORD = "bob-password-1"


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace whose app state is in its DuckDB file, or in a new PostgreSQL database."""
    url = ""
    if request.param == "postgres":
        url = new_database(request.getfixturevalue("postgres_url"))
    ws = app_workspace(tmp_path / "ws", url)
    yield ws
    ws.close()


def firings() -> list[Firing]:
    """A state rule (turned red: the save-at-risk playbook, 3 steps due in 1, 3, 10 days,
    priority high) for Acme and an event rule (an NPS detractor: the follow-up playbook, 2
    steps due in 0 and 2 days, priority normal) for Beta, from the default alerts."""
    return [Firing("turned-red", "red:C1", "Acme", "health fell into the red band", "C1",
                   "Ann", {"score": 31}),
            Firing("nps-detractor", "nps:R7", "Beta", "answered NPS with 3", "C2", None,
                   {"score": 3})]


# -- users, tokens, sessions ---------------------------------------------------------------


def test_users_are_created_checked_changed_and_removed(store):
    accounts = Accounts(store.app)
    accounts.add_user("bob", BOB_PASSWORD, "viewer")
    accounts.add_user("ada", ADA_PASSWORD, "admin")
    assert [(u.username, u.role, u.disabled, u.created_at) for u in accounts.users()] == [
        ("ada", "admin", False, NOW), ("bob", "viewer", False, NOW)]
    assert accounts.authenticate("ada", ADA_PASSWORD).username == "ada"
    assert accounts.authenticate("ada", BOB_PASSWORD) is None
    assert accounts.authenticate("nobody", ADA_PASSWORD) is None
    with pytest.raises(UserInputError, match="already exists"):
        accounts.add_user("ada", ADA_PASSWORD, "viewer")

    accounts.set_role("bob", "editor")
    accounts.set_disabled("bob", True)
    assert accounts.user("bob").role == "editor" and accounts.user("bob").disabled
    assert accounts.authenticate("bob", BOB_PASSWORD) is None
    with pytest.raises(FieldError, match="last active admin"):
        accounts.set_role("ada", "viewer", keep_admin=True)
    accounts.remove_user("bob")
    assert [u.username for u in accounts.users()] == ["ada"]


def test_tokens_are_created_listed_and_revoked(store):
    accounts = Accounts(store.app)
    accounts.add_user("ada", ADA_PASSWORD, "admin")
    token = accounts.create_token("ada", "ci")
    token_id = token.removeprefix("csm_").split("_")[0]
    assert accounts.user_for_token(token).username == "ada"
    assert accounts.user_for_token(token[:-2] + "xx") is None
    assert [(t.token_id, t.username, t.name, t.created_at, t.revoked_at)
            for t in accounts.tokens()] == [(token_id, "ada", "ci", NOW, None)]
    accounts.revoke_token(token_id)
    assert accounts.user_for_token(token) is None
    assert accounts.token(token_id).revoked_at == NOW
    with pytest.raises(UserInputError, match="no active token"):
        accounts.revoke_token(token_id)


def test_sessions_start_expire_and_end(store):
    con = store.app
    accounts = Accounts(con)
    ada = accounts.add_user("ada", ADA_PASSWORD, "admin")
    cookie = sessions.start(con, ada, NOW)
    live = sessions.lookup(con, cookie, NOW + timedelta(hours=11, minutes=59))
    assert live is not None and live.user.username == "ada" and len(live.csrf) >= 24
    # a session lasts 12 hours: at the 12th hour it is over
    assert sessions.lookup(con, cookie, NOW + sessions.LIFETIME) is None
    sessions.purge(con, NOW + sessions.LIFETIME)
    assert con.execute("SELECT count(*) FROM _sessions").fetchall() == [(0,)]

    again = sessions.start(con, ada, NOW)
    sessions.end(con, again)
    assert sessions.lookup(con, again, NOW) is None
    third = sessions.start(con, ada, NOW)
    accounts.set_password("ada", "another-password-2")  # signs ada out everywhere
    assert sessions.lookup(con, third, NOW) is None


# -- tasks and rule state ------------------------------------------------------------------


def test_tasks_open_once_move_through_their_steps_and_keep_a_history(store):
    tasks, alerts = store.tasks, default_alerts()
    outcome = tasks.apply(firings(), alerts, AS_OF, ["turned-red", "nps-detractor"],
                          event_rules=["nps-detractor"], today=TODAY)
    assert [(t.task_id, t.rule, t.subject) for t in outcome.created] == [
        (1, "turned-red", "Acme"), (2, "nps-detractor", "Beta")]
    red = tasks.get(1)
    assert (red.title, red.priority, red.status, red.assignee, red.due_date, red.fired_on,
            red.created_at, red.figures) == (
        "Save an at-risk account", "high", "open", "Ann", date(2026, 7, 25), AS_OF, NOW,
        {"score": 31})
    assert [(s["position"], s["due_date"], s["done_at"]) for s in red.steps] == [
        (1, date(2026, 7, 16), None), (2, date(2026, 7, 18), None),
        (3, date(2026, 7, 25), None)]
    assert [(h["kind"], h["detail"]) for h in red.history] == [
        ("created", "turned-red: health fell into the red band"), ("assigned", "Ann")]

    stepped = tasks.done(1, "ann", step=1)
    assert (stepped.steps[0]["done_at"], stepped.steps[0]["done_by"]) == (NOW, "ann")
    assert stepped.status == "open"
    closed = tasks.done(1, "ann", note="saved")
    assert (closed.status, closed.closed_at) == ("done", NOW)
    reopened = tasks.reopen(1, "ann")
    assert (reopened.status, reopened.closed_at) == ("open", None)
    moved = tasks.assign(1, "Bob", "ann")
    assert moved.assignee == "Bob"
    assert [(h["kind"], h["detail"]) for h in moved.history][2:] == [
        ("step_done", "1. Review the health explanation, tickets and usage"),
        ("comment", "saved"), ("done", None), ("reopened", None), ("assigned", "Ann -> Bob")]

    listed = tasks.list()
    assert list(listed.columns) == list(TASK_COLUMNS)
    # open tasks by due date: the detractor's (due 17 July) before Acme's (25 July)
    assert listed[["task_id", "assignee", "steps_done", "steps"]].values.tolist() == [
        [2, None, 0, 2], [1, "Bob", 3, 3]]
    assert tasks.list(customer="C1")["task_id"].tolist() == [1]


def test_rule_state_keeps_conditions_until_they_clear(store):
    tasks, alerts = store.tasks, default_alerts()
    rules = ["turned-red", "nps-detractor"]
    tasks.apply(firings(), alerts, AS_OF, rules, event_rules=["nps-detractor"], today=TODAY)
    again = tasks.apply(firings(), alerts, AS_OF + timedelta(days=1), rules,
                        event_rules=["nps-detractor"], today=TODAY)
    assert (again.created, again.suppressed, again.cleared) == ([], 2, 0)

    def state() -> list[tuple[Any, ...]]:
        return store.app.execute("SELECT rule, dedupe_key, first_fired, last_fired FROM "
                                 "_rule_state ORDER BY rule").fetchall()

    next_day = AS_OF + timedelta(days=1)
    assert state() == [("nps-detractor", "nps:R7", AS_OF, next_day),
                       ("turned-red", "red:C1", AS_OF, next_day)]
    # Acme is no longer red: its condition clears, the detractor's rule was not evaluated
    cleared = tasks.apply([], alerts, AS_OF + timedelta(days=2), ["turned-red"], today=TODAY)
    assert cleared.cleared == 1
    assert state() == [("nps-detractor", "nps:R7", AS_OF, next_day)]
    # the task is done; red again later opens a new one
    tasks.done(1, "ann")
    later = tasks.apply(firings()[:1], alerts, AS_OF + timedelta(days=3), ["turned-red"],
                        today=TODAY)
    assert [t.task_id for t in later.created] == [3]


# -- notifications -------------------------------------------------------------------------


def test_notifications_are_queued_once_and_delivered(store, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    con = store.app
    notice = Notice("task:1:created", "task.created", "New task: call Acme", "Acme is red.",
                    {"task_id": 1}, attachments=(Attachment("r.pdf", b"%PDF-\x00\xff",
                                                            "application/pdf"),))
    with webhook_server(Hook(fail_first=1)) as hook:
        settings = NotifySection(retry_wait_limit_seconds=0, webhooks=[WebhookSection(
            url=hook.url, secret_env="TEST_WEBHOOK_SECRET", backoff_seconds=30)])
        assert enqueue(con, [notice], settings) == 1
        assert enqueue(con, [notice], settings) == 0  # the same key: not again
        first = deliver(con, settings, now=NOW)
        assert (first.sent, first.pending) == (0, 1)
        [waiting] = outbox_rows(con)
        # attempt 1 failed (503): the next one after backoff_seconds x 2**0 = 30 s
        assert (waiting["status"], waiting["attempts"]) == ("pending", 1)
        assert 30 <= (waiting["next_attempt_at"] - NOW).total_seconds() < 40
        assert deliver(con, settings, now=NOW).sent == 0  # not due yet
        later = deliver(con, settings, now=NOW + timedelta(minutes=1))
    assert (later.sent, later.pending, later.messages) == (1, 0, 1)
    assert [(r["status"], r["json"]["data"]) for r in hook.requests] == [
        (503, {"task_id": 1}), (200, {"task_id": 1})]
    [row] = outbox_rows(con)
    assert (row["status"], row["attempts"], row["created_at"]) == ("sent", 2, NOW)
    assert outbox_counts(con) == {"webhook": {"pending": 0, "sent": 1, "failed": 0}}
    stored = con.execute("SELECT filename, content FROM _notification_attachments").fetchall()
    assert [(name, bytes(content)) for name, content in stored] == [
        ("r.pdf", b"%PDF-\x00\xff")]


# -- the same rows from both ---------------------------------------------------------------


def _work(ws: Workspace) -> dict[str, Any]:
    """The same app-state work on a store; what it reads back (without random ids)."""
    accounts = Accounts(ws.app)
    accounts.add_user("ada", ADA_PASSWORD, "admin")
    accounts.create_token("ada", "ci")
    ws.tasks.apply(firings(), default_alerts(), AS_OF, ["turned-red", "nps-detractor"],
                   event_rules=["nps-detractor"], today=TODAY)
    ws.tasks.done(1, "ann", step=2, note="called")
    ws.tasks.assign(2, "Bob", "ann")
    enqueue(ws.app, [Notice("k", "task.created", "s", "t", {"n": 1})],
            NotifySection(webhooks=[WebhookSection(url="http://127.0.0.1:9/h")]))
    return {
        "users": accounts.users(),
        "tokens": [(t.username, t.name, t.created_at, t.revoked_at) for t in accounts.tokens()],
        "tasks": ws.tasks.list(status="all"),
        "task 1": ws.tasks.get(1),
        "task 2": ws.tasks.get(2).as_dict(),
        "outbox": outbox_rows(ws.app),
    }


def test_duckdb_and_postgres_give_back_the_same_rows(tmp_path, postgres_url):
    with app_workspace(tmp_path / "duck") as duck, \
            app_workspace(tmp_path / "pg", new_database(postgres_url)) as pg:
        here, there = _work(duck), _work(pg)
    pd.testing.assert_frame_equal(here.pop("tasks"), there.pop("tasks"))
    assert here == there
    # times read back are the same instants, aware
    assert here["task 1"].created_at == NOW and here["task 1"].created_at.tzinfo is not None


# -- the PostgreSQL store itself -----------------------------------------------------------


def test_the_tables_are_made_once_at_the_current_version(postgres_url):
    url = new_database(postgres_url)
    opened: list[Any] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def open_one() -> None:
        start.wait()
        try:
            opened.append(open_app_store(url, Path("."), "UTC"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(opened) == 3
    con = opened[0]
    assert con.execute("SELECT version FROM _schema_version").fetchall() == [
        (migrations.LATEST,)]
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    ).fetchall()}
    assert tables == {"_users", "_api_tokens", "_sessions", "_tasks", "_task_steps",
                      "_task_events", "_rule_state", "_notifications",
                      "_notification_attachments", "_schedule_runs", "_models",
                      "_schema_version"}
    for each in opened:
        each.close()


def test_a_newer_app_store_is_refused(postgres_url):
    url = new_database(postgres_url)
    con = open_app_store(url, Path("."), "UTC")
    con.execute("INSERT INTO _schema_version VALUES (?, 'from the future', '99.0', ?)",
                [migrations.LATEST + 1, NOW])
    con.close()
    with pytest.raises(UserInputError, match=rf"schema version {migrations.LATEST + 1} \(by "
                                             r"csmetrics 99.0\), newer"):
        open_app_store(url, Path("."), "UTC")


def test_an_unreachable_server_is_named_without_its_password():
    url = f"postgresql://cs:hunter2@127.0.0.1:{free_port()}/cs"
    with pytest.raises(UserInputError, match=r"app.url = 'postgresql://cs:\*\*\*@") as caught:
        open_app_store(url, Path("."), "UTC")
    assert "hunter2" not in str(caught.value)


def test_app_url_accepts_postgres_and_duckdb_and_names_the_forms():
    for url in ("", "postgresql://u:p@db:5432/cs", "postgres://db/cs", "duckdb:///app.duckdb"):
        assert Settings.from_mapping({"app": {"url": url}}).app.url == url
    with pytest.raises(ConfigError, match=r"app.url = 'mysql://db/cs': the app store is one of "
                                          r".*'postgresql://user:password@host:5432/database'"):
        Settings.from_mapping({"app": {"url": "mysql://db/cs"}})


def test_a_duckdb_file_of_its_own(tmp_path):
    with app_workspace(tmp_path / "ws", "duckdb:///app.duckdb") as ws:
        Accounts(ws.app).add_user("ada", ADA_PASSWORD, "admin")
        assert ws.app is not ws.warehouse.sql
        assert ws.warehouse.sql.execute("SELECT count(*) FROM _users").fetchall() == [(0,)]
        with ws.session() as thread:  # a server thread's own connection to the same file
            assert [u.username for u in Accounts(thread.app).users()] == ["ada"]
    with app_workspace(tmp_path / "ws") as again:
        assert [u.username for u in Accounts(again.app).users()] == ["ada"]


def test_parameters_are_translated_outside_quotes_and_comments():
    assert to_pyformat("SELECT '?%', \"a?\" FROM t WHERE a = ? AND b LIKE 'x%' "
                       "AND c = $name -- what?\n AND d = 5 % 2") == (
        "SELECT '?%%', \"a?\" FROM t WHERE a = %s AND b LIKE 'x%%' "
        "AND c = %(name)s -- what?\n AND d = 5 %% 2")
