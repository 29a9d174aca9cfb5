"""Two servers sharing one PostgreSQL app store (``[app] url``): each serves the signed-in
dashboard, and each sees the users, sessions and tasks the other wrote."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from csmetrics import Workspace
from csmetrics.alerts.rulebook import default_alerts
from csmetrics.alerts.rules import Firing
from csmetrics.store.accounts import Accounts
from tests.conftest import run_cli
from tests.pg import app_workspace, new_database
from tests.serving import served, sign_in

ADA_PASSWORD = "ada-password-1"


@pytest.fixture
def two_servers(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Workspace, Workspace]]:
    """Two workspaces (two machines' folders, each with its own warehouse) whose app state is
    in the same PostgreSQL database."""
    url = new_database(postgres_url)
    with app_workspace(tmp_path / "one", url) as one, app_workspace(tmp_path / "two", url) as two:
        yield one, two


def test_each_server_sees_the_others_users_and_tasks(two_servers):
    one, two = two_servers
    Accounts(one.app).add_user("ada", ADA_PASSWORD, "admin")
    assert Accounts(two.app).user("ada").role == "admin"
    opened = two.tasks.apply(
        [Firing("turned-red", "red:C1", "Acme", "health fell into the red band", "C1", "Ann")],
        default_alerts(), two.today(), ["turned-red"], today=two.today())
    [task] = opened.created
    assert one.tasks.get(task.task_id).subject == "Acme"
    one.tasks.done(task.task_id, "ada")
    assert two.tasks.get(task.task_id).status == "done"
    # ids come from one sequence: the next task on either server gets the next number
    again = one.tasks.apply(
        [Firing("turned-red", "red:C2", "Beta", "health fell into the red band", "C2")],
        default_alerts(), one.today(), ["turned-red"], today=one.today())
    assert [t.task_id for t in again.created] == [task.task_id + 1]


def test_a_session_started_on_one_server_is_served_by_the_other(two_servers):
    one, two = two_servers
    Accounts(one.app).add_user("ada", ADA_PASSWORD, "admin")
    two.tasks.apply(
        [Firing("turned-red", "red:C1", "Acme", "health fell into the red band", "C1", "ada")],
        default_alerts(), two.today(), ["turned-red"], today=two.today())
    # cookies are Secure (even on loopback), which httpx keeps for https: carry them by hand
    with served(one) as first, served(two) as second, \
            httpx.Client(timeout=120, follow_redirects=False) as client:
        cookie = sign_in(client, first, "ada", ADA_PASSWORD)
        for base in (first, second):
            page = client.get(f"{base}/tasks?view=team",
                              headers={"Cookie": f"csmetrics_session={cookie}"})
            assert page.status_code == 200, page.text
            assert "Save an at-risk account" in page.text and "Acme" in page.text
        assert client.get(f"{second}/tasks").status_code == 303  # no cookie: sign in first


def test_two_servers_evaluating_at_once_open_one_task(two_servers):
    one, two = two_servers
    firing = Firing("turned-red", "red:C1", "Acme", "health fell into the red band", "C1")
    start = threading.Barrier(2)
    created: list[int] = []

    def evaluate(ws: Workspace) -> None:
        start.wait()
        outcome = ws.tasks.apply([firing], default_alerts(), ws.today(), ["turned-red"],
                                 today=ws.today())
        created.extend(t.task_id for t in outcome.created)

    threads = [threading.Thread(target=evaluate, args=(ws,)) for ws in (one, two)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(created) == 1
    assert one.tasks.list()["task_id"].tolist() == created


def test_users_and_tokens_made_with_the_cli_on_one_machine_work_on_the_other(tmp_path,
                                                                            postgres_url):
    url = new_database(postgres_url)
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        app_workspace(folder, url).close()
    run_cli("users", "add", "ada", "--role", "editor", "-w", str(one),
            env={**os.environ, "CSMETRICS_PASSWORD": ADA_PASSWORD})
    token = run_cli("tokens", "create", "ada", "--name", "etl", "-w", str(two)).stdout.strip()
    users = json.loads(run_cli("users", "list", "--format", "json", "-w", str(two)).stdout)
    assert {"username": "ada", "role": "editor", "disabled": False} in users
    listed = run_cli("tokens", "list", "-w", str(one)).stdout
    assert "etl" in listed and "ada" in listed and token not in listed
    headers = {"Authorization": f"Bearer {token}"}
    with Workspace.load(one) as ws, served(ws) as base:
        assert httpx.get(f"{base}/api/v1/customers", headers=headers).status_code == 200
        run_cli("users", "disable", "ada", "-w", str(two))  # on the other machine
        assert httpx.get(f"{base}/api/v1/customers", headers=headers).status_code == 401
