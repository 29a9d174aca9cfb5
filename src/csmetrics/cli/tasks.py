"""Rules and tasks: see what fires, run the rules, and work the tasks they open."""

from __future__ import annotations

import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from csmetrics.cli._export import OutOption, write_out
from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    console,
    emit,
    handles_errors,
    open_workspace,
    records,
)
from csmetrics.errors import UserInputError

if TYPE_CHECKING:
    from csmetrics.alerts.tasks import Task
    from csmetrics.workspace import Workspace

app = typer.Typer()
rules_app = typer.Typer(help="Alert rules: list them, see what fires, run them.",
                        no_args_is_help=True)
tasks_app = typer.Typer(help="Tasks the rules opened: list, show, done, assign, comment.",
                        no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(tasks_app, name="tasks")

AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Evaluate on the data known on this day (YYYY-MM-DD); default: the last "
    "day of the data.")]
RuleOption = Annotated[list[str] | None, typer.Option(
    "--rule", help="Only this rule (repeat for more); default: every enabled rule.")]
TaskId = Annotated[int, typer.Argument(help="The task number ('csmetrics tasks list').")]


def actor() -> str:
    """Who is acting from the command line: $CSMETRICS_USER, else the system user."""
    return os.environ.get("CSMETRICS_USER") or f"{getpass.getuser()} (cli)"


@rules_app.command("list")
@handles_errors
def rules_list(fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """Every rule: its condition in words, playbook and whether it is enabled."""
    with open_workspace(workspace) as ws:
        alerts = ws.alerts()
    rows = [{"rule": r.name, "on": "yes" if r.enabled else "no", "kind": r.kind,
             "condition": r.condition(), "playbook": r.playbook,
             "where": ", ".join(f"{k}={v}" for k, v in r.where.items())}
            for r in alerts.rules]
    emit(rows, fmt, title="Rules", empty="No rules; add some to alerts.toml.")


@rules_app.command("check")
@handles_errors
def rules_check(
    as_of: AsOfOption = None,
    rule: RuleOption = None,
    fmt: FormatOption = OutputFormat.TABLE,
    workspace: WorkspaceOption = None,
) -> None:
    """What the rules would fire now, without opening tasks (a dry run)."""
    with open_workspace(workspace) as ws:
        outcome = ws.evaluate_rules(as_of, rules=rule, dry_run=True)
    rows = [{"rule": f.rule, "subject": f.subject, "customer_id": f.customer_id,
             "assignee": f.owner, "reason": f.reason} for f in outcome.firings]
    if fmt is OutputFormat.JSON:
        rows = [{**row, "key": f.key, "figures": f.figures}
                for row, f in zip(rows, outcome.firings, strict=True)]
    emit(rows, fmt, title=f"Firings as of {outcome.as_of}", empty="No rule fires.")


@rules_app.command("run")
@handles_errors
def rules_run(
    as_of: AsOfOption = None,
    rule: RuleOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Evaluate the rules, open tasks for new firings and notify their assignees. Safe to
    repeat: a condition that already has a task opens no other."""
    with open_workspace(workspace) as ws:
        outcome = ws.evaluate_rules(as_of, rules=rule)
    console.print(f"Rules as of {outcome.as_of}: {len(outcome.firings)} firing(s), "
                  f"{len(outcome.created)} new task(s), {outcome.suppressed} already handled, "
                  f"{outcome.cleared} condition(s) cleared.", highlight=False)
    for task in outcome.created:
        console.print(Text(f"  #{task.task_id} {task.title}: {task.subject} -> "
                           f"{task.assignee or 'unassigned'} ({task.reason})"), soft_wrap=True)


@tasks_app.command("list")
@handles_errors
def tasks_list(
    status: Annotated[str, typer.Option(help="open, done or all.")] = "open",
    assignee: Annotated[str | None, typer.Option(help="Only this owner's tasks.")] = None,
    mine: Annotated[bool, typer.Option(
        "--mine", help="Only the tasks of $CSMETRICS_USER (through alerts.toml's team).")] = False,
    customer: Annotated[str | None, typer.Option(help="Only this account's tasks.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only tasks this rule opened.")] = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only open tasks past due.")] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Tasks, most urgent first: due date, then priority."""
    with open_workspace(workspace) as ws:
        if mine:
            assignee = _my_owner_name(ws)
        frame = ws.tasks.list(status=status, assignee=assignee, customer=customer, rule=rule,
                              overdue_on=ws.today() if overdue else None)
        if out is not None:
            write_out(frame, out, sheet="tasks", timezone=ws.settings.workspace.timezone)
            return
    rows = records(frame)
    if fmt is OutputFormat.TABLE:
        rows = [{"#": r["task_id"], "due": r["due_date"], "priority": r["priority"],
                 "task": r["title"], "for": r["subject"], "assignee": r["assignee"] or "",
                 "steps": f"{r['steps_done']}/{r['steps']}", "status": r["status"],
                 "why": r["reason"]} for r in rows]
    emit(rows, fmt, title="Tasks", empty="No tasks match.")


@tasks_app.command("show")
@handles_errors
def tasks_show(task_id: TaskId, fmt: FormatOption = OutputFormat.TABLE,
               workspace: WorkspaceOption = None) -> None:
    """One task: why it was opened, the figures, its steps and its history."""
    with open_workspace(workspace) as ws:
        task = ws.tasks.get(task_id)
    _show(task, fmt)


@tasks_app.command("done")
@handles_errors
def tasks_done(
    task_id: TaskId,
    step: Annotated[int | None, typer.Option(help="Only this step (1, 2, ...).")] = None,
    note: Annotated[str | None, typer.Option(help="A comment to keep with it.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Mark a step, or the whole task, done."""
    with open_workspace(workspace) as ws:
        task = ws.tasks.done(task_id, actor(), step=step, note=note)
    done = sum(1 for s in task.steps if s["done_at"] is not None)
    console.print(f"Task {task_id}: {done}/{len(task.steps)} steps done, {task.status}.",
                  highlight=False)


@tasks_app.command("reopen")
@handles_errors
def tasks_reopen(task_id: TaskId, workspace: WorkspaceOption = None) -> None:
    """Open a done task again."""
    with open_workspace(workspace) as ws:
        ws.tasks.reopen(task_id, actor())
    console.print(f"Task {task_id} is open again.", highlight=False)


@tasks_app.command("assign")
@handles_errors
def tasks_assign(
    task_id: TaskId,
    assignee: Annotated[str, typer.Argument(help="Owner name as in the accounts table.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Give a task to someone else; they are notified."""
    with open_workspace(workspace) as ws:
        ws.assign_task(task_id, assignee, actor())
    console.print(Text(f"Task {task_id} is now {assignee}'s."), soft_wrap=True)


@tasks_app.command("comment")
@handles_errors
def tasks_comment(
    task_id: TaskId,
    text: Annotated[str, typer.Argument(help="The comment.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Add a comment to a task's history."""
    with open_workspace(workspace) as ws:
        task = ws.tasks.comment(task_id, text, actor())
    console.print(f"Comment added to task {task_id} ({len(task.history)} entries in its "
                  "history).", highlight=False)


def _my_owner_name(ws: Workspace) -> str:
    user = os.environ.get("CSMETRICS_USER") or getpass.getuser()
    owner = ws.alerts().owner_of_user(user)
    if owner is None:
        raise UserInputError(
            f"No team member has user = {user!r} in {ws.settings.alerts.file}; add "
            f"[team.\"Your Name\"] with user = \"{user}\", or use --assignee NAME.")
    return owner


def _show(task: Task, fmt: OutputFormat) -> None:
    if fmt is not OutputFormat.TABLE:
        data = task.as_dict()
        if fmt is OutputFormat.JSON:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        else:
            emit([{k: v for k, v in data.items() if k not in ("steps", "history", "figures")}],
                 fmt, title="", empty="")
        return
    console.print(Text(f"#{task.task_id} {task.title}: {task.subject}", style="bold"))
    console.print(Text(f"{task.status} · {task.priority} priority · due "
                       f"{task.due_date or 'no date'} · assignee {task.assignee or 'nobody'} · "
                       f"rule {task.rule}"))
    console.print(Text(f"Why: {task.reason}"), soft_wrap=True)
    figures = ", ".join(f"{k} = {v:,.4g}" if isinstance(v, float) else f"{k} = {v}"
                        for k, v in task.figures.items())
    console.print(Text(f"Figures: {figures}"), soft_wrap=True)
    console.print("Steps:")
    for s in task.steps:
        mark = "x" if s["done_at"] is not None else " "
        console.print(Text(f"  [{mark}] {s['position']}. {s['title']} (due {s['due_date']})"))
    console.print("History:")
    for h in task.history:
        detail = f": {h['detail']}" if h["detail"] else ""
        console.print(Text(f"  {h['at']:%Y-%m-%d %H:%M} {h['actor']} {h['kind']}{detail}"),
                      soft_wrap=True)
