"""The CLI and ``csmetrics serve`` on one workspace: every command works while the server
runs (it runs inside the server), reads go on during a refresh, and a revoked token is
refused on its next request. Real commands, a real server process, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import DEMO_END, run_cli, write_csv
from tests.serving import free_port, wait_until

pytestmark = pytest.mark.slow

PASSWORD = "correct-horse-battery"
SERVER_FILE = Path(".csmetrics") / "server.json"


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A demo workspace served by ``csmetrics serve`` in its own process: (folder, URL)."""
    folder = tmp_path_factory.mktemp("served") / "ws"
    run_cli("demo", "--end", DEMO_END, "--customers", "80", "--months", "12", "--seed", "3",
            "--workspace", str(folder))
    run_cli("users", "add", "ann", "--role", "admin", "-w", str(folder),
            env=_env(CSMETRICS_PASSWORD=PASSWORD))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "csmetrics", "serve", "-w", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{url}/api/v1/live").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, "csmetrics serve", alive=lambda: server.poll() is None,
                   output=lambda: server.stdout.read() if server.poll() is not None else "")
        assert (folder / SERVER_FILE).is_file()
        yield folder, url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
    assert not (folder / SERVER_FILE).exists(), "the server left its server.json behind"


def _csmetrics(folder: Path, *args: str, cwd: Path | None = None, check: bool = True,
               **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, "-w", str(folder), cwd=cwd, check=check, env=_env(**env))


def test_the_server_file_is_private_and_names_a_loopback_address(served):
    folder, url = served
    file = folder / SERVER_FILE
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    assert oct(file.parent.stat().st_mode & 0o777) == "0o700"
    assert json.loads(file.read_text())["url"] == url


def test_users_and_tokens_are_managed_while_serving_and_revocation_is_immediate(served):
    folder, url = served
    added = _csmetrics(folder, "users", "add", "bob", "--role", "editor",
                       CSMETRICS_PASSWORD=PASSWORD)
    assert added.stdout.strip() == "Added bob (editor)."
    users = json.loads(_csmetrics(folder, "users", "list", "--format", "json").stdout)
    assert {"username": "bob", "role": "editor", "disabled": False} in users

    token = _csmetrics(folder, "tokens", "create", "bob").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{url}/api/v1/customers", headers=headers).status_code == 200
    token_id = token.split("_")[1]
    assert _csmetrics(folder, "tokens", "revoke", token_id).stdout.strip() == \
        f"Revoked {token_id}."
    refused = httpx.get(f"{url}/api/v1/customers", headers=headers)
    assert refused.status_code == 401


def test_ingest_reads_paths_from_the_callers_folder_and_refresh_runs(served, tmp_path):
    folder, url = served
    token = _csmetrics(folder, "tokens", "create", "ann").stdout.strip()

    def found() -> list[str]:
        api = httpx.get(f"{url}/api/v1/customers", params={"q": "LATE1"},
                        headers={"Authorization": f"Bearer {token}"}).json()
        return [c["customer_id"] for c in api["items"]]

    assert found() == []  # the server now keeps the customer list it computed
    write_csv(tmp_path / "late.csv", ["customer_id", "name", "started_at"],
              [["LATE1", "Latecomer Ltd", "2026-06-01"]])
    loaded = _csmetrics(folder, "ingest", "customers", "late.csv", cwd=tmp_path)
    assert "1 inserted" in loaded.stdout
    ledger = json.loads(_csmetrics(folder, "batches", "--format", "json").stdout)
    assert ledger[0]["files"] == "late.csv" and ledger[0]["inserted"] == 1
    assert found() == ["LATE1"]  # the load through the server dropped what it kept

    refreshed = _csmetrics(folder, "refresh")
    assert "Refreshed" in refreshed.stdout
    assert found() == ["LATE1"]


def test_errors_keep_their_message_and_exit_code(served, tmp_path):
    folder, _ = served
    missing = _csmetrics(folder, "ingest", "customers", "nowhere.csv", cwd=tmp_path,
                         check=False)
    assert missing.returncode == 2
    assert "nowhere.csv: no such file" in missing.stderr
    unknown = _csmetrics(folder, "metrics", "show", "no_such_metric", check=False)
    assert unknown.returncode == 2 and "no_such_metric" in unknown.stderr
    again = _csmetrics(folder, "serve", check=False)
    assert again.returncode == 2 and "served already" in again.stderr
    demo = _csmetrics(folder, "demo", "--end", DEMO_END, "--force", check=False)
    assert demo.returncode == 2 and "stop that server" in demo.stderr
    assert (folder / "csmetrics.toml").is_file()


def test_reads_finish_while_a_refresh_holds_the_writer(served):
    """Ordering, not durations: requests and a CLI read that start after a full refresh has
    begun all finish before it ends (one lock for everything would hold them until then)."""
    folder, url = served
    token = _csmetrics(folder, "tokens", "create", "ann").stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    refresh = subprocess.Popen(
        [sys.executable, "-m", "csmetrics", "refresh", "--full", "-w", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        # the server streams the refresh's steps: wait until the metrics pass has begun
        for line in refresh.stderr:
            if "full refresh" in line:
                break
        else:
            pytest.fail(f"the refresh ended without starting its metrics pass: "
                        f"{refresh.stdout.read()}")
        finished_during_refresh = []
        for path in ("/api/v1/health", "/api/v1/customers", "/api/v1/metrics/mrr"):
            response = httpx.get(f"{url}{path}", headers=headers, timeout=120)
            assert response.status_code == 200, response.text
            finished_during_refresh.append(refresh.poll() is None)
        shown = _csmetrics(folder, "metrics", "show", "mrr", "--format", "json")
        finished_during_refresh.append(refresh.poll() is None)
        assert json.loads(shown.stdout)
        assert all(finished_during_refresh), finished_during_refresh
    finally:
        out, err = refresh.communicate(timeout=600)
    assert refresh.returncode == 0, err
    assert "Refreshed" in out


def test_a_stale_server_file_is_removed_and_the_command_runs_here(tmp_path):
    folder = tmp_path / "ws"
    run_cli("init", str(folder))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (folder / SERVER_FILE.parent).mkdir()
    (folder / SERVER_FILE).write_text(json.dumps(
        {"url": "http://127.0.0.1:9", "pid": gone.pid, "secret": "x"}))
    status = run_cli("status", "-w", str(folder))
    assert "customers" in status.stdout
    assert not (folder / SERVER_FILE).exists()


def test_the_command_channel_refuses_a_caller_without_the_secret(served):
    folder, url = served
    body = {"argv": ["users", "list", "-w", str(folder)], "folder": str(folder)}
    assert httpx.post(f"{url}/api/v1/_cli", json=body).status_code == 403
    assert httpx.post(f"{url}/api/v1/_cli", json=body,
                      headers={"X-CSMetrics-Secret": "guess"}).status_code == 403
    schema = httpx.get(f"{url}/api/v1/openapi.json").json()
    assert "/api/v1/_cli" not in schema["paths"]
