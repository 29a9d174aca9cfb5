"""A customer's plan from its subscriptions when the customers file has none (Stripe-style
exports): ``--by plan`` and ``--where plan=...`` group and filter by it, worked by hand.

Customers (no plan): C1, C2, C3. Subscriptions:
  S1  C1  basic  100 a month   from 2026-01-01, open
  S2  C1  pro    300 a month   from 2026-03-01, open     -> C1's plan from March: pro (300 > 100)
  S3  C2  basic   50 a month   from 2026-02-01, open     -> C2: basic
  S4  C3  pro   1200 a year    2026-02-01 to 2026-04-30  -> C3: pro (churned: its last one)
Month-end MRR: Jan C1 100; Feb C1 100, C2 50, C3 100; Mar C1 400, C2 50, C3 100;
Apr-Jun C1 400, C2 50 (C3's service ends on 04-30, the first day without it). A ticket of C2
on 2026-06-30 makes that the end of the data.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from csmetrics import Workspace
from tests.conftest import run_cli, write_csv

SUBSCRIPTIONS = [
    ["S1", "C1", "basic", 100, "month", "2026-01-01", None],
    ["S2", "C1", "pro", 300, "month", "2026-03-01", None],
    ["S3", "C2", "basic", 50, "month", "2026-02-01", None],
    ["S4", "C3", "pro", 1200, "year", "2026-02-01", "2026-04-30"],
]
SUB_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
              "start_date", "end_date"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace whose customers file has no plan column at all, loaded with the CLI (the
    tests only read it)."""
    tmp_path = tmp_path_factory.mktemp("stripe-style")
    root = tmp_path / "ws"
    run_cli("init", str(root), "--name", "Stripe Co")
    customers = write_csv(tmp_path / "customers.csv", ["customer_id", "name", "started_at"],
                          [["C1", "Acme", "2026-01-01"], ["C2", "Beta", "2026-02-01"],
                           ["C3", "Gamma", "2026-02-01"]])
    subscriptions = write_csv(tmp_path / "subscriptions.csv", SUB_HEADER, SUBSCRIPTIONS)
    run_cli("ingest", "customers", str(customers), "-w", str(root))
    run_cli("ingest", "subscriptions", str(subscriptions), "-w", str(root))
    tickets = write_csv(tmp_path / "tickets.csv", ["ticket_id", "customer_id", "opened_at"],
                        [["T1", "C2", "2026-06-30 09:00:00"]])
    run_cli("ingest", "tickets", str(tickets), "-w", str(root))
    return root


def shown(folder: Path, *args: str) -> dict[tuple[str, str], float]:
    out = run_cli("metrics", "show", "mrr", "--format", "json", "-w", str(folder), *args)
    return {(r["period_start"][:10], r.get("plan", "")): r["value"]
            for r in json.loads(out.stdout)}


def test_mrr_by_plan_uses_the_subscriptions_plan(folder: Path) -> None:
    got = shown(folder, "--by", "plan", "--from", "2026-01-01", "--to", "2026-06-30")
    assert got == {
        ("2026-01-01", "basic"): 0.0, ("2026-01-01", "pro"): 100.0,
        ("2026-02-01", "basic"): 50.0, ("2026-02-01", "pro"): 200.0,
        ("2026-03-01", "basic"): 50.0, ("2026-03-01", "pro"): 500.0,
        ("2026-04-01", "basic"): 50.0, ("2026-04-01", "pro"): 400.0,
        ("2026-05-01", "basic"): 50.0, ("2026-05-01", "pro"): 400.0,
        ("2026-06-01", "basic"): 50.0, ("2026-06-01", "pro"): 400.0,
    }


def test_the_plan_is_read_at_the_end_of_the_range(folder: Path) -> None:
    # on 2026-02-28 C1 has only S1: basic; C3's S4 is pro
    got = shown(folder, "--by", "plan", "--from", "2026-01-01", "--to", "2026-02-28")
    assert got == {("2026-01-01", "basic"): 100.0, ("2026-01-01", "pro"): 0.0,
                   ("2026-02-01", "basic"): 150.0, ("2026-02-01", "pro"): 100.0}


def test_where_plan_keeps_the_customers_on_the_plan(folder: Path) -> None:
    # the customers on pro (C1, C3) with their whole MRR, C1's basic line included, as
    # --by plan groups them
    got = shown(folder, "--where", "plan=pro", "--from", "2026-03-01", "--to", "2026-06-30")
    assert got == {("2026-03-01", ""): 500.0, ("2026-04-01", ""): 400.0,
                   ("2026-05-01", ""): 400.0, ("2026-06-01", ""): 400.0}


def test_the_customer_list_shows_plan_mrr_and_arr(folder: Path) -> None:
    out = run_cli("customers", "list", "--format", "json", "-w", str(folder))
    rows = {r["customer_id"]: (r["plan"], r["mrr"], r["arr"]) for r in json.loads(out.stdout)}
    assert rows == {"C1": ("pro", 400.0, 4800.0), "C2": ("basic", 50.0, 600.0),
                    "C3": ("pro", 0.0, 0.0)}
    grouped = run_cli("health", "list", "--by", "plan", "--format", "json", "-w", str(folder))
    assert {r["plan"]: r["accounts"] for r in json.loads(grouped.stdout)} == {"basic": 1,
                                                                             "pro": 1}


def test_a_plan_in_the_customers_file_wins(ws: Workspace, tmp_path: Path) -> None:
    customers = write_csv(tmp_path / "c.csv", ["customer_id", "name", "started_at", "plan"],
                          [["C1", "Acme", "2026-01-01", "enterprise"],
                           ["C2", "Beta", "2026-02-01", None], ["C3", "Gamma", "2026-02-01", None]])
    ws.ingest("customers", [customers])
    ws.ingest("subscriptions", [write_csv(tmp_path / "s.csv", SUB_HEADER, SUBSCRIPTIONS)])
    ws.ingest("tickets", [write_csv(tmp_path / "t.csv", ["ticket_id", "customer_id",
                                                         "opened_at"],
                                    [["T1", "C2", "2026-06-30 09:00:00"]])])
    got = ws.query("mrr", start=date(2026, 6, 1), end=date(2026, 6, 30), by="plan")
    assert dict(zip(got["plan"], got["value"].astype(float), strict=True)) == {
        "basic": 50.0, "enterprise": 400.0}
    listed = ws.customer_list().set_index("customer_id")["plan"].to_dict()
    assert listed == {"C1": "enterprise", "C2": "basic", "C3": "pro"}
