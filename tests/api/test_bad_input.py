"""Bad input to the API is a 4xx naming the field, never a 500: dates outside the supported
range, huge numbers, empty strings and unknown values, uploads with no plain file name; and a
file with only some columns keeps the others (unless replace_columns says otherwise)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts
from tests.conftest import DEMO_END_DAY
from tests.serving import served

SERVED: dict[str, Workspace] = {}
RANGE = "is outside the supported range 1900-01-01..2100-12-31."


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A small demo company served on loopback; a client with an editor's token."""
    folder = tmp_path_factory.mktemp("api-bad-input")
    ws = Workspace.init(folder / "ws", name="Bad Input Co")
    for table, paths in write_company(folder / "files", customers=20, months=6, seed=11,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("ed", "editor-password-1", "editor")
    token = accounts.create_token("ed", "tests")
    SERVED["workspace"] = ws
    with served(ws) as url, httpx.Client(
            base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"},
            timeout=120) as client:
        yield client
    ws.close()


def first_customer() -> str:
    row = SERVED["workspace"].warehouse.sql.execute(
        "SELECT min(customer_id) FROM customers").fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize(("method", "path", "field", "day"), [
    ("GET", "/metrics/mrr", "start", "0001-01-01"),
    ("GET", "/metrics/mrr", "end", "9999-12-31"),
    ("GET", "/metrics/mrr", "as_of", "1899-12-31"),
    ("GET", "/health", "as_of", "0001-01-01"),
    ("GET", "/health/{customer}", "as_of", "2101-01-01"),
    ("POST", "/rules/run", "as_of", "9999-12-31"),
])
def test_dates_outside_the_supported_range_are_a_400_naming_the_field(api, method, path, field,
                                                                       day):
    url = path.format(customer=first_customer())
    response = api.request(method, url, params={field: day, **(
        {"dry_run": "true"} if path == "/rules/run" else {})})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"] == f"{field} {day} {RANGE}"


@pytest.mark.parametrize("field", ["start", "end", "as_of"])
def test_a_query_bodys_dates_are_checked_the_same_way(api, field):
    response = api.post("/metrics/query", json={"metrics": ["mrr"], field: "2250-01-01"})
    assert response.status_code == 400
    assert response.json()["error"] == {"field": field,
                                        "message": f"{field} 2250-01-01 {RANGE}"}


@pytest.mark.parametrize(("metric", "by", "says"), [
    ("mrr", ["plan", "plan"], "--by names 'plan' twice"),
    ("mrr", ["region", "plan", "region"], "--by names 'region' twice"),
    ("mrr", ["period_start"], "--by 'period_start' is a column of every result"),
    ("conversion_rate", ["visitors"], "--by 'visitors' is a number, not a category"),
    ("average_purchase_value", ["amount"], "--by 'amount' is a number, not a category"),
    ("seat_utilisation", ["seats"], "--by 'seats' is a number, not a category"),
    ("first_contact_resolution_rate", ["contacts"], "--by 'contacts' is a number"),
])
def test_a_segment_named_twice_a_result_column_or_a_number_is_a_400(api, metric, by, says):
    # each was a 500 (found fuzzing the API): the segment column clashed with a column the
    # result, or the metric's own arithmetic, needs
    answers = [api.get(f"/metrics/{metric}", params={"by": ",".join(by)}),
               api.post("/metrics/query", json={"metrics": [metric], "by": by})]
    for response in answers:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["field"] == "by"
        assert error["message"].startswith(says)


@pytest.mark.parametrize(("path", "params"), [
    ("/metrics/mrr", {"start": "not-a-date"}),
    ("/metrics/mrr", {"start": ""}),
    ("/metrics/mrr", {"period": "fortnight"}),
    ("/metrics/mrr", {"period": ""}),
    ("/metrics/mrr", {"by": "nonsense"}),
    ("/metrics/mrr", {"where": "nonsense"}),
    ("/metrics/mrr", {"format": "pdf"}),
    ("/customers", {"page": "-1"}),
    ("/customers", {"page_size": str(10**30)}),
    ("/customers", {"sort": "shoe-size"}),
    ("/predictions/churn", {"top": str(10**30)}),
    ("/predictions/churn", {"top": "-1"}),
    ("/tasks", {"status": "late"}),
    ("/tasks/" + str(10**30), {}),
    ("/tasks/-1", {}),
])
def test_malformed_values_are_refused_never_a_500(api, path, params):
    response = api.get(path, params=params)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error"]["message"]


def test_a_huge_page_is_just_empty(api):
    page = api.get("/customers", params={"page": str(10**30)}).json()
    assert page["items"] == [] and page["total"] == 20


@pytest.mark.parametrize("name", ["..", ".", "../customers.csv", "sub/customers.csv",
                                  "..\\customers.csv", " ", ""])
def test_an_upload_without_a_plain_file_name_is_refused(api, name):
    before = len(SERVED["workspace"].batches())
    response = api.post("/ingest/customers", files={
        "file": (name, b"customer_id,name,started_at\nNEW1,New,2024-01-01\n")})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "file"
    if name:  # a part without a file name is no file at all: "send the file as 'file'"
        assert f"{name!r} is not a file name" in error["message"]
    assert len(SERVED["workspace"].batches()) == before


def test_a_partial_upload_keeps_the_stored_columns_unless_replace_columns(api):
    ws = SERVED["workspace"]
    customer = first_customer()
    name, started, plan, region = ws.warehouse.sql.execute(
        "SELECT name, started_at, plan, region FROM customers WHERE customer_id = ?",
        [customer]).fetchone()
    assert plan is not None and region is not None
    subset = f"customer_id,name,started_at\n{customer},{name} (renamed),{started}\n".encode()
    merged = api.post("/ingest/customers", files={"file": ("subset.csv", subset)})
    assert merged.status_code == 200, merged.text
    assert (merged.json()["inserted"], merged.json()["updated"],
            merged.json()["unchanged"]) == (0, 1, 0)
    stored = "SELECT name, plan, region FROM customers WHERE customer_id = ?"
    assert ws.warehouse.sql.execute(stored, [customer]).fetchone() == (
        f"{name} (renamed)", plan, region)
    again = api.post("/ingest/customers", files={"file": ("subset.csv", subset)}).json()
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 1)
    unclear = api.post("/ingest/customers", files={"file": ("subset.csv", subset)},
                       data={"replace_columns": "maybe"})
    assert unclear.status_code == 400
    assert unclear.json()["error"]["field"] == "replace_columns"
    whole = api.post("/ingest/customers", files={"file": ("subset.csv", subset)},
                     data={"replace_columns": "true"}).json()
    assert (whole["inserted"], whole["updated"], whole["unchanged"]) == (0, 1, 0)
    assert ws.warehouse.sql.execute(stored, [customer]).fetchone() == (
        f"{name} (renamed)", None, None)
