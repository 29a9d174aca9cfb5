"""A throwaway PostgreSQL server for tests: Debian's binaries, a temporary data folder, a free
port on 127.0.0.1 only, trust authentication, stopped at the end.

PostgreSQL refuses to run as root, so under root (CI) the server runs as the ``postgres``
system user that Debian's package creates, in a folder that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tests.serving import free_port

if TYPE_CHECKING:
    from csmetrics import Workspace

INSTALL = "apt-get install -y postgresql"
SUPERUSER = "csmetrics"


def binaries() -> Path:
    """The folder of Debian's PostgreSQL programs (the newest installed version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if not found:
        raise RuntimeError(f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/"
                           f"initdb): install it with '{INSTALL}'.")
    return Path(found[-1]).parent


def _as_server_user(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when we are root, else as ourselves."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(f"Running as root needs the 'postgres' system user; '{INSTALL}' "
                           "creates it.") from None
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server while the block runs; yields its superuser URL (database
    ``postgres``)."""
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="csmetrics-pg-"))
    data, log = folder / "data", folder / "server.log"
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(folder, account.pw_uid, account.pw_gid)
    port = free_port()
    try:
        subprocess.run(_as_server_user([
            str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
            check=True, capture_output=True, text=True, timeout=120)
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        started = subprocess.run(_as_server_user([
            str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
            "-t", "60", "start"]), capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            detail = log.read_text() if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{detail}")
        try:
            yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_server_user([
                str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                capture_output=True, timeout=120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server_url: str) -> str:
    """A new, empty database on the server; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


def app_workspace(folder: Path, app_url: str = "", extra_toml: str = "") -> Workspace:
    """A new workspace in ``folder`` whose ``[app] url`` is ``app_url`` (empty: the app state
    in the warehouse), with ``extra_toml`` appended to its settings."""
    from csmetrics import Workspace

    if not (folder / "csmetrics.toml").exists():
        Workspace.init(folder).close()
    config = folder / "csmetrics.toml"
    text = config.read_text(encoding="utf-8")
    if app_url:
        text = text.replace("\n[app]\n", f'\n[app]\nurl = "{app_url}"\n', 1)
    config.write_text(text + "\n" + extra_toml, encoding="utf-8")
    return Workspace.load(folder)
