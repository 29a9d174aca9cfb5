"""Tasks from rules: one per condition, never a duplicate, with steps, history and notices
delivered to a real webhook receiver and a real SMTP server; and the ``tasks`` commands."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from csmetrics import Workspace
from tests.alerts.company import D, load_company
from tests.alerts.receivers import WEBHOOK_SECRET, Hook, webhook_server, webhook_toml
from tests.conftest import run_cli

TODAY = date(2025, 4, 1)
BEFORE = date(2025, 2, 20)  # usage 40 -> none before: no drop; no detractor, no reopening

EXPECTED = {  # (rule, subject) -> assignee, worked out in company.py
    ("usage-drop", "Acme"): "Ann",
    ("turned-red", "Acme"): "Ann",
    ("small-pro", "Cyan"): "Head of CS",
    ("detractor", "Acme"): "Ann",
    ("reopened", "Acme"): "Ann",
    ("renewal", "Beta"): "Bob",
    ("renewal", "Cyan"): "Head of CS",
    ("employee", "Eve"): "Head of CS",
}


@pytest.fixture
def hook():
    with webhook_server(Hook()) as receiver:
        yield receiver


@pytest.fixture
def company(tmp_path, hook, monkeypatch):
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    Workspace.init(tmp_path / "ws").close()
    config = tmp_path / "ws" / "csmetrics.toml"
    config.write_text(config.read_text() + "\n" + webhook_toml(hook.url, events=("task.*",)),
                      encoding="utf-8")
    ws = Workspace.load(tmp_path / "ws")
    load_company(ws)
    yield ws
    ws.close()


def opened(outcome):
    return {(t.rule, t.subject): t for t in outcome.created}


def test_a_task_per_firing_for_the_owner_with_steps_and_reason(company, hook):
    outcome = company.evaluate_rules(D, today=TODAY)
    tasks = opened(outcome)
    assert {key: t.assignee for key, t in tasks.items()} == EXPECTED
    task = tasks[("usage-drop", "Acme")]
    assert task.title == "Save the account" and task.priority == "high"
    assert task.reason == "usage_volume fell from 40 to 10 (-75%) in 28 days"
    assert task.figures["before"] == 40 and task.figures["value"] == 10
    assert [(s["title"], s["due_date"]) for s in task.steps] == [
        ("Review", TODAY + timedelta(days=1)), ("Call", TODAY + timedelta(days=3))]
    assert task.due_date == TODAY + timedelta(days=3)
    assert [h["kind"] for h in task.history] == ["created", "assigned"]
    # each new task was told to the webhook, signed
    events = [r["json"] for r in hook.delivered]
    assert all(r["valid"] for r in hook.requests)
    assert sorted(e["data"]["task_id"] for e in events) == sorted(
        t.task_id for t in outcome.created)
    assert {e["event"] for e in events} == {"task.created"}
    usage = next(e for e in events if e["data"]["task_id"] == task.task_id)
    assert usage["data"]["customer_id"] == "A" and usage["data"]["assignee"] == "Ann"
    assert "Why: usage_volume fell from 40 to 10" in usage["text"]


def test_evaluating_twice_opens_nothing_new(company, hook):
    first = company.evaluate_rules(D, today=TODAY)
    again = company.evaluate_rules(D, today=TODAY)
    assert again.created == [] and again.suppressed == len(first.created)
    assert len(company.tasks.list(status="all")) == len(first.created)
    assert len(hook.delivered) == len(first.created)  # no second notice either


def test_a_done_task_stays_done_while_the_condition_holds(company):
    tasks = opened(company.evaluate_rules(D, today=TODAY))
    usage = tasks[("usage-drop", "Acme")]
    company.tasks.done(usage.task_id, "ann")
    assert company.evaluate_rules(D, rules=["usage-drop"], today=TODAY).created == []
    # the condition clears (evaluated on a date where usage had not dropped) ...
    cleared = company.evaluate_rules(BEFORE, rules=["usage-drop"], today=TODAY)
    assert cleared.firings == [] and cleared.cleared == 1
    # ... and comes back: a new task
    back = opened(company.evaluate_rules(D, rules=["usage-drop"], today=TODAY))
    assert set(back) == {("usage-drop", "Acme")}
    assert back[("usage-drop", "Acme")].task_id != usage.task_id


def test_an_open_task_blocks_a_second_one_even_after_clearing(company):
    company.evaluate_rules(D, rules=["usage-drop"], today=TODAY)
    company.evaluate_rules(BEFORE, rules=["usage-drop"], today=TODAY)
    assert company.evaluate_rules(D, rules=["usage-drop"], today=TODAY).created == []
    assert len(company.tasks.list(rule="usage-drop")) == 1


def test_an_event_opens_one_task_ever(company):
    tasks = opened(company.evaluate_rules(D, rules=["detractor"], today=TODAY))
    company.tasks.done(tasks[("detractor", "Acme")].task_id, "ann")
    company.evaluate_rules(BEFORE, rules=["detractor"], today=TODAY)  # the answer drops out
    assert company.evaluate_rules(D, rules=["detractor"], today=TODAY).created == []


def test_steps_comments_assignment_and_history(company, hook):
    task = opened(company.evaluate_rules(D, rules=["usage-drop"], today=TODAY))[
        ("usage-drop", "Acme")]
    after = company.tasks.done(task.task_id, "ann", step=1, note="Looked at the drop")
    assert after.status == "open" and after.steps[0]["done_by"] == "ann"
    company.assign_task(task.task_id, "Bob", "ann")
    company.tasks.comment(task.task_id, "Call booked for Thursday", "bob")
    final = company.tasks.done(task.task_id, "bob", step=2)
    assert final.status == "done" and final.closed_at is not None
    assert final.assignee == "Bob"
    assert [(h["actor"], h["kind"], h["detail"]) for h in final.history][2:] == [
        ("ann", "step_done", "1. Review"), ("ann", "comment", "Looked at the drop"),
        ("ann", "assigned", "Ann -> Bob"), ("bob", "comment", "Call booked for Thursday"),
        ("bob", "step_done", "2. Call"), ("bob", "done", None)]
    assigned = [r["json"] for r in hook.delivered if r["json"]["event"] == "task.assigned"]
    assert [a["data"]["assignee"] for a in assigned] == ["Bob"]
    reopened = company.tasks.reopen(task.task_id, "bob")
    assert reopened.status == "open" and reopened.closed_at is None


def test_list_filters_and_order(company):
    company.evaluate_rules(D, today=TODAY)
    everything = company.tasks.list()
    assert list(everything["due_date"]) == sorted(everything["due_date"])
    assert set(company.tasks.list(assignee="Ann")["subject"]) == {"Acme"}
    assert set(company.tasks.list(customer="C")["rule"]) == {"small-pro", "renewal"}
    assert company.tasks.list(overdue_on=TODAY).empty
    late = company.tasks.list(overdue_on=TODAY + timedelta(days=40))
    assert len(late) == len(everything)


def test_bad_task_actions_are_refused(company):
    from csmetrics.errors import UserInputError

    task = opened(company.evaluate_rules(D, rules=["usage-drop"], today=TODAY))[
        ("usage-drop", "Acme")]
    with pytest.raises(UserInputError, match="There is no task 999"):
        company.tasks.get(999)
    with pytest.raises(UserInputError, match="has steps 1-2, not 5"):
        company.tasks.done(task.task_id, "ann", step=5)
    with pytest.raises(UserInputError, match="already open"):
        company.tasks.reopen(task.task_id, "ann")
    with pytest.raises(UserInputError, match="--status 'late'"):
        company.tasks.list(status="late")


def test_tasks_commands(company, tmp_path):
    root = str(company.root)
    env = {"CSMETRICS_USER": "ann", "PATH": "/usr/bin:/bin",
           "TEST_WEBHOOK_SECRET": WEBHOOK_SECRET}
    company.close()
    check = json.loads(run_cli("rules", "check", "--as-of", D.isoformat(), "--format", "json",
                               "-w", root, env=env).stdout)
    assert {(f["rule"], f["subject"]) for f in check} == set(EXPECTED)
    run_cli("rules", "run", "--as-of", D.isoformat(), "-w", root, env=env)
    listed = json.loads(run_cli("tasks", "list", "--format", "json", "-w", root,
                                env=env).stdout)
    assert {(t["rule"], t["subject"]) for t in listed} == set(EXPECTED)
    mine = json.loads(run_cli("tasks", "list", "--mine", "--format", "json", "-w", root,
                              env=env).stdout)
    assert {t["assignee"] for t in mine} == {"Ann"} and len(mine) == 4
    usage = next(t for t in listed if t["rule"] == "usage-drop")["task_id"]
    run_cli("tasks", "done", str(usage), "--step", "1", "-w", root, env=env)
    run_cli("tasks", "assign", str(usage), "Bob", "-w", root, env=env)
    run_cli("tasks", "comment", str(usage), "Spoke to them", "-w", root, env=env)
    shown = json.loads(run_cli("tasks", "show", str(usage), "--format", "json", "-w", root,
                               env=env).stdout)
    assert shown["assignee"] == "Bob"
    assert [h["kind"] for h in shown["history"]][-3:] == ["step_done", "assigned", "comment"]
    assert shown["history"][-1]["actor"] == "ann"
    out = tmp_path / "tasks.xlsx"
    run_cli("tasks", "list", "--status", "all", "--out", str(out), "-w", root, env=env)
    sheet = pd.read_excel(out)
    assert len(sheet) == len(EXPECTED) and "reason" in sheet.columns
    missing = run_cli("tasks", "done", "999", "-w", root, env=env, check=False)
    assert missing.returncode == 2 and "There is no task 999" in missing.stderr
    again = run_cli("rules", "run", "--as-of", D.isoformat(), "-w", root, env=env).stdout
    assert "0 new task(s)" in again


def test_refresh_evaluates_the_rules_once(company):
    # the last day with data is D (T1 resolved on 03-31), so refresh sees what D sees
    run = company.refresh(grains=["month"])
    assert run["tasks_opened"] == len(EXPECTED) and run["rule_firings"] == len(EXPECTED)
    assert company.refresh(grains=["month"])["tasks_opened"] == 0
