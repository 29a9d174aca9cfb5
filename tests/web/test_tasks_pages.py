"""Tasks and rules in the dashboard, in a real headless browser: my tasks, team tasks, a task
worked through its steps, a comment and a reassignment, the account's tasks on its page, and
the rules editor (editors save and run; a bad file is refused; viewers only read)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.alerts.company import D, load_company
from tests.serving import served
from tests.web.test_dashboard import browser, new_page, shot, sign_in  # noqa: F401

ANN_PASSWORD = "ann-password-1"
ED_PASSWORD = "ed-password-123"
SERVED: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("tasks-web")
    ws = Workspace.init(folder / "ws", name="Task Co")
    load_company(ws)
    Accounts(ws.warehouse.sql).add_user("ann", ANN_PASSWORD, "viewer")
    Accounts(ws.warehouse.sql).add_user("ed", ED_PASSWORD, "editor")
    ws.evaluate_rules(D)
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield url
    ws.close()


def test_my_tasks_then_work_one_through(browser, base_url):  # noqa: F811
    page = new_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in(page, base_url, ANN_PASSWORD, "ann")
    page.goto(base_url + "/tasks")
    rows = page.locator("#tasks tbody tr")
    assert rows.count() == 4  # Ann's: usage drop, turned red, detractor, reopened ticket
    assert set(page.locator("#tasks tbody td:nth-child(6)").all_inner_texts()) == {"Ann"}
    shot(page, "tasks-mine")
    page.click("a[data-view=team]")
    assert page.locator("#tasks tbody tr").count() == 8
    page.select_option("select[name=assignee]", "Head of CS")
    page.click("form.filters button[type=submit]")
    assert page.locator("#tasks tbody tr").count() == 3

    page.goto(base_url + "/tasks?view=mine")
    page.click("#tasks a:has-text('Save the account') >> nth=0")
    assert "Save the account" in page.locator("h1").inner_text()
    page.click("button[data-step='1']")
    assert page.locator("ol.steps li.done").count() == 1
    page.fill("textarea[name=text]", "Booked a call with their admin")
    page.click("#comment")
    page.fill("input[name=assignee]", "Bob")
    page.click("#assign")
    assert page.locator("#assignee").inner_text() == "Bob"
    page.click("#close-task")
    assert page.locator(".status").first.inner_text() == "done"
    history = page.locator("#history tbody").inner_text()
    for expected in ("step done", "Booked a call with their admin", "Ann -> Bob", "done"):
        assert expected in history
    shot(page, "task")
    task_id = int(page.url.split("/tasks/")[1].split("?")[0])
    task = SERVED["workspace"].tasks.get(task_id)
    assert task.status == "done" and task.assignee == "Bob"
    assert [h["actor"] for h in task.history][-1] == "ann"

    page.goto(base_url + "/customers/A")
    # the customer page lists the open tasks: the one just closed has left it
    listed = page.locator("#account-tasks").inner_text()
    assert listed.count("#") == 3 and f"#{task_id} " not in listed
    assert not errors


def test_a_forged_form_is_refused(browser, base_url):  # noqa: F811
    page = new_page(browser)
    sign_in(page, base_url, ANN_PASSWORD, "ann")
    response = page.request.post(base_url + "/tasks/1/comment",
                                 form={"csrf": "forged", "text": "hello"})
    assert response.status == 403


def test_rules_editor(browser, base_url):  # noqa: F811
    viewer = new_page(browser)
    sign_in(viewer, base_url, ANN_PASSWORD, "ann")
    viewer.goto(base_url + "/rules")
    assert viewer.locator("#rules tbody tr").count() == 8
    assert viewer.locator("textarea").count() == 0
    refused = viewer.request.post(base_url + "/rules", form={"csrf": "x", "text": "x = 1"})
    assert refused.status == 403

    page = new_page(browser)
    sign_in(page, base_url, ED_PASSWORD, "ed")
    page.goto(base_url + "/rules")
    original = page.locator("textarea[name=text]").input_value()
    page.fill("textarea[name=text]", original.replace('playbook = "save"', 'playbook = "sav"', 1))
    page.click("#save-rules")
    assert "names playbook 'sav'" in page.locator(".error").inner_text()
    ws = SERVED["workspace"]
    assert ws.alerts_text() == original  # refused: the old file stays
    page.goto(base_url + "/rules?check=1")
    assert page.locator("#firings tbody tr").count() >= 1
    shot(page, "rules")
    page.fill("textarea[name=text]", original.replace('name = "employee"',
                                                      'name = "employee"\nenabled = false'))
    page.click("#save-run")
    assert "Saved 8 rules" in page.locator(".ok").inner_text()
    assert "0 new task(s)" in page.locator(".ok").inner_text()
    assert not next(r for r in ws.alerts().rules if r.name == "employee").enabled
