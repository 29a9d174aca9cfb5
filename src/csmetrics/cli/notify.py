"""Commands over the notification outbox: status, send, test."""

from __future__ import annotations

import socket
from typing import Annotated, Any

import typer
from rich.text import Text

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    console,
    emit,
    errors,
    handles_errors,
    open_workspace,
)
from csmetrics.clock import default_clock
from csmetrics.errors import UserInputError

app = typer.Typer()
notify_app = typer.Typer(help="Notifications (e-mail, webhooks): outbox status, send, test.",
                         no_args_is_help=True)
app.add_typer(notify_app, name="notify")


def print_delivery(report: Any) -> None:
    """One line saying what a delivery run did, and each error on its own line."""
    console.print(f"Sent {report.sent} notification(s) in {report.messages} message(s); "
                  f"{report.failed} failed for good; {report.pending} pending.",
                  highlight=False)
    for error in report.errors:
        errors.print("[yellow]Error:[/]", Text(error), soft_wrap=True)


@notify_app.command("status")
@handles_errors
def notify_status(fmt: FormatOption = OutputFormat.TABLE,
                  workspace: WorkspaceOption = None) -> None:
    """Outbox counts per channel and status, and every failed notification with its error."""
    from csmetrics.alerts.notify import outbox_counts, outbox_rows

    with open_workspace(workspace) as ws:
        counts = outbox_counts(ws.app)
        stuck = [r for r in outbox_rows(ws.app) if r["status"] != "sent"]
    rows = [{"channel": channel, **by_status} for channel, by_status in counts.items()]
    problems = [{"id": r["notification_id"], "key": r["notice_key"], "channel": r["channel"],
                 "recipient": r["recipient"], "status": r["status"], "attempts": r["attempts"],
                 "next_attempt": "" if r["next_attempt_at"] is None else
                 r["next_attempt_at"].isoformat(timespec="seconds"),
                 "error": r["last_error"] or ""} for r in stuck]
    if fmt is OutputFormat.JSON:
        emit([{"counts": rows, "not_sent": problems}], fmt, title="", empty="")
        return
    emit(rows, fmt, title="Notification outbox", empty="The outbox is empty.")
    if problems:
        emit(problems, fmt, title="Not sent (pending or failed)", empty="")


@notify_app.command("send")
@handles_errors
def notify_send(workspace: WorkspaceOption = None) -> None:
    """Deliver the pending notifications now (retries included); exit code 1 if any failed."""
    with open_workspace(workspace) as ws:
        report = ws.deliver_notifications()
    print_delivery(report)
    if report.failed or report.errors:
        raise typer.Exit(1)


@notify_app.command("test")
@handles_errors
def notify_test(
    to: Annotated[list[str] | None, typer.Option("--to", help="Also e-mail this address; "
                                                 "repeatable.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Send a test notice through every enabled channel (e-mail, each webhook) and report."""
    from csmetrics.alerts.notify import Notice, routes

    now = default_clock().now()
    with open_workspace(workspace) as ws:
        notice = Notice(
            key=f"test:{now.isoformat(timespec='microseconds')}", event="test",
            subject=f"csmetrics test notification from {ws.settings.workspace.name}",
            text=f"This is a test from csmetrics on {socket.gethostname()} at "
                 f"{now.isoformat(timespec='seconds')}. If you read it, notifications work.",
            payload={"workspace": ws.settings.workspace.name, "test": True},
            to=tuple(to or ()))
        targets = routes(notice, ws.settings.notify)
        if not targets:
            raise UserInputError(
                "No channel would receive a notice: set [notify.email] enabled = true with "
                "default_to (or pass --to), or add a [[notify.webhooks]] entry to "
                "csmetrics.toml.")
        report = ws.notify([notice])
    console.print("Test notice to: " + ", ".join(f"{c} {r}" for c, r in targets),
                  highlight=False, soft_wrap=True)
    print_delivery(report)
    if report.failed or report.errors:
        raise typer.Exit(1)
