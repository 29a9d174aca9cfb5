"""``--out FILE`` and ``csmetrics customers list``, run as a user runs them; files read back.

One test runs the installed command in a subprocess; the others call the same Typer app in
process (``CliRunner``), which keeps them fast.

The company is three customers typed out below, so every figure is known by hand:
C1 pays 100 a month from 5 January 2024, C2 1,200 a year (100 a month) from 1 February, C3 30 a
month from 1 March. MRR: January 100, February 200, March 230.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from csmetrics import Workspace
from csmetrics.cli import app
from tests.conftest import run_cli as run_subprocess
from tests.conftest import write_csv


class Ran:
    """What a command printed and how it ended."""

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_cli(*args: str, check: bool = True) -> Ran:
    """``csmetrics ARGS`` in process; fails the test on a non-zero exit unless check=False."""
    result = CliRunner().invoke(app, list(args))
    if check and result.exit_code != 0:
        raise AssertionError(f"csmetrics {' '.join(args)} exited {result.exit_code}\n"
                             f"{result.stdout}\n{result.stderr}")
    return Ran(result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exports")
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
    with Workspace.init(folder / "ws") as ws:
        ws.ingest("customers", [customers])
        ws.ingest("subscriptions", [subscriptions])
    return folder / "ws"


def test_customers_list_to_excel_keeps_values_types_and_order(tiny, tmp_path):
    out = tmp_path / "customers.xlsx"
    result = run_subprocess("customers", "list", "--out", str(out), "-w", str(tiny))
    assert result.stdout.strip() == f"Wrote 3 rows to {out}"
    back = pd.read_excel(out, sheet_name="customers")
    assert list(back.columns) == ["customer_id", "name", "started_at", "plan", "region",
                                  "owner", "size_tier", "mrr", "arr", "score", "coverage",
                                  "band", "change"]
    # sorted by MRR, largest first; the tie (100 and 100) by customer_id
    assert back["customer_id"].tolist() == ["C1", "C2", "C3"]
    assert back["mrr"].tolist() == [100.0, 100.0, 30.0]
    assert back["started_at"].tolist() == [datetime(2024, 1, 5), datetime(2024, 2, 1),
                                           datetime(2024, 3, 1)]
    assert back["name"][1] == "Beta, Inc."
    assert back["size_tier"].isna().all()  # not in the file: empty cells


def test_customers_list_filters_and_its_export_holds_the_printed_rows(tiny, tmp_path):
    # (the API's filters are checked against the same kind of company in
    # tests/api/test_exports.py; this test checks the command by hand-known answers)
    ws = ["-w", str(tiny)]
    printed = json.loads(run_cli("customers", "list", "--owner", "Ann", "--sort", "name",
                                 "--format", "json", *ws).stdout)
    assert [r["customer_id"] for r in printed] == ["C1", "C3"]
    out = tmp_path / "ann.csv"
    run_cli("customers", "list", "--owner", "Ann", "--sort", "name", "--out", str(out), *ws)
    exported = pd.read_csv(out)
    assert exported["customer_id"].tolist() == ["C1", "C3"]
    assert exported["mrr"].tolist() == [r["mrr"] for r in printed]
    found = json.loads(run_cli("customers", "list", "--search", "beta", "--format", "json",
                               *ws).stdout)
    assert [r["customer_id"] for r in found] == ["C2"]
    basic = json.loads(run_cli("customers", "list", "--plan", "basic", "--sort", "mrr",
                               "--format", "json", *ws).stdout)
    assert [r["customer_id"] for r in basic] == ["C3", "C2"]
    none = run_cli("customers", "list", "--band", "red", "--out", str(tmp_path / "red.parquet"),
                   *ws)
    assert none.stdout.strip() == f"Wrote 0 rows to {tmp_path / 'red.parquet'}"
    assert len(pd.read_parquet(tmp_path / "red.parquet")) == 0


def test_metrics_show_to_parquet_has_hand_computed_mrr_with_dates_as_dates(tiny, tmp_path):
    out = tmp_path / "mrr.parquet"
    result = run_cli("metrics", "show", "mrr", "--from", "2024-01-01", "--to", "2024-03-31",
                     "--out", str(out), "-w", str(tiny))
    assert result.stdout.strip() == f"Wrote 3 rows to {out}"
    assert pq.read_schema(out).field("period_start").type == pa.date32()
    back = pd.read_parquet(out)
    assert back["value"].tolist() == [100.0, 200.0, 230.0]
    assert back["n"].tolist() == [1, 2, 3]
    assert [str(d) for d in back["period_start"]] == ["2024-01-01", "2024-02-01", "2024-03-01"]


def test_metrics_cohorts_and_health_list_to_files(tiny, tmp_path):
    ws = ["-w", str(tiny)]
    run_cli("metrics", "cohorts", "--out", str(tmp_path / "cohorts.csv"), *ws)
    cohorts = pd.read_csv(tmp_path / "cohorts.csv")
    # one customer started in each of January, February, March and none has left
    assert cohorts.columns.tolist() == ["cohort", "customers", "0", "1", "2"]
    assert cohorts["cohort"].tolist() == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert cohorts["customers"].tolist() == [1, 1, 1]
    assert cohorts["2"].tolist()[0] == 1.0 and cohorts["2"].isna().tolist() == [False, True, True]

    run_cli("health", "list", "--out", str(tmp_path / "health.xlsx"), *ws)
    printed = json.loads(run_cli("health", "list", "--format", "json", *ws).stdout)
    health = pd.read_excel(tmp_path / "health.xlsx")
    assert health["customer_id"].tolist() == [r["customer_id"] for r in printed]
    assert health["band"].tolist() == [r["band"] for r in printed]
    assert health["mrr"].tolist() == [100.0, 100.0, 30.0]

    run_cli("health", "list", "--by", "owner", "--out", str(tmp_path / "owners.csv"), *ws)
    owners = pd.read_csv(tmp_path / "owners.csv")
    assert owners["owner"].tolist() == ["Ann", "Bob"]
    assert owners["accounts"].tolist() == [2, 1] and owners["mrr"].tolist() == [130.0, 100.0]


def test_unknown_extension_is_refused_before_any_work_and_writes_nothing(tiny, tmp_path):
    result = run_cli("metrics", "show", "mrr", "--out", str(tmp_path / "mrr.xls"),
                     "-w", str(tiny), check=False)
    assert result.returncode == 2
    assert "'.xls'" in result.stderr and ".xlsx" in result.stderr
    assert list(tmp_path.iterdir()) == []
    bad_sort = run_cli("customers", "list", "--sort", "revenue", "-w", str(tiny), check=False)
    assert bad_sort.returncode == 2 and "cannot sort customers by 'revenue'" in bad_sort.stderr
