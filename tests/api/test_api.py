"""The JSON API, served by a real uvicorn server on loopback and called over HTTP."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.encoders import jsonable_encoder

from csmetrics import Workspace
from csmetrics.demo import write_company
from csmetrics.store.accounts import Accounts, hash_password, verify_password
from tests.conftest import DEMO_END_DAY
from tests.serving import served

SERVED: dict[str, Workspace] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A demo workspace served on loopback, with a viewer's and an editor's token."""
    folder = tmp_path_factory.mktemp("api")
    ws = Workspace.init(folder / "ws", name="API Co")
    for table, paths in write_company(folder / "files", customers=60, months=8, seed=5,
                                      end=DEMO_END_DAY).items():
        ws.ingest(table, paths)
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("vera", "viewer-password-1", "viewer")
    accounts.add_user("ed", "editor-password-1", "editor")
    tokens = {"viewer": accounts.create_token("vera", "tests"),
              "editor": accounts.create_token("ed", "tests")}
    SERVED["workspace"] = ws
    with served(ws) as url:
        yield f"{url}/api/v1", tokens
    ws.close()


def client(server: tuple[str, dict[str, str]], role: str | None) -> httpx.Client:
    base, tokens = server
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    return httpx.Client(base_url=base, headers=headers, timeout=120)


def test_liveness_needs_no_token_and_everything_else_does(server):
    with client(server, None) as anonymous:
        assert anonymous.get("/live").json()["status"] == "ok"
        refused = anonymous.get("/metrics")
        assert refused.status_code == 401
        assert "API token is required" in refused.json()["error"]["message"]
        forged = anonymous.get("/metrics", headers={"Authorization": "Bearer csm_x_y"})
        assert forged.status_code == 401


def test_catalogue_and_metric_queries(server):
    with client(server, "viewer") as api:
        catalogue = api.get("/metrics").json()
        assert {"mrr", "nrr", "nps"} <= {m["name"] for m in catalogue}
        rows = api.get("/metrics/mrr", params={"by": "plan", "period": "quarter"}).json()["rows"]
        assert rows and all(set(r["segment"]) == {"plan"} for r in rows)
        body = {"metrics": ["nps", "customer_churn_rate"], "period": "month",
                "where": {"region": "EMEA"}}
        queried = api.post("/metrics/query", json=body).json()["rows"]
        assert {r["metric"] for r in queried} == {"nps", "customer_churn_rate"}
        nps = [r for r in queried if r["metric"] == "nps" and r["value"] is not None]
        assert all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in nps)
        churn = [r for r in queried if r["metric"] == "customer_churn_rate"]
        assert all("annualised" in r["details"] or r["value"] is None for r in churn)


def _number(value: Any) -> float | None:
    """A value as a float, with the frame's NaN and the API's null both as None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def _segment(value: Any) -> str | None:
    """A segment value as the API names it: text, or None (the API leaves it out)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def test_api_and_python_give_the_same_numbers(server):
    """Row by row, the API's rows are the Python API's frame: same metric, period and
    segment, and the same value, n and confidence bounds (null where the frame has NaN)."""
    with client(server, "viewer") as api:
        one = api.get("/metrics/mrr", params={"period": "month", "by": "plan"}).json()["rows"]
        several = api.post("/metrics/query", json={
            "metrics": ["mrr", "nrr", "nps"], "period": "month", "by": ["region"]}).json()["rows"]
    ws = SERVED["workspace"]
    for rows, metrics, by in ((one, ["mrr"], "plan"), (several, ["mrr", "nrr", "nps"], "region")):
        frame = ws.query(metrics, period="month", by=by)
        assert len(rows) == len(frame) > 0
        expected = {(r["metric"], str(r["period_start"]), _segment(r[by])):
                    (_number(r["value"]), int(r["n"]), _number(r["ci_low"]), _number(r["ci_high"]))
                    for r in frame.to_dict("records")}
        got = {(r["metric"], r["period_start"], r["segment"].get(by)):
               (_number(r["value"]), int(r["n"]), _number(r["ci_low"]), _number(r["ci_high"]))
               for r in rows}
        assert len(expected) == len(frame) and got.keys() == expected.keys()
        for key, (value, n, low, high) in expected.items():
            g_value, g_n, g_low, g_high = got[key]
            assert g_n == n, key
            assert _same(g_value, value) and _same(g_low, low) and _same(g_high, high), (
                key, got[key], expected[key])
        # the comparison is not vacuous: real numbers, and NPS with confidence bounds
        assert any(v[0] for v in expected.values())
    assert any(key[0] == "nps" and v[2] is not None for key, v in expected.items())


def test_errors_name_the_field(server):
    with client(server, "viewer") as api:
        unknown = api.get("/metrics/mrrr")
        assert unknown.status_code == 404
        assert "Did you mean 'mrr'" in unknown.json()["error"]["message"]
        period = api.get("/metrics/mrr", params={"period": "fortnight"})
        assert period.status_code == 400 and "fortnight" in period.json()["error"]["message"]
        start = api.get("/metrics/mrr", params={"start": "yesterday"})
        assert start.status_code == 422 and start.json()["error"]["field"] == "start"
        empty = api.post("/metrics/query", json={"metrics": []})
        assert empty.status_code == 422 and empty.json()["error"]["field"] == "metrics"


def test_segment_names_are_read_as_the_engine_reads_them(server):
    with client(server, "viewer") as api:
        plain = api.get("/metrics/mrr", params={"by": "plan"}).json()["rows"]
        spaced = api.get("/metrics/mrr", params={"by": " plan ,"}).json()["rows"]
    assert plain and all(set(row["segment"]) == {"plan"} for row in plain)
    assert spaced == plain


def test_customers_list_search_sort_page_and_360(server):
    with client(server, "viewer") as api:
        page = api.get("/customers", params={"sort": "-mrr", "page_size": 5}).json()
        assert page["total"] == 60 and len(page["items"]) == 5
        mrrs = [c["mrr"] for c in page["items"]]
        assert mrrs == sorted(mrrs, reverse=True)
        first = page["items"][0]
        found = api.get("/customers", params={"q": first["customer_id"].lower()}).json()
        assert [c["customer_id"] for c in found["items"]] == [first["customer_id"]]
        view = api.get(f"/customers/{first['customer_id']}").json()
        assert view["profile"]["customer_id"] == first["customer_id"]
        assert view["mrr_history"] and view["counts"]["subscriptions"] >= 1
        assert api.get("/customers/NOPE").status_code == 404


def test_the_360_view_of_every_customer_is_the_one_computed_for_it_alone(server):
    """The server answers from every customer's views gathered at once; a customer's view is
    the one ``Workspace.customer_360`` computes for that customer alone (churned customers,
    whose months are zeros, included)."""
    ws = SERVED["workspace"]
    customers = [c for (c,) in ws.warehouse.sql.execute(
        "SELECT customer_id FROM customers ORDER BY customer_id").fetchall()]
    with client(server, "viewer") as api:
        for customer in customers[::6]:
            answer = api.get(f"/customers/{customer}").json()
            profile, history, counts = ws.customer_360(customer)
            assert answer["profile"] == jsonable_encoder(profile)
            assert answer["mrr_history"] == [{"period_start": str(p), "mrr": m}
                                             for p, m in history]
            assert answer["counts"] == counts


def test_viewers_cannot_load_data_editors_can_all_or_nothing(server):
    csv = b"customer_id,name,started_at\nAPI1,From the API,2024-01-01\n"
    with client(server, "viewer") as viewer:
        denied = viewer.post("/ingest/customers", files={"file": ("c.csv", csv)})
        assert denied.status_code == 403 and "editor role" in denied.json()["error"]["message"]
    with client(server, "editor") as editor:
        loaded = editor.post("/ingest/customers", files={"file": ("c.csv", csv)}).json()
        assert loaded["inserted"] == 1 and loaded["table"] == "customers"
        bad = editor.post("/ingest/customers",
                          files={"file": ("bad.csv", b"customer_id,name,started_at\nX,Y,soon\n")})
        assert bad.status_code == 422
        assert "column 'started_at': got 'soon'" in bad.json()["error"]["message"]
        events = [{"customer_id": "API1", "user_id": "u1", "occurred_at": "2024-02-01T10:00:00Z",
                   "event": "login"}]
        pushed = editor.post("/events", json=events).json()
        assert pushed["inserted"] == 1
        again = editor.post("/events", json=events).json()
        assert again["unchanged"] == 1
        orphan = editor.post("/survey-responses", json=[{
            "response_id": "R-API", "customer_id": "NOBODY", "survey": "nps", "score": 9,
            "responded_at": "2024-02-01"}])
        assert orphan.status_code == 422 and "NOBODY" in orphan.json()["error"]["message"]


def test_openapi_documents_every_route(server):
    with client(server, None) as anonymous:
        spec = anonymous.get("/openapi.json").json()
    for path in ("/api/v1/metrics", "/api/v1/metrics/{name}", "/api/v1/metrics/query",
                 "/api/v1/customers", "/api/v1/customers/{customer_id}",
                 "/api/v1/ingest/{table}", "/api/v1/events", "/api/v1/refresh"):
        assert path in spec["paths"], path


def test_passwords_are_hashed_with_a_salted_kdf_and_tokens_stored_hashed(tmp_path: Path):
    stored = hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert stored != hash_password("correct horse battery")   # salted
    assert verify_password("correct horse battery", stored)
    assert not verify_password("wrong horse battery", stored)
    with Workspace.init(tmp_path / "w") as ws:
        accounts = Accounts(ws.warehouse.sql)
        accounts.add_user("ann", "a-long-password", "admin")
        token = accounts.create_token("ann", "ci")
        raw = ws.warehouse.sql.execute("SELECT token_hash FROM _api_tokens").fetchall()
        assert token.split("_", 2)[2] not in str(raw)
        assert accounts.user_for_token(token).username == "ann"
        accounts.revoke_token(accounts.tokens()[0].token_id)
        assert accounts.user_for_token(token) is None
        second = accounts.create_token("ann", "ci2")
        accounts.set_disabled("ann", True)
        assert accounts.user_for_token(second) is None
        assert accounts.authenticate("ann", "a-long-password") is None
        with pytest.raises(ValueError, match="at least 10"):
            accounts.add_user("bob", "short", "viewer")
        with pytest.raises(ValueError, match="not one of"):
            accounts.add_user("bob", "long-enough-pass", "owner")


def test_health_and_its_explanation(server):
    with client(server, "viewer") as api:
        listed = api.get("/health").json()
        assert listed["rows"] and {r["band"] for r in listed["rows"]} <= {
            "red", "yellow", "green", "insufficient", "unknown"}
        # "insufficient" exactly when under half of the scorecard's weight has data
        assert all((r["band"] == "insufficient") == (r["coverage"] < 0.5)
                   for r in listed["rows"])
        red = api.get("/health", params={"band": "red"}).json()["rows"]
        assert all(r["band"] == "red" for r in red)
        first = listed["rows"][0]["customer_id"]
        explained = api.get(f"/health/{first}").json()
        assert explained["customer_id"] == first and explained["components"]
        lost = [c["lost"] for c in explained["components"] if c["lost"] is not None]
        assert lost == sorted(lost, reverse=True)
        view = api.get(f"/customers/{first}").json()
        assert view["health_band"] == listed["rows"][0]["band"]


def test_predictions_say_what_to_run_first(server):
    with client(server, "viewer") as api:
        churn = api.get("/predictions/churn")
        assert churn.status_code == 404
        assert "csmetrics predict churn train" in churn.json()["error"]["message"]
        assert api.get("/predictions/clv").status_code == 404
