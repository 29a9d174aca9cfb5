"""Dashboard pages for tasks (my tasks, team tasks, one task) and the rules editor.

Any signed-in user works tasks (steps, comments, reassigning, closing); only editors change
or run the rules. Every form carries the session's CSRF token.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from csmetrics.errors import UserInputError
from csmetrics.reports.export import FORMATS
from csmetrics.server.deps import Site
from csmetrics.web.pages import (
    DOWNLOAD_ORDER,
    _file,
    _nav,
    _session,
    form_session,
    templates,
)

router = APIRouter(include_in_schema=False)

VIEWS = ("mine", "team", "overdue", "done")


@router.get("/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, view: str = "", assignee: str = "", rule: str = "",
               customer: str = "") -> Response:
    """My open tasks (the signed-in user's, through the alerts file's team), the team's, the
    overdue ones, or the done ones; filter by assignee, rule or account. Someone who owns no
    accounts starts on the team's tasks."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    with site.reading() as ws:
        alerts = ws.alerts()
        owner = alerts.owner_of_user(session.user.username)
        me = owner or session.user.username
        if view not in VIEWS:
            view = "mine" if owner or not ws.tasks.list(assignee=me).empty else "team"
        today = ws.today()
        filters = _filters(view, me, assignee, rule, customer, today)
        rows = ws.tasks.list(**filters)
        everyone = ws.tasks.list(status="all")
        company = ws.settings.workspace.name
    query = urlencode({"view": view, "assignee": assignee, "rule": rule, "customer": customer})
    return templates.TemplateResponse(request, "tasks.html", {
        "page": "tasks", "title": "Tasks", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "rows": rows.to_dict("records"),
        "view": view, "views": VIEWS, "me": me, "today": today,
        "assignee": assignee, "rule": rule, "customer": customer,
        "assignees": sorted({a for a in everyone["assignee"].dropna()}),
        "rules": sorted({r for r in everyone["rule"].dropna()}),
        "may_edit_rules": session.user.may("editor"),
        "downloads": [{"format": f, "label": FORMATS[f].label,
                       "url": f"/tasks/export{FORMATS[f].extension}?{query}"}
                      for f in DOWNLOAD_ORDER],
    })


@router.get("/tasks/export.{fmt}")
def tasks_export(request: Request, fmt: str, view: str = "mine", assignee: str = "",
                 rule: str = "", customer: str = "") -> Response:
    """The rows of the tasks page as CSV, Excel or Parquet."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if fmt not in FORMATS:
        return Response(f"No download as .{fmt}; use .csv, .xlsx or .parquet.", status_code=404)
    site: Site = request.app.state.site
    with site.reading() as ws:
        me = ws.alerts().owner_of_user(session.user.username) or session.user.username
        frame = ws.tasks.list(**_filters(view, me, assignee, rule, customer, ws.today()))
        zone = ws.settings.workspace.timezone
    return _file(frame, fmt, "tasks", view, zone)


def _filters(view: str, me: str, assignee: str, rule: str, customer: str, today: date
             ) -> dict[str, Any]:
    filters: dict[str, Any] = {"status": "done" if view == "done" else "open",
                               "assignee": me if view == "mine" else (assignee or None),
                               "rule": rule or None, "customer": customer or None}
    if view == "overdue":
        filters["overdue_on"] = today
    return filters


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: int, message: str = "", error: str = "") -> Response:
    """One task: why, the figures, the steps to tick, comments, reassigning, history."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    with site.reading() as ws:
        try:
            task = ws.tasks.get(task_id)
        except UserInputError as exc:
            return Response(str(exc), status_code=404)
        owners = sorted(set(ws.alerts().team) | set(
            ws.tasks.list(status="all")["assignee"].dropna()) | _owners(ws))
        company = ws.settings.workspace.name
    return templates.TemplateResponse(request, "task.html", {
        "page": "tasks", "title": f"Task {task_id}", "company": company,
        "user": session.user, "csrf": session.csrf, "pages": _nav(), "task": task,
        "owners": owners, "message": message, "error": error,
    })


def _owners(ws: Any) -> set[str]:
    rows = ws.warehouse.sql.execute(
        "SELECT DISTINCT owner FROM customers WHERE owner IS NOT NULL").fetchall()
    return {r[0] for r in rows}


@router.post("/tasks/{task_id}/{action}")
def task_action(request: Request, task_id: int, action: str, csrf: Annotated[str, Form()],
                step: Annotated[int | None, Form()] = None,
                assignee: Annotated[str, Form()] = "", text: Annotated[str, Form()] = ""
                ) -> Response:
    """Tick a step, close, reopen, reassign or comment; back to the task page."""
    session, refusal = form_session(request, csrf)
    if refusal is not None:
        return refusal
    site: Site = request.app.state.site
    actor = session.user.username
    try:
        with site.writing() as ws:
            if action == "done":
                ws.tasks.done(task_id, actor, step=step, note=text or None)
            elif action == "reopen":
                ws.tasks.reopen(task_id, actor)
            elif action == "assign":
                ws.assign_task(task_id, assignee, actor)
            elif action == "comment":
                ws.tasks.comment(task_id, text, actor)
            else:
                return Response(f"No task action {action!r}.", status_code=404)
    except UserInputError as exc:
        return RedirectResponse(f"/tasks/{task_id}?error={quote(str(exc))}", status_code=303)
    said = {"done": "Saved.", "reopen": "Reopened.", "assign": "Reassigned; they are told.",
            "comment": "Comment added."}[action]
    return RedirectResponse(f"/tasks/{task_id}?message={quote(said)}", status_code=303)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, message: str = "", error: str = "", text: str | None = None,
               check: bool = False) -> Response:
    """The rules in words and, for editors, the alerts file to edit, save and try out."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    firings = None
    with site.reading() as ws:
        company = ws.settings.workspace.name
        source = ws.alerts_text() if text is None else text
        try:
            rules = ws.alerts().rules
        except UserInputError as exc:
            rules, error = [], error or str(exc)
        if check and session.user.may("editor") and not error:
            outcome = ws.evaluate_rules(dry_run=True)
            firings = [{"rule": f.rule, "subject": f.subject, "assignee": f.owner or "",
                        "reason": f.reason} for f in outcome.firings]
    return templates.TemplateResponse(request, "rules.html", {
        "page": "tasks", "title": "Rules", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "rules": rules, "text": source,
        "message": message, "error": error, "firings": firings,
        "may_edit": session.user.may("editor"),
    })


@router.post("/rules", response_class=HTMLResponse)
def save_rules(request: Request, csrf: Annotated[str, Form()], text: Annotated[str, Form()],
               run: Annotated[bool, Form()] = False) -> Response:
    """Check and save the alerts file (editors); a bad file is shown again with the problem,
    and the old one stays. ``run`` also evaluates the rules and opens tasks."""
    session, refusal = form_session(request, csrf, editor_for="Changing rules")
    if refusal is not None:
        return refusal
    site: Site = request.app.state.site
    try:
        with site.writing() as ws:
            alerts = ws.save_alerts(text.replace("\r\n", "\n"))
            message = f"Saved {len(alerts.rules)} rules."
            if run:
                outcome = ws.evaluate_rules()
                message += (f" Evaluated as of {outcome.as_of}: {len(outcome.firings)} "
                            f"firing(s), {len(outcome.created)} new task(s).")
    except UserInputError as exc:
        return rules_page(request, error=str(exc), text=text)
    return RedirectResponse(f"/rules?message={quote(message)}", status_code=303)
