"""Tasks: a playbook made concrete for one account (or segment, or employee), with an owner,
steps with due dates, comments and a history.

A firing rule opens a task unless the same condition already has one: state conditions
(thresholds, drops, band changes) open a task when they *start* holding and not again while
they keep holding, even after the task is done — a new task comes when the condition has
cleared and comes back. Event conditions (an NPS answer, a reopened ticket, a renewal date)
carry the event in their key and open exactly one task per event. Evaluating the same data
twice therefore opens nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from csmetrics.alerts.rulebook import AlertsConfig
from csmetrics.alerts.rules import Firing
from csmetrics.clock import default_clock
from csmetrics.errors import UnknownNameError, UserInputError
from csmetrics.store.appstore import (
    delete_rows,
    insert_rows,
    insertion_order,
    next_ids,
    serialize,
)
from csmetrics.store.sql import first, transaction

if TYPE_CHECKING:
    from csmetrics.store.appstore import AppConnection

STATUSES = ("open", "done")

TASK_COLUMNS = ("task_id", "status", "priority", "title", "subject", "customer_id", "assignee",
                "due_date", "rule", "reason", "fired_on", "created_at", "updated_at",
                "closed_at", "steps_done", "steps")
#: The columns of ``_tasks``, in the order rows are written.
_TABLE_COLUMNS = ("task_id", "rule", "playbook", "dedupe_key", "customer_id", "subject", "title",
                  "reason", "figures", "priority", "status", "assignee", "due_date", "fired_on",
                  "created_at", "updated_at", "closed_at")
_STEP_COLUMNS = ("task_id", "position", "title", "due_date", "done_at", "done_by")
_EVENT_COLUMNS = ("task_id", "happened_at", "actor", "kind", "detail")
#: Priorities, most urgent first (the order of a task list).
_PRIORITY_ORDER = ("urgent", "high", "normal", "low")


@dataclass(frozen=True)
class Task:
    """One task with its steps and history."""

    task_id: int
    rule: str | None
    playbook: str | None
    customer_id: str | None
    subject: str
    title: str
    reason: str
    figures: dict[str, Any]
    priority: str
    status: str
    assignee: str | None
    due_date: date | None
    fired_on: date | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view of the task."""
        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, date | datetime) else value
        data = {k: plain(v) for k, v in self.__dict__.items() if k not in ("steps", "history")}
        data["steps"] = [{k: plain(v) for k, v in s.items()} for s in self.steps]
        data["history"] = [{k: plain(v) for k, v in h.items()} for h in self.history]
        return data


@dataclass(frozen=True)
class Outcome:
    """What one evaluation did: the firings, the tasks it opened, those it held back."""

    as_of: date
    firings: list[Firing]
    created: list[Task]
    suppressed: int
    cleared: int


class Tasks:
    """The task store, in the app store (``csmetrics.store.appstore``: the warehouse's DuckDB
    database, or PostgreSQL)."""

    def __init__(self, con: AppConnection) -> None:
        self.con = con

    # -- from rules --------------------------------------------------------------------

    def apply(self, firings: Sequence[Firing], alerts: AlertsConfig, as_of: date,
              rules: Sequence[str], *, event_rules: Sequence[str] = (),
              today: date | None = None, actor: str = "rules") -> Outcome:
        """Open tasks for new firings of ``rules`` and forget conditions that cleared, in one
        transaction. ``event_rules`` are keyed by their event and never reopen a task."""
        today = today or default_clock().today()
        now = _now()
        with transaction(self.con):
            serialize(self.con, "tasks.apply")  # one evaluation at a time across servers
            state = {(r, k): first_fired for r, k, first_fired in self.con.execute(
                "SELECT rule, dedupe_key, first_fired FROM _rule_state").fetchall()}
            open_keys = {k for (k,) in self.con.execute(
                "SELECT dedupe_key FROM _tasks WHERE status = 'open'").fetchall()}
            event_keys = {k for (k,) in self.con.execute(
                "SELECT dedupe_key FROM _tasks WHERE rule IN ("
                + ", ".join("?" for _ in event_rules) + ")", list(event_rules)).fetchall()
                } if event_rules else set()
            seen: dict[tuple[str, str], None] = {}
            new: list[Firing] = []
            for firing in firings:
                marker = (firing.rule, firing.key)
                if marker in seen:
                    continue
                seen[marker] = None
                if not (marker in state or firing.key in open_keys or firing.key in event_keys):
                    new.append(firing)
            suppressed = len(seen) - len(new)
            created = self._open(new, alerts, as_of, today, now, actor)
            # every condition that holds now, with the day it first held
            insert_rows(self.con, "_rule_state",
                        ("rule", "dedupe_key", "first_fired", "last_fired"),
                        [(r, k, state.get((r, k), as_of), as_of) for r, k in seen],
                        upsert_keys=("rule", "dedupe_key"))
            stale = [(r, k) for r, k in state if r in rules and (r, k) not in seen]
            delete_rows(self.con, "_rule_state", ("rule", "dedupe_key"), stale)
        return Outcome(as_of, list(firings), created, suppressed, len(stale))

    def _open(self, firings: Sequence[Firing], alerts: AlertsConfig, as_of: date,
              today: date, now: datetime, actor: str) -> list[Task]:
        """One task per firing, with its playbook's steps and its history, written in one
        statement (or batch) per table (a refresh can open thousands)."""
        if not firings:
            return []
        ids = next_ids(self.con, "_task_ids", len(firings))
        created, tasks, steps, events = [], [], [], []
        for task_id, firing in zip(ids, firings, strict=True):
            rule = next(r for r in alerts.rules if r.name == firing.rule)
            playbook = alerts.playbooks[rule.playbook]
            due = today + timedelta(days=max(s.due_days for s in playbook.steps))
            task_steps = [{"position": position, "title": step.title,
                           "due_date": today + timedelta(days=step.due_days),
                           "done_at": None, "done_by": None}
                          for position, step in enumerate(playbook.steps, start=1)]
            history = [{"at": now, "actor": actor, "kind": "created",
                        "detail": f"{firing.rule}: {firing.reason}"}]
            if firing.owner:
                history.append({"at": now, "actor": actor, "kind": "assigned",
                                "detail": firing.owner})
            task = Task(task_id, firing.rule, rule.playbook, firing.customer_id, firing.subject,
                        playbook.title, firing.reason, firing.figures, playbook.priority,
                        "open", firing.owner, due, as_of, now, now, None, task_steps, history)
            created.append(task)
            tasks.append({**{k: v for k, v in task.__dict__.items()
                             if k not in ("steps", "history", "figures")},
                          "dedupe_key": firing.key,
                          "figures": json.dumps(firing.figures, default=str)})
            steps += [{"task_id": task_id, **s} for s in task_steps]
            events += [{"task_id": task_id, "happened_at": h["at"], "actor": h["actor"],
                        "kind": h["kind"], "detail": h["detail"]} for h in history]
        for table, columns, rows in (("_tasks", _TABLE_COLUMNS, tasks),
                                     ("_task_steps", _STEP_COLUMNS, steps),
                                     ("_task_events", _EVENT_COLUMNS, events)):
            insert_rows(self.con, table, columns, [tuple(r[c] for c in columns) for r in rows])
        return created

    # -- reading -------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        """One task with its steps and history; an unknown id is an error naming it."""
        frame = self.con.execute("SELECT * FROM _tasks WHERE task_id = ?", [task_id]).df()
        if frame.empty:
            raise UnknownNameError(f"There is no task {task_id}; 'csmetrics tasks list' shows "
                                 "the open ones.")
        row = frame.iloc[0]
        steps = self.con.execute(
            "SELECT position, title, due_date, done_at, done_by FROM _task_steps "
            "WHERE task_id = ? ORDER BY position", [task_id]).df()
        history = self.con.execute(
            "SELECT happened_at AS at, actor, kind, detail FROM _task_events WHERE task_id = ? "
            f"ORDER BY happened_at, {insertion_order(self.con)}", [task_id]).df()
        return Task(
            task_id=int(row["task_id"]), rule=_opt(row["rule"]), playbook=_opt(row["playbook"]),
            customer_id=_opt(row["customer_id"]), subject=row["subject"], title=row["title"],
            reason=row["reason"], figures=json.loads(row["figures"]),
            priority=row["priority"], status=row["status"], assignee=_opt(row["assignee"]),
            due_date=_day(row["due_date"]), fired_on=_day(row["fired_on"]),
            created_at=_stamp(row["created_at"]), updated_at=_stamp(row["updated_at"]),
            closed_at=_stamp(row["closed_at"]),
            steps=[_record(s) for s in steps.to_dict("records")],
            history=[_record(h) for h in history.to_dict("records")])

    def list(self, *, status: str | None = "open", assignee: str | None = None,
             customer: str | None = None, rule: str | None = None,
             overdue_on: date | None = None) -> pd.DataFrame:
        """Tasks as rows (``TASK_COLUMNS``), most urgent first: overdue, then by due date."""
        if status is not None and status not in (*STATUSES, "all"):
            raise UserInputError(f"--status {status!r} is not one of open, done, all.")
        where, params = ["true"], {}
        if status and status != "all":
            where.append("t.status = $status")
            params["status"] = status
        for column, value in (("assignee", assignee), ("customer_id", customer), ("rule", rule)):
            if value is not None:
                where.append(f"t.{column} = ${column}")
                params[column] = value
        if overdue_on is not None:
            where.append("t.status = 'open' AND t.due_date < $overdue")
            params["overdue"] = overdue_on
        urgency = ("CASE t.priority " + " ".join(
            f"WHEN '{p}' THEN {i}" for i, p in enumerate(_PRIORITY_ORDER, 1)) + " END")
        frame = self.con.execute(f"""
            SELECT t.task_id, t.status, t.priority, t.title, t.subject, t.customer_id,
                   t.assignee, t.due_date, t.rule, t.reason, t.fired_on, t.created_at,
                   t.updated_at, t.closed_at,
                   coalesce(s.steps_done, 0) AS steps_done, coalesce(s.steps, 0) AS steps
            FROM _tasks t LEFT JOIN (
                SELECT task_id, count(done_at) AS steps_done, count(*) AS steps
                FROM _task_steps GROUP BY task_id) s USING (task_id)
            WHERE {' AND '.join(where)}
            ORDER BY t.status DESC, t.due_date NULLS LAST, {urgency}, t.task_id
        """, params).df()
        return frame[list(TASK_COLUMNS)]

    # -- changes by people ---------------------------------------------------------------

    def done(self, task_id: int, actor: str, *, step: int | None = None,
             note: str | None = None) -> Task:
        """Mark one step (``step``) or the whole task done; the task is done when every step
        is."""
        task = self.get(task_id)
        now = _now()
        with transaction(self.con):
            if step is not None:
                if not any(s["position"] == step for s in task.steps):
                    raise UserInputError(f"Task {task_id} has steps 1-{len(task.steps)}, "
                                         f"not {step}.")
                self.con.execute("UPDATE _task_steps SET done_at = ?, done_by = ? WHERE "
                                 "task_id = ? AND position = ? AND done_at IS NULL",
                                 [now, actor, task_id, step])
                self._log(task_id, actor, "step_done", f"{step}. {task.steps[step - 1]['title']}",
                          now)
                left = first(self.con.execute("SELECT count(*) FROM _task_steps WHERE "
                                              "task_id = ? AND done_at IS NULL", [task_id]))[0]
            else:
                self.con.execute("UPDATE _task_steps SET done_at = ?, done_by = ? WHERE "
                                 "task_id = ? AND done_at IS NULL", [now, actor, task_id])
                left = 0
            if note:
                self._log(task_id, actor, "comment", note, now)
            if left == 0 and task.status == "open":
                self.con.execute("UPDATE _tasks SET status = 'done', closed_at = ?, "
                                 "updated_at = ? WHERE task_id = ?", [now, now, task_id])
                self._log(task_id, actor, "done", None, now)
            else:
                self._touch(task_id, now)
        return self.get(task_id)

    def reopen(self, task_id: int, actor: str) -> Task:
        """Open a done task again."""
        task = self.get(task_id)
        if task.status == "open":
            raise UserInputError(f"Task {task_id} is already open.")
        now = _now()
        self.con.execute("UPDATE _tasks SET status = 'open', closed_at = NULL, updated_at = ? "
                         "WHERE task_id = ?", [now, task_id])
        self._log(task_id, actor, "reopened", None, now)
        return self.get(task_id)

    def assign(self, task_id: int, assignee: str, actor: str) -> Task:
        """Give the task to someone else (an owner name)."""
        if not assignee.strip():
            raise UserInputError("Name who the task goes to (an owner name).")
        task = self.get(task_id)
        now = _now()
        self.con.execute("UPDATE _tasks SET assignee = ?, updated_at = ? WHERE task_id = ?",
                         [assignee, now, task_id])
        self._log(task_id, actor, "assigned", f"{task.assignee or 'nobody'} -> {assignee}", now)
        return self.get(task_id)

    def comment(self, task_id: int, text: str, actor: str) -> Task:
        """Add a comment to the task's history."""
        if not text.strip():
            raise UserInputError("A comment needs some text.")
        self.get(task_id)
        now = _now()
        self._log(task_id, actor, "comment", text, now)
        self._touch(task_id, now)
        return self.get(task_id)

    def _touch(self, task_id: int, now: datetime) -> None:
        self.con.execute("UPDATE _tasks SET updated_at = ? WHERE task_id = ?", [now, task_id])

    def _log(self, task_id: int, actor: str, kind: str, detail: str | None,
             now: datetime) -> None:
        self.con.execute("INSERT INTO _task_events (task_id, happened_at, actor, kind, detail) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [task_id, now, actor, kind, detail])


def _now() -> datetime:
    return default_clock().now()


def _opt(value: Any) -> Any:
    return None if value is None or (not isinstance(value, str) and pd.isna(value)) else value


def _day(value: Any) -> date | None:
    return None if _opt(value) is None else pd.Timestamp(value).date()


def _stamp(value: Any) -> datetime | None:
    return None if _opt(value) is None else pd.Timestamp(value).to_pydatetime()


def _record(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, pd.Timestamp):
            out[key] = value.to_pydatetime()
        else:
            value = _opt(value)
            out[key] = int(value) if key == "position" else value
    if out.get("due_date") is not None:
        out["due_date"] = pd.Timestamp(out["due_date"]).date()
    return out
