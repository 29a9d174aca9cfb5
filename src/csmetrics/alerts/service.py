"""Running the rules as of a date and telling the assignees about the tasks they got."""

from __future__ import annotations

from datetime import date

from csmetrics.alerts.notify import Notice
from csmetrics.alerts.rulebook import AlertsConfig
from csmetrics.alerts.rules import Evaluator
from csmetrics.alerts.tasks import Outcome, Task, Tasks
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.health.scorecard import Scorecard
from csmetrics.store import Warehouse


def evaluate(warehouse: Warehouse, tasks: Tasks, settings: Settings, scorecard: Scorecard,
             alerts: AlertsConfig, as_of: date, *, rules: list[str] | None = None,
             dry_run: bool = False, today: date | None = None) -> Outcome:
    """Evaluate the enabled rules (or those named) as of ``as_of``; unless ``dry_run``, open
    the tasks new firings call for. Running it again on the same data opens nothing."""
    chosen = [r for r in alerts.rules if (r.name in rules if rules else r.enabled)]
    if rules:
        unknown = set(rules) - {r.name for r in alerts.rules}
        if unknown:
            raise UserInputError(f"No rule named {', '.join(sorted(unknown))}; "
                                 "'csmetrics rules list' shows them.")
    firings = Evaluator(warehouse.ibis, settings, scorecard, alerts, as_of).run(chosen)
    if dry_run:
        return Outcome(as_of, firings, [], 0, 0)
    return tasks.apply(
        firings, alerts, as_of, [r.name for r in chosen],
        event_rules=[r.name for r in chosen if r.kind == "event"], today=today)


def task_notice(task: Task, alerts: AlertsConfig, event: str = "task.created",
                link: str = "") -> Notice:
    """The message an assignee gets about a task: what fired, why, the steps and dates."""
    member = alerts.member(task.assignee)
    verb = "assigned to you" if event == "task.assigned" else "new task"
    lines = [f"{task.title} — {task.subject} ({verb})", "", f"Why: {task.reason}",
             f"Rule: {task.rule}", f"Priority: {task.priority}",
             f"Due: {task.due_date.isoformat() if task.due_date else 'no date'}", "", "Steps:"]
    lines += [f"  {s['position']}. {s['title']} (by {s['due_date']:%d %b %Y})"
              if s.get("due_date") else f"  {s['position']}. {s['title']}" for s in task.steps]
    if link:
        lines += ["", link]
    suffix = f":{len(task.history)}" if event == "task.assigned" else ""
    return Notice(
        key=f"task:{task.task_id}:{event.removeprefix('task.')}{suffix}", event=event,
        subject=f"[csmetrics] {task.title}: {task.subject}", text="\n".join(lines),
        payload=task.as_dict(), to=(member.email,) if member.email else ())
