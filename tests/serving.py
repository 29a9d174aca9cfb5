"""Serving a workspace's app (API and dashboard) with a real uvicorn server on loopback, and
waiting for a test's server (or any background worker) with a deadline."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from csmetrics import Workspace
from csmetrics.api import create_app

#: How long a server started by a test may take to come up (generous: CI machines are busy).
STARTUP_DEADLINE = 60.0


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(ready: Callable[[], bool], what: str, *, timeout: float = STARTUP_DEADLINE,
               alive: Callable[[], bool] | None = None,
               output: Callable[[], str] | None = None, poll: float = 0.05) -> None:
    """Poll ``ready()`` until it is true; fail loudly when ``timeout`` seconds pass first or
    ``alive()`` says the thing we wait for has died. ``output()`` (for example a subprocess's
    captured stdout and stderr) goes into the failure message."""
    deadline = time.monotonic() + timeout
    while not ready():
        dead = alive is not None and not alive()
        if dead or time.monotonic() > deadline:
            reason = "stopped" if dead else f"was not ready within {timeout:g} s"
            detail = output() if output is not None else ""
            raise RuntimeError(f"{what} {reason}" + (f"; its output:\n{detail}" if detail else ""))
        time.sleep(poll)


@contextmanager
def served(ws: Workspace) -> Iterator[str]:
    """The app on a free loopback port while the block runs; yields its base URL. Fails
    loudly when the server does not come up within STARTUP_DEADLINE."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(ws), host="127.0.0.1", port=port,
                                           log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    before = set(threading.enumerate())
    thread.start()
    try:
        wait_until(lambda: server.started, f"the test server on 127.0.0.1:{port}",
                   alive=thread.is_alive)
        yield f"http://127.0.0.1:{port}"
    finally:
        workers = [t for t in threading.enumerate()
                   if t not in before and t.name == "AnyIO worker thread"]
        server.should_exit = True
        thread.join(timeout=10)
        # The request threads end once the server's loop has; wait for them: one still ending
        # when the interpreter shuts down drops its DuckDB connection then, and aborts Python.
        for worker in workers:
            worker.join(timeout=10)


def sign_in(client: httpx.Client, base: str, user: str, password: str) -> str:
    """Post the sign-in form as a browser does; the session cookie's value."""
    form = client.get(f"{base}/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    answer = client.post(
        f"{base}/login", data={"username": user, "password": password, "csrf": csrf.group(1)},
        headers={"Cookie": f"csmetrics_login_csrf={form.cookies['csmetrics_login_csrf']}"})
    assert (answer.status_code, answer.headers["location"]) == (303, "/"), answer.text
    return answer.cookies["csmetrics_session"]
