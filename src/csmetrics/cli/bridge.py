"""CLI commands on a served workspace run inside its server (see docs/serving.md).

A DuckDB file has one writing process. While ``csmetrics serve`` runs, it owns the
warehouse and leaves ``.csmetrics/server.json`` in the workspace: its address, its process id
and a secret readable by the owner only. A command typed on that workspace is then sent,
word for word with the folder it was typed in, to ``POST /api/v1/_cli`` on loopback; the
server runs the same command against its open warehouse and streams back what it prints and
its exit code. Commands that change the warehouse take the server's writer lock (one write
at a time); the others read side by side with the dashboard's requests.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from csmetrics.cli._shared import errors, serving_for

#: Where a running server says how to reach it, inside the workspace folder.
SERVER_FILE = Path(".csmetrics") / "server.json"
#: The header that carries the server's secret.
SECRET_HEADER = "X-CSMetrics-Secret"
#: Commands that only read: they run beside the requests, without the writer lock.
READ_ONLY = frozenset({
    "batches", "status", "kpis", "report", "metrics show", "metrics cohorts",
    "customers list", "health list", "health explain", "health backtest",
    "predict churn explain", "predict churn report", "predict retention", "clv show",
    "rules list", "rules check",
    "tasks list", "tasks show", "notify status", "schedule list", "users list", "tokens list",
})
#: Commands that need the warehouse to themselves: refused while a server runs.
REFUSED = {
    "serve": "it is served already, by process {pid} at {url}",
    "demo": "process {pid} serves it at {url}; stop that server (Ctrl-C) before rebuilding "
            "the demo",
}
#: Commands that ask for a password when none is given: asked here, before forwarding.
PASSWORD_PROMPTS = {"users add": "Password", "users password": "New password"}


@dataclass(frozen=True)
class Server:
    """A running server of a workspace, as its ``server.json`` says."""

    url: str
    pid: int
    secret: str


# -- the server's side -----------------------------------------------------------------------


def announce(root: Path, host: str, port: int) -> Server | None:
    """Write ``server.json`` for a server starting on ``host:port`` (private to the owner);
    None when the server does not listen on loopback, so the CLI cannot reach it."""
    if host not in ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1"):
        return None
    url = f"http://{'[::1]' if host in ('::', '::1') else '127.0.0.1'}:{port}"
    server = Server(url, os.getpid(), secrets.token_urlsafe(32))
    folder = root / SERVER_FILE.parent
    folder.mkdir(mode=0o700, exist_ok=True)
    temporary = folder / f"server.{os.getpid()}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"url": server.url, "pid": server.pid, "secret": server.secret}, handle)
    temporary.replace(root / SERVER_FILE)
    return server


def withdraw(root: Path, server: Server) -> None:
    """Remove ``server.json`` when it is still this server's."""
    found = read_server_file(root)
    if found is not None and found.secret == server.secret:
        with contextlib.suppress(FileNotFoundError):
            (root / SERVER_FILE).unlink()


_ANSI_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _ThreadRouter(io.TextIOBase):
    """sys.stdout or sys.stderr of a server: text written by a thread running a forwarded
    command goes to that command's caller; everything else to the real stream."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, text: str) -> int:
        sink: Callable[[str], None] | None = getattr(self.local, "sink", None)
        if sink is None:
            return self.real.write(text)
        sink(_ANSI_CODES.sub("", text))  # colours meant for the server's own terminal
        return len(text)

    def flush(self) -> None:
        if getattr(self.local, "sink", None) is None:
            self.real.flush()

    def isatty(self) -> bool:
        return False if getattr(self.local, "sink", None) else self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_ROUTERS_LOCK = threading.Lock()


def _routers() -> tuple[_ThreadRouter, _ThreadRouter]:
    """The process's stdout and stderr routers (installed on first use)."""
    with _ROUTERS_LOCK:
        if not isinstance(sys.stdout, _ThreadRouter):
            sys.stdout = _ThreadRouter(sys.stdout)
        if not isinstance(sys.stderr, _ThreadRouter):
            sys.stderr = _ThreadRouter(sys.stderr)
        return sys.stdout, sys.stderr  # type: ignore[return-value]


def run_forwarded(site: Any, argv: Sequence[str], folder: str,
                  emit: Callable[[str, str], None]) -> int:
    """Run ``csmetrics ARGV`` as typed in ``folder``, inside this server, against its
    workspace; ``emit(stream, text)`` receives what it prints ("out" or "err"). Returns the
    exit code. Commands that change the warehouse hold the writer lock while they run, and
    the answers the server kept are dropped after them (``Site.changing``)."""
    from csmetrics.cli import app

    out, err = _routers()
    out.local.sink = lambda text: emit("out", text)
    err.local.sink = lambda text: emit("err", text)
    name = command_name(argv)
    lock = contextlib.nullcontext() if name in READ_ONLY else site.changing()
    try:
        with lock, serving_for(site.workspace.session, Path(folder)):
            try:
                app(args=list(argv), prog_name="csmetrics", standalone_mode=True)
            except SystemExit as stop:
                return stop.code if isinstance(stop.code, int) else (0 if stop.code is None
                                                                     else 1)
            except Exception:  # noqa: BLE001 - report it to the caller, keep serving
                sys.stderr.write(traceback.format_exc())
                return 1
            return 0
    finally:
        out.local.sink = None
        err.local.sink = None


# -- the command's side ------------------------------------------------------------------


def command_name(argv: Sequence[str]) -> str:
    """The command ``argv`` names, its words joined by spaces ("users add"); "" for none."""
    import typer

    from csmetrics.cli import app

    command: Any = typer.main.get_command(app)
    words: list[str] = []
    for word in argv:
        if word.startswith("-"):
            continue
        commands = getattr(command, "commands", None)
        if not commands or word not in commands:
            break
        words.append(word)
        command = commands[word]
    return " ".join(words)


def _takes_workspace(name: str) -> bool:
    import typer

    from csmetrics.cli import app

    command: Any = typer.main.get_command(app)
    for word in name.split():
        command = command.commands[word]
    return not hasattr(command, "commands") and any(
        p.name == "workspace" for p in command.params)


def _workspace_option(argv: Sequence[str]) -> Path | None:
    """The folder ``--workspace``/``-w`` names in ``argv``, if any."""
    for index, word in enumerate(argv):
        for flag in ("--workspace", "-w"):
            if word == flag and index + 1 < len(argv):
                return Path(argv[index + 1])
            if word.startswith(flag + "=") or (flag == "-w" and word.startswith("-w")
                                                and len(word) > 2 and word != "-w"):
                return Path(word.split("=", 1)[1] if "=" in word else word[2:])
    return None


def read_server_file(root: Path) -> Server | None:
    """The server ``root/.csmetrics/server.json`` names, or None when there is none."""
    try:
        data = json.loads((root / SERVER_FILE).read_text(encoding="utf-8"))
        return Server(str(data["url"]), int(data["pid"]), str(data["secret"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _served_root(argv: Sequence[str]) -> Path | None:
    """The workspace folder the command is about, when one is found."""
    from csmetrics.errors import CsMetricsError
    from csmetrics.workspace import Workspace

    try:
        return Workspace.locate(_workspace_option(argv))
    except CsMetricsError:
        return None


def forward_if_served(argv: Sequence[str]) -> int | None:
    """Run the command inside the server of its workspace when one runs; its exit code, or
    None to run it here (no server, a stale ``server.json``, help, or a command that does
    not open a workspace)."""
    if not argv or any(word in ("--help", "-h") for word in argv):
        return None
    name = command_name(argv)
    if not name or not _takes_workspace(name):
        return None
    root = _served_root(argv)
    if root is None:
        return None
    server = read_server_file(root)
    if server is None:
        return None
    if not _alive(server.pid):
        with contextlib.suppress(FileNotFoundError):
            (root / SERVER_FILE).unlink()  # left by a server that did not stop cleanly
        return None
    if name in REFUSED:
        errors.print(f"[bold red]Error:[/] cannot {name} the workspace {root}: "
                     + REFUSED[name].format(pid=server.pid, url=server.url), soft_wrap=True)
        return 2
    words = list(argv)
    if name in PASSWORD_PROMPTS and not any(w == "--password" or w.startswith("--password=")
                                            for w in words):
        import typer

        try:
            password = os.environ.get("CSMETRICS_PASSWORD") or typer.prompt(
                PASSWORD_PROMPTS[name], hide_input=True, confirmation_prompt=True)
        except typer.Abort:
            errors.print("Aborted.")
            return 1
        words += ["--password", password]
    return _send(server, words)


def _send(server: Server, argv: list[str]) -> int | None:
    """POST the command to the server and print what comes back as it comes."""
    import httpx

    body = {"argv": argv, "folder": os.getcwd()}
    try:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client, client.stream(
                "POST", f"{server.url}/api/v1/_cli", json=body,
                headers={SECRET_HEADER: server.secret}) as response:
            if response.status_code != 200:
                errors.print(f"[bold red]Error:[/] the server at {server.url} refused the "
                             f"command ({response.status_code}): {response.read().decode()}",
                             soft_wrap=True)
                return 2
            return _relay(response.iter_lines())
    except httpx.ConnectError:
        return None  # not listening (yet): the command runs here, and says if it cannot


def _relay(lines: Iterator[str]) -> int:
    code = 1
    for line in lines:
        if not line:
            continue
        message = json.loads(line)
        if "exit" in message:
            code = int(message["exit"])
            continue
        stream = sys.stdout if message["stream"] == "out" else sys.stderr
        stream.write(message["text"])
        stream.flush()
    return code
