"""Tasks and rules over the real API (uvicorn on loopback): run rules, list and work tasks,
edit the rules file; viewers work tasks, only editors change or run rules."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.alerts.company import RULES, D, load_company
from tests.serving import served


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("tasks-api")
    ws = Workspace.init(folder / "ws")
    load_company(ws)
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("ann", "viewer-password-1", "viewer")
    accounts.add_user("ed", "editor-password-1", "editor")
    tokens = {"viewer": accounts.create_token("ann", "tests"),
              "editor": accounts.create_token("ed", "tests")}
    with served(ws) as url:
        yield f"{url}/api/v1", tokens
    ws.close()


@pytest.fixture
def clients(api):
    base, tokens = api
    pair = [httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens[role]}"},
                         timeout=120) for role in ("editor", "viewer")]
    yield pair
    for c in pair:
        c.close()


def test_rules_run_and_tasks_flow(clients):
    editor, viewer = clients
    assert viewer.post("/rules/run", params={"as_of": D.isoformat()}).status_code == 403
    dry = editor.post("/rules/run", params={"as_of": D.isoformat(), "dry_run": True}).json()
    assert dry["created"] == [] and len(dry["firings"]) == 8
    run = editor.post("/rules/run", params={"as_of": D.isoformat()}).json()
    assert len(run["created"]) == 8
    again = editor.post("/rules/run", params={"as_of": D.isoformat()}).json()
    assert again["created"] == [] and again["suppressed"] == 8

    rules = viewer.get("/rules").json()
    assert {r["name"] for r in rules} >= {"usage-drop", "detractor", "renewal"}

    mine = viewer.get("/tasks", params={"mine": True}).json()  # ann is Ann in the team
    assert {t["assignee"] for t in mine} == {"Ann"} and len(mine) == 4
    usage = next(t for t in mine if t["rule"] == "usage-drop")
    detail = viewer.get(f"/tasks/{usage['task_id']}").json()
    assert detail["figures"]["before"] == 40 and len(detail["steps"]) == 2

    step = viewer.post(f"/tasks/{usage['task_id']}/done", json={"step": 1}).json()
    assert step["status"] == "open" and step["steps"][0]["done_by"] == "ann"
    viewer.post(f"/tasks/{usage['task_id']}/comments", json={"text": "Called them"})
    moved = viewer.post(f"/tasks/{usage['task_id']}/assign", json={"assignee": "Bob"}).json()
    assert moved["assignee"] == "Bob"
    done = viewer.post(f"/tasks/{usage['task_id']}/done", json={}).json()
    assert done["status"] == "done"
    assert [h["kind"] for h in done["history"]][-4:] == ["step_done", "comment", "assigned",
                                                         "done"]
    bob = viewer.get("/tasks", params={"assignee": "Bob", "status": "all"}).json()
    assert usage["task_id"] in {t["task_id"] for t in bob}

    sheet = viewer.get("/tasks", params={"status": "all", "format": "xlsx"})
    assert sheet.status_code == 200 and "attachment" in sheet.headers["content-disposition"]
    assert len(pd.read_excel(io.BytesIO(sheet.content))) == 8


def test_bad_requests_are_refused_with_reasons(api, clients):
    viewer = clients[1]
    missing = viewer.get("/tasks/9999")
    assert missing.status_code == 404 and "no task 9999" in missing.text
    assert viewer.get("/tasks", params={"status": "late"}).status_code == 422
    assert viewer.post("/tasks/1/comments", json={"text": ""}).status_code == 422
    assert httpx.get(f"{api[0]}/tasks").status_code == 401


def test_rules_file_is_edited_by_editors_only_and_checked(clients):
    editor, viewer = clients
    assert viewer.get("/rules/file").status_code == 403
    assert viewer.put("/rules/file", json={"text": RULES}).status_code == 403
    text = editor.get("/rules/file").json()["text"]
    assert text == RULES
    bad = editor.put("/rules/file", json={"text": text.replace('playbook = "save"\n',
                                                               'playbook = "sav"\n', 1)})
    assert bad.status_code == 400 and "names playbook 'sav'" in bad.text
    assert editor.get("/rules/file").json()["text"] == RULES  # the old file stays
    fewer = text.replace('name = "employee"', 'name = "employee"\nenabled = false')
    saved = editor.put("/rules/file", json={"text": fewer}).json()
    assert next(r for r in saved if r["name"] == "employee")["enabled"] is False
