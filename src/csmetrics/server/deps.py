"""What every route depends on: the workspace (one connection, one lock) and the caller."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csmetrics.server.signin import LoginThrottle
from csmetrics.store.accounts import Accounts, Role, User
from csmetrics.workspace import Workspace

bearer = HTTPBearer(auto_error=False, description="An API token: csmetrics tokens create")


class Site:
    """The open workspace behind the app. DuckDB connections are not shared between
    threads, so requests take turns on it."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.lock = threading.RLock()
        self.throttle = LoginThrottle()  # failed sign-ins (csmetrics.server.signin)

    @contextmanager
    def use(self) -> Iterator[Workspace]:
        """The workspace, for the duration of one piece of work. Afterwards the warehouse's
        files are made private again (DuckDB re-creates its write-ahead log after each
        checkpoint with the process's umask)."""
        with self.lock:
            yield self.workspace
            self.workspace.warehouse.protect_files()


def site(request: Request) -> Site:
    """The app's workspace."""
    return request.app.state.site  # type: ignore[no-any-return]


def caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user whose API token came with the request; 401 without a valid one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "An API token is required: send "
                            "'Authorization: Bearer <token>' (create one with 'csmetrics "
                            "tokens create').", headers={"WWW-Authenticate": "Bearer"})
    with site(request).use() as ws:
        user = Accounts(ws.warehouse.sql).user_for_token(credentials.credentials)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "The API token is unknown, revoked, "
                            "or its user is disabled.", headers={"WWW-Authenticate": "Bearer"})
    return user


def requires(role: Role):  # noqa: ANN201 - a FastAPI dependency
    """A dependency that admits users whose role includes ``role``; 403 otherwise."""
    def check(user: Annotated[User, Depends(caller)]) -> User:
        if not user.may(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"This needs the {role} role; {user.username} is a {user.role}.")
        return user
    return check


Viewer = Annotated[User, Depends(requires("viewer"))]
Editor = Annotated[User, Depends(requires("editor"))]
Admin = Annotated[User, Depends(requires("admin"))]
SiteDep = Annotated[Site, Depends(site)]
