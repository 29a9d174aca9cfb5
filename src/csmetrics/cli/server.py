"""Commands for the server: who may use it (users, API tokens) and serving it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from csmetrics.cli._shared import (
    FormatOption,
    OutputFormat,
    WorkspaceOption,
    console,
    emit,
    handles_errors,
    open_workspace,
)
from csmetrics.errors import UserInputError

if TYPE_CHECKING:
    from csmetrics.store.accounts import Accounts
    from csmetrics.workspace import Workspace

app = typer.Typer()
users_app = typer.Typer(
    help="People who may use the dashboard and API: add, list, role, password, disable, "
         "enable, remove.",
    no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


def _accounts(ws: Workspace) -> Accounts:
    """The users and API tokens of a workspace."""
    from csmetrics.store.accounts import Accounts

    return Accounts(ws.app)


@users_app.command("add")
@handles_errors
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Option(help="admin, editor or viewer.")] = "viewer",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True,
                                          confirmation_prompt=True,
                                          envvar="CSMETRICS_PASSWORD",
                                          help="At least 10 characters.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Add a user (the password is asked for, or read from $CSMETRICS_PASSWORD)."""
    with open_workspace(workspace) as ws:
        user = _accounts(ws).add_user(username, password, role)
    console.print(f"Added {user.username} ({user.role}).")


@users_app.command("list")
@handles_errors
def users_list(fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """List users and their roles."""
    with open_workspace(workspace) as ws:
        rows = [{"username": u.username, "role": u.role, "disabled": u.disabled}
                for u in _accounts(ws).users()]
    emit(rows, fmt, title="Users", empty="No users yet: csmetrics users add NAME --role admin")


@users_app.command("disable")
@handles_errors
def users_disable(username: str, workspace: WorkspaceOption = None) -> None:
    """Disable a user: their tokens stop working at once."""
    with open_workspace(workspace) as ws:
        _accounts(ws).set_disabled(username, True)
    console.print(f"Disabled {username}.")


@users_app.command("role")
@handles_errors
def users_role(
    username: str,
    role: Annotated[str, typer.Argument(help="admin, editor or viewer.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Give a user another role."""
    with open_workspace(workspace) as ws:
        user = _accounts(ws).set_role(username, role)
    console.print(f"{user.username}'s role is now {user.role}.")


@users_app.command("password")
@handles_errors
def users_password(
    username: str,
    password: Annotated[str, typer.Option(prompt="New password", hide_input=True,
                                          confirmation_prompt=True,
                                          envvar="CSMETRICS_PASSWORD",
                                          help="At least 10 characters.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Set a user's password (asked for, or read from $CSMETRICS_PASSWORD); their dashboard
    sessions end."""
    with open_workspace(workspace) as ws:
        _accounts(ws).set_password(username, password)
    console.print(f"Set a new password for {username}.")


@users_app.command("enable")
@handles_errors
def users_enable(username: str, workspace: WorkspaceOption = None) -> None:
    """Enable a disabled user again."""
    with open_workspace(workspace) as ws:
        _accounts(ws).set_disabled(username, False)
    console.print(f"Enabled {username}.")


@users_app.command("remove")
@handles_errors
def users_remove(username: str, workspace: WorkspaceOption = None) -> None:
    """Remove a user, their API tokens and their sessions."""
    with open_workspace(workspace) as ws:
        _accounts(ws).remove_user(username)
    console.print(f"Removed {username}.")


@tokens_app.command("create")
@handles_errors
def tokens_create(
    username: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    workspace: WorkspaceOption = None,
) -> None:
    """Create an API token; it is shown once, so store it now."""
    with open_workspace(workspace) as ws:
        token = _accounts(ws).create_token(username, name)
    console.print(token, highlight=False, soft_wrap=True)


@tokens_app.command("list")
@handles_errors
def tokens_list(fmt: FormatOption = OutputFormat.TABLE, workspace: WorkspaceOption = None) -> None:
    """List tokens (never their secrets)."""
    with open_workspace(workspace) as ws:
        rows = [{"token_id": t.token_id, "user": t.username, "name": t.name,
                 "created": t.created_at.isoformat(timespec="seconds"),
                 "revoked": t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else ""}
                for t in _accounts(ws).tokens()]
    emit(rows, fmt, title="API tokens", empty="No tokens.")


@tokens_app.command("revoke")
@handles_errors
def tokens_revoke(token_id: str, workspace: WorkspaceOption = None) -> None:
    """Revoke a token for good."""
    with open_workspace(workspace) as ws:
        _accounts(ws).revoke_token(token_id)
    console.print(f"Revoked {token_id}.")


@app.command()
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    scheduler: Annotated[bool, typer.Option("--scheduler", help="Also send the scheduled "
                                            "reports and pending notifications in the "
                                            "background (as 'csmetrics schedule run').")
                         ] = False,
    schedule_every: Annotated[int, typer.Option(min=10, help="Seconds between scheduler "
                                                "runs.")] = 600,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the dashboard and the JSON API (its documentation at /api/v1/docs)."""
    import uvicorn

    from csmetrics.api import cli_channel, create_app
    from csmetrics.cli import bridge
    from csmetrics.workspace import Workspace

    ws = Workspace.find(workspace)
    if not _accounts(ws).users():
        raise UserInputError("No users yet: add one first with 'csmetrics users add NAME "
                             "--role admin', then 'csmetrics tokens create NAME'.")
    console.print(f"Dashboard: http://{host}:{port}/  (sign in with a user of "
                  f"'csmetrics users list')")
    console.print(f"API: http://{host}:{port}/api/v1  (docs: http://{host}:{port}/api/v1/docs)")
    app = create_app(ws)
    announced = bridge.announce(ws.root, host, port)
    if announced is not None:  # CLI commands on this workspace now run in this server
        cli_channel.mount(app, announced.secret, bridge.run_forwarded)
    runner = None
    if scheduler:
        from csmetrics.reports.scheduler import Scheduler

        runner = Scheduler(app.state.site.writing, every=schedule_every)
        runner.start()
        console.print(f"Scheduler: reports and notifications every {schedule_every} s.")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        if runner is not None:
            runner.stop()
        if announced is not None:
            bridge.withdraw(ws.root, announced)
        app.state.site.close()
