"""What every route depends on: the workspace (a connection per thread, a writer lock) and
the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from csmetrics.server.results import Results, file_stamp
from csmetrics.server.signin import LoginThrottle
from csmetrics.store.accounts import Accounts, Role, User
from csmetrics.workspace import Workspace

T = TypeVar("T")

bearer = HTTPBearer(auto_error=False, description="An API token: csmetrics tokens create")


class Site:
    """The open workspace behind the app, lent to one piece of work at a time per thread.

    Each worker thread reads through a connection of its own (``Workspace.session``), so
    requests run side by side and see every committed change; no lock is taken to read.
    Work that changes the warehouse takes the writer lock, so two writes never meet;
    sign-ins and sign-outs take a lock of their own, so they never wait for a refresh.
    Spark (query-only or with a lake) has one connection, and everything takes the writer
    lock.
    What the reads compute is kept until the next write (``remember``). See docs/serving.md."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.writer = threading.RLock()
        self.sessions_lock = threading.Lock()
        self.throttle = LoginThrottle()  # failed sign-ins (csmetrics.server.signin)
        self.results = Results(stamp=self._stamp)
        self._local = threading.local()
        self._parallel = workspace.warehouse.shares_connections
        # kept results need every change of the tables to go through this server: so with
        # csmetrics' own tables (DuckDB, or Spark with a lake), not the company's own
        self._keeps = workspace.warehouse.has_catalog and not workspace.settings.engine.tables
        self._sessions: list[Workspace] = []
        self._sessions_made = threading.Lock()

    def _session(self) -> Workspace:
        """This thread's connection to the workspace (made on its first use)."""
        if not self._parallel:
            return self.workspace
        view: Workspace | None = getattr(self._local, "workspace", None)
        if view is None:
            view = self.workspace.session()
            self._local.workspace = view
            with self._sessions_made:
                self._sessions.append(view)
        return view

    def _stamp(self) -> Hashable:
        """What the kept results depend on besides the warehouse: today, and the scorecard
        file, which is read on every use and may be edited while the server runs."""
        ws = self.workspace
        return ws.today(), file_stamp(ws.root / ws.settings.health.scorecard)

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s answer, kept under ``key`` until the warehouse next changes (see
        ``csmetrics.server.results``): ``key`` must name everything the answer depends on.
        Not kept when the tables are the company's own (a query-only Spark, or tables mapped
        with ``[engine] tables``): they may change without the server."""
        if not self._keeps:
            return compute()
        return self.results.get(key, compute)

    @contextmanager
    def reading(self) -> Iterator[Workspace]:
        """The workspace, to read: no lock, side by side with other readers and a writer."""
        if not self._parallel:
            with self.writer:
                yield self.workspace
            return
        yield self._session()

    @contextmanager
    def writing(self) -> Iterator[Workspace]:
        """The workspace, to change (see ``changing``)."""
        with self.changing():
            yield self._session()

    @contextmanager
    def changing(self) -> Iterator[None]:
        """One change of the warehouse at a time. Afterwards, even after a failure, the kept
        results are dropped and the warehouse's files made private again (DuckDB re-creates
        its write-ahead log after a checkpoint)."""
        with self.writer:
            try:
                yield
            finally:
                self.results.forget()
                self.workspace.warehouse.protect_files()

    @contextmanager
    def signing_in(self) -> Iterator[Workspace]:
        """The workspace, to start or end a dashboard session."""
        with self.sessions_lock:
            yield self._session()

    def close(self) -> None:
        """Close every thread's connection, then the workspace: before the process exits,
        so no connection is left for the interpreter to tear down."""
        with self._sessions_made:
            sessions, self._sessions = self._sessions, []
        for view in sessions:
            view.close()
        self.workspace.close()


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
    with site(request).reading() as ws:
        user = Accounts(ws.app).user_for_token(credentials.credentials)
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
