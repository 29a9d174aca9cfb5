"""``?format=csv|parquet|xlsx`` on the list routes, against a real server; bytes read back.

The company is three customers typed out below: C1 pays 100 a month from 5 January 2024,
C2 1,200 a year (100 a month) from 1 February, C3 30 a month from 1 March (MRR: January 100,
February 200, March 230).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csmetrics import Workspace
from csmetrics.store.accounts import Accounts
from tests.conftest import write_csv
from tests.serving import served

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The three-customer company served on loopback; a client with a viewer's token."""
    folder = tmp_path_factory.mktemp("api-exports")
    customers = write_csv(folder / "customers.csv",
                          ["customer_id", "name", "started_at", "plan", "region", "owner"],
                          [["C1", "Acme", "2024-01-05", "pro", "NA", "Ann"],
                           ["C2", "Beta, Inc.", "2024-02-01", "basic", "EMEA", "Bob"],
                           ["C3", "Gamma", "2024-03-01", "basic", "APAC", "Ann"]])
    subscriptions = write_csv(
        folder / "subscriptions.csv",
        ["subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date"],
        [["S1", "C1", "pro", "100", "month", "2024-01-05"],
         ["S2", "C2", "basic", "1200", "year", "2024-02-01"],
         ["S3", "C3", "basic", "30", "month", "2024-03-01"]])
    ws = Workspace.init(folder / "ws", name="Export Co")
    ws.ingest("customers", [customers])
    ws.ingest("subscriptions", [subscriptions])
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("vera", "viewer-password-1", "viewer")
    token = accounts.create_token("vera", "tests")
    with served(ws) as url, httpx.Client(base_url=f"{url}/api/v1", timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as client:
        yield client
    ws.close()


def attachment(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    return disposition.split("filename=")[1].strip('"')


def test_one_metric_as_excel_and_parquet(api):
    params = {"start": "2024-01-01", "end": "2024-03-31"}
    excel = api.get("/metrics/mrr", params={**params, "format": "xlsx"})
    assert attachment(excel) == "mrr-by-month.xlsx"
    assert excel.headers["content-type"] == XLSX
    back = pd.read_excel(io.BytesIO(excel.content))
    assert back["value"].tolist() == [100.0, 200.0, 230.0]
    assert back["period_start"].tolist() == [pd.Timestamp("2024-01-01"),
                                             pd.Timestamp("2024-02-01"),
                                             pd.Timestamp("2024-03-01")]
    parquet = api.get("/metrics/mrr", params={**params, "format": "parquet"})
    assert attachment(parquet) == "mrr-by-month.parquet"
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    assert pq.read_schema(io.BytesIO(parquet.content)).field("period_start").type == pa.date32()
    frame = pd.read_parquet(io.BytesIO(parquet.content))
    assert frame["period_start"].tolist() == [date(2024, 1, 1), date(2024, 2, 1),
                                              date(2024, 3, 1)]
    # the JSON answer (the default) is unchanged and holds the same figures
    rows = api.get("/metrics/mrr", params=params).json()["rows"]
    assert [r["value"] for r in rows] == frame["value"].tolist()


def test_metric_query_body_as_csv(api):
    body = {"metrics": ["mrr"], "period": "month", "start": "2024-02-01", "end": "2024-03-31",
            "by": ["plan"]}
    response = api.post("/metrics/query", params={"format": "csv"}, json=body)
    assert attachment(response) == "mrr-by-month.csv"
    assert response.headers["content-type"].startswith("text/csv")
    back = pd.read_csv(io.BytesIO(response.content))
    march = back[back["period_start"] == "2024-03-01"].set_index("plan")["value"]
    assert march.to_dict() == {"basic": 130.0, "pro": 100.0}  # C2 100 + C3 30; C1 100


def test_customers_export_has_every_matching_customer_not_one_page(api):
    response = api.get("/customers", params={"format": "csv", "page_size": 1, "sort": "mrr"})
    assert attachment(response) == "customers.csv"
    back = pd.read_csv(io.BytesIO(response.content))
    assert back["customer_id"].tolist() == ["C3", "C1", "C2"]  # 30, then the 100s by id
    assert back["mrr"].tolist() == [30.0, 100.0, 100.0]
    excel = api.get("/customers", params={"format": "xlsx", "owner": "Ann", "q": "gam"})
    assert pd.read_excel(io.BytesIO(excel.content))["name"].tolist() == ["Gamma"]


def test_health_export_matches_the_json(api):
    listed = api.get("/health").json()
    response = api.get("/health", params={"format": "parquet"})
    assert attachment(response) == f"health-{listed['as_of']}.parquet"
    back = pd.read_parquet(io.BytesIO(response.content))
    assert back["customer_id"].tolist() == [r["customer_id"] for r in listed["rows"]]
    assert back["band"].tolist() == [r["band"] for r in listed["rows"]]
    assert back["mrr"].tolist() == [r["mrr"] for r in listed["rows"]]
    assert {str(v) for v in back["as_of"]} == {listed["as_of"]}


def test_bad_format_is_a_422_naming_the_accepted_values(api):
    response = api.get("/customers", params={"format": "xls"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "format"
    for accepted in ("json", "csv", "parquet", "xlsx"):
        assert accepted in error["message"]


def test_openapi_documents_the_format_parameter_and_file_types(api):
    spec = api.get("/openapi.json").json()
    for path, method in (("/api/v1/metrics/{name}", "get"), ("/api/v1/metrics/query", "post"),
                         ("/api/v1/customers", "get"), ("/api/v1/health", "get")):
        operation = spec["paths"][path][method]
        (param,) = [p for p in operation["parameters"] if p["name"] == "format"]
        assert "csv, parquet or xlsx" in param["description"]
        assert set(operation["responses"]["200"]["content"]) >= {
            "application/json", "text/csv", "application/vnd.apache.parquet", XLSX}
