"""Tasks and rules: list and work tasks (any signed-in user), read, edit and run the rules
(editors)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from csmetrics.alerts.tasks import Task
from csmetrics.api.downloads import FILE_RESPONSES, FormatQuery, file_response
from csmetrics.api.routers.metrics import _clean
from csmetrics.clock import check_day
from csmetrics.server.deps import Editor, SiteDep, Viewer

router = APIRouter(tags=["tasks"])


class TaskStep(BaseModel):
    """One step of a task's playbook."""

    position: int
    title: str
    due_date: date | None
    done_at: datetime | None
    done_by: str | None


class TaskEvent(BaseModel):
    """One entry of a task's history: created, assigned, comment, step_done, done, reopened."""

    at: datetime
    actor: str
    kind: str
    detail: str | None


class TaskSummary(BaseModel):
    """A task as listed."""

    task_id: int
    status: Literal["open", "done"]
    priority: str
    title: str
    subject: str = Field(description="The account's name, a segment (plan=Pro) or an employee.")
    customer_id: str | None
    assignee: str | None
    due_date: date | None
    rule: str | None
    reason: str
    fired_on: date | None
    steps_done: int
    steps: int


class TaskDetail(BaseModel):
    """A task with the figures that triggered it, its steps and its history."""

    task_id: int
    status: Literal["open", "done"]
    priority: str
    title: str
    subject: str
    customer_id: str | None
    assignee: str | None
    due_date: date | None
    rule: str | None
    playbook: str | None
    reason: str
    figures: dict[str, Any]
    fired_on: date | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    steps: list[TaskStep]
    history: list[TaskEvent]


class DoneRequest(BaseModel):
    """Mark one step (``step``) or the whole task done, with an optional note."""

    step: int | None = Field(None, ge=1)
    note: str | None = None


class AssignRequest(BaseModel):
    """Who the task goes to (an owner name as in the accounts table)."""

    assignee: str = Field(min_length=1)


class CommentRequest(BaseModel):
    """A comment for the task's history."""

    text: str = Field(min_length=1)


class RuleSummary(BaseModel):
    """A rule as configured in the alerts file."""

    name: str
    enabled: bool
    kind: str
    condition: str
    playbook: str
    description: str


class Firing(BaseModel):
    """A rule met for one account, segment or employee."""

    rule: str
    key: str
    subject: str
    customer_id: str | None
    assignee: str | None
    reason: str
    figures: dict[str, Any]


class RunResult(BaseModel):
    """What a rules run found and did."""

    as_of: date
    dry_run: bool
    firings: list[Firing]
    created: list[int] = Field(description="Ids of the tasks opened.")
    suppressed: int = Field(description="Firings that already had a task.")
    cleared: int = Field(description="Conditions that stopped holding.")


class RulesFile(BaseModel):
    """The alerts file's text (team, playbooks, rules)."""

    text: str


@router.get("/tasks", response_model=list[TaskSummary], summary="List tasks",
            responses=FILE_RESPONSES)
def list_tasks(
    user: Viewer,
    site: SiteDep,
    status: Literal["open", "done", "all"] = "open",
    assignee: str | None = None,
    mine: Annotated[bool, Query(description="Only the caller's tasks (alerts team 'user').")]
    = False,
    customer: str | None = None,
    rule: str | None = None,
    overdue: bool = False,
    fmt: FormatQuery = "json",
) -> list[TaskSummary] | Response:
    """Tasks, most urgent first (due date, then priority); filters combine. With ``format``
    csv, parquet or xlsx: the same rows as a file."""
    with site.reading() as ws:
        if mine:
            assignee = ws.alerts().owner_of_user(user.username) or user.username
        frame = ws.tasks.list(status=status, assignee=assignee, customer=customer, rule=rule,
                              overdue_on=ws.today() if overdue else None)
        zone = ws.settings.workspace.timezone
    if fmt != "json":
        return file_response(frame, fmt, "tasks", timezone=zone)
    return [TaskSummary(**{k: _clean(v) for k, v in row.items()
                           if k in TaskSummary.model_fields})
            for row in frame.to_dict("records")]


@router.get("/tasks/{task_id}", response_model=TaskDetail, summary="One task in full")
def get_task(task_id: int, user: Viewer, site: SiteDep) -> TaskDetail:
    """Why the task was opened, the figures, its steps and history; 404 for an unknown id."""
    with site.reading() as ws:
        return _detail(ws.tasks.get(task_id))


@router.post("/tasks/{task_id}/done", response_model=TaskDetail, summary="Complete a step or "
             "the task")
def complete(task_id: int, body: DoneRequest, user: Viewer, site: SiteDep) -> TaskDetail:
    """The task is done when every step is."""
    with site.writing() as ws:
        return _detail(ws.tasks.done(task_id, _actor(user), step=body.step, note=body.note))


@router.post("/tasks/{task_id}/reopen", response_model=TaskDetail, summary="Reopen a task")
def reopen(task_id: int, user: Viewer, site: SiteDep) -> TaskDetail:
    """Open a done task again."""
    with site.writing() as ws:
        return _detail(ws.tasks.reopen(task_id, _actor(user)))


@router.post("/tasks/{task_id}/assign", response_model=TaskDetail, summary="Reassign a task")
def assign(task_id: int, body: AssignRequest, user: Viewer, site: SiteDep) -> TaskDetail:
    """Give the task to someone else; they are notified."""
    with site.writing() as ws:
        return _detail(ws.assign_task(task_id, body.assignee, _actor(user)))


@router.post("/tasks/{task_id}/comments", response_model=TaskDetail, summary="Comment")
def comment(task_id: int, body: CommentRequest, user: Viewer, site: SiteDep) -> TaskDetail:
    """Add a comment to the task's history."""
    with site.writing() as ws:
        return _detail(ws.tasks.comment(task_id, body.text, _actor(user)))


@router.get("/rules", response_model=list[RuleSummary], summary="The rules")
def list_rules(user: Viewer, site: SiteDep) -> list[RuleSummary]:
    """Every rule in the alerts file with its condition in words."""
    with site.reading() as ws:
        alerts = ws.alerts()
    return [RuleSummary(name=r.name, enabled=r.enabled, kind=r.kind, condition=r.condition(),
                        playbook=r.playbook, description=r.description) for r in alerts.rules]


@router.get("/rules/file", response_model=RulesFile, summary="The alerts file's text")
def read_rules_file(user: Editor, site: SiteDep) -> RulesFile:
    """The team, playbooks and rules as TOML (the default when there is no file yet)."""
    with site.reading() as ws:
        return RulesFile(text=ws.alerts_text())


@router.put("/rules/file", response_model=list[RuleSummary], summary="Replace the alerts file")
def write_rules_file(body: RulesFile, user: Editor, site: SiteDep) -> list[RuleSummary]:
    """Check and save the alerts file; a bad one is refused (400, naming the key and the fix)
    and the old one stays."""
    with site.writing() as ws:
        alerts = ws.save_alerts(body.text)
    return [RuleSummary(name=r.name, enabled=r.enabled, kind=r.kind, condition=r.condition(),
                        playbook=r.playbook, description=r.description) for r in alerts.rules]


@router.post("/rules/run", response_model=RunResult, summary="Evaluate the rules")
def run_rules(
    user: Editor,
    site: SiteDep,
    as_of: date | None = None,
    dry_run: bool = False,
    rules: Annotated[list[str] | None, Body(embed=True)] = None,
) -> RunResult:
    """Evaluate the enabled rules (or those named) as of a day (default: the last day of the
    data); unless ``dry_run``, open tasks for new firings and notify their assignees."""
    check_day(as_of, "as_of")
    with site.writing() as ws:
        outcome = ws.evaluate_rules(as_of, rules=rules, dry_run=dry_run)
    return RunResult(
        as_of=outcome.as_of, dry_run=dry_run,
        firings=[Firing(rule=f.rule, key=f.key, subject=f.subject, customer_id=f.customer_id,
                        assignee=f.owner, reason=f.reason, figures=f.figures)
                 for f in outcome.firings],
        created=[t.task_id for t in outcome.created], suppressed=outcome.suppressed,
        cleared=outcome.cleared)


def _actor(user: Any) -> str:
    return str(user.username)


def _detail(task: Task) -> TaskDetail:
    return TaskDetail(**task.as_dict())
