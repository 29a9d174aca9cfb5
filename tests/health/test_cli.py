"""The health commands, run as a user runs them; the backtest on the demo company."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from csmetrics import Workspace
from csmetrics.cli import app
from csmetrics.health.scorecard import DEFAULT_SCORECARD
from tests.conftest import DEMO_END, run_cli
from tests.health.fixtures import load_company
from tests.health.test_score import HAND


@pytest.fixture
def folder(ws: Workspace) -> Path:
    """The hand-made company in a workspace scored by the hand scorecard, closed for the CLI."""
    load_company(ws.warehouse)
    (ws.root / "health.toml").write_text(HAND, encoding="utf-8")
    ws.close()
    return ws.root


def test_init_writes_the_default_scorecard(ws: Workspace) -> None:
    assert (ws.root / "health.toml").read_text(encoding="utf-8") == DEFAULT_SCORECARD
    assert ws.settings.health.scorecard == "health.toml"


def cli(*args: str) -> str:
    """Run a command in this process (fast); the main ones also run as a subprocess below."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_and_explain_as_a_user_runs_them(folder: Path) -> None:
    w = str(folder)
    out = run_cli("health", "list", "--as-of", "2025-03-31", "--format", "json", "-w", w)
    rows = json.loads(out.stdout)
    assert [(r["customer_id"], r["score"], r["band"], r["owner"], r["mrr"], r["change"])
            for r in rows] == [("A", 40.0, "yellow", "Ann", 120.0, None),
                               ("B", 100.0, "green", "Bob", 50.0, None)]
    # A has data for every component; B for 1 + 1 of the 5 weights (HAND's min_coverage 0.4)
    assert [r["coverage"] for r in rows] == [1.0, 0.4]
    table = run_cli("health", "explain", "A", "--as-of", "2025-03-31", "-w", w).stdout
    assert "A scores 40 of 100 as of 2025-03-31 (yellow)" in table
    assert table.index("usage_trend") < table.index("csm_sentiment") < table.index(
        "support_load")


def test_list_by_band_and_owner_explain_snapshot_history(folder: Path) -> None:
    w = str(folder)
    green = cli("health", "list", "--as-of", "2025-03-31", "--band", "green", "--format",
                "csv", "-w", w)
    assert [r["customer_id"] for r in csv.DictReader(io.StringIO(green))] == ["B"]
    owners = cli("health", "list", "--as-of", "2025-03-31", "--by", "owner", "--format",
                 "json", "-w", w)
    assert [(r["owner"], r["accounts"], r["avg score"]) for r in json.loads(owners)] == [
        ("Ann", 1, 40.0), ("Bob", 1, 100.0)]
    explained = json.loads(cli("health", "explain", "A", "--as-of", "2025-03-31",
                               "--format", "json", "-w", w))
    assert [(c["component"], c["points"], c["weight"], c["contribution"], c["pulls down"])
            for c in explained["components"]] == [
        ("usage_trend", 50.0, 60.0, 30.0, 30.0), ("csm_sentiment", 0.0, 20.0, 0.0, 20.0),
        ("support_load", 50.0, 20.0, 10.0, 10.0)]
    assert explained["score"] == 40.0 and explained["band"] == "yellow"

    cli("health", "snapshot", "--as-of", "2025-02-28", "-w", w)
    snap = cli("health", "snapshot", "--as-of", "2025-03-31", "--format", "json", "-w", w)
    assert json.loads(snap) == [{"as_of": "2025-03-31", "accounts": 2, "red": 0,
                                 "yellow": 1, "green": 1, "insufficient": 0,
                                 "avg score": 70.0}]
    rows = json.loads(cli("health", "list", "--as-of", "2025-03-31", "--format", "json",
                          "-w", w))
    assert [r["previous_as_of"] for r in rows] == ["2025-02-28", "2025-02-28"]
    history = json.loads(cli("health", "history", "--format", "json", "-w", w))
    assert [r["as_of"] for r in history] == ["2025-02-28", "2025-03-31"]
    one = json.loads(cli("health", "history", "--customer", "A", "--format", "json", "-w", w))
    assert one[-1] == {"as_of": "2025-03-31", "score": 40.0, "coverage": 1.0, "band": "yellow",
                       "mrr": 120.0}
    cli("health", "history", "--rebuild", "--from", "2025-01-01", "--to", "2025-03-31",
        "-w", w)
    history = json.loads(cli("health", "history", "--format", "json", "-w", w))
    assert [r["as_of"] for r in history] == ["2025-01-31", "2025-02-28", "2025-03-31"]


def test_user_errors_exit_2_with_the_fix(folder: Path) -> None:
    w = str(folder)
    runner = CliRunner()
    gone = runner.invoke(app, ["health", "explain", "C", "--as-of", "2025-03-31", "-w", w])
    assert gone.exit_code == 2 and "not a paying customer on that day" in gone.stderr
    band = runner.invoke(app, ["health", "list", "--band", "purple", "-w", w])
    assert band.exit_code == 2 and "--band 'purple' must be one of" in band.stderr
    none = runner.invoke(app, ["health", "backtest", "-w", w])
    assert none.exit_code == 2 and "health history --rebuild" in none.stderr
    lone = runner.invoke(app, ["health", "history", "--from", "2025-01-01", "-w", w])
    assert lone.exit_code == 2 and "add --rebuild" in lone.stderr
    (folder / "health.toml").write_text(HAND.replace("weight = 3", "weight = -3"), "utf-8")
    bad = run_cli("health", "list", "-w", w, check=False)
    assert bad.returncode == 2
    assert "components.usage_trend.weight = -3" in bad.stderr.replace("\n", " ")


@pytest.mark.slow
def test_refresh_stores_a_health_snapshot_as_of_the_data_end(folder: Path) -> None:
    config = folder / "csmetrics.toml"  # the metrics part of refresh is slow: keep it small
    config.write_text(re.sub(r"default_segments = \[.*\]", "default_segments = []",
                             config.read_text("utf-8")), "utf-8")
    with Workspace.load(folder) as ws:
        run = ws.refresh(grains=["quarter"])
        history = ws.health_history()
    # the last thing recorded is E's start on 2025-04-15: A, B and E pay that day
    assert run["health_accounts"] == 3
    assert history["as_of"].unique().tolist() == [pd.Timestamp("2025-04-15")]
    assert sorted(history["customer_id"]) == ["A", "B", "E"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo company (250 customers, 18 months), history rebuilt monthly for 9 months."""
    folder = tmp_path_factory.mktemp("health-demo") / "demo"
    run_cli("demo", "--end", DEMO_END,
            "--customers", "250", "--months", "18", "--workspace", str(folder))
    with Workspace.load(folder) as ws:
        end = ws.data_end()
        start = date(end.year - (end.month <= 9), (end.month - 9 - 1) % 12 + 1, 1)
        ws.health_rebuild(start, end, "month")
    yield folder


def test_the_default_scorecard_finds_the_demo_churn(demo: Path) -> None:
    out = run_cli("health", "backtest", "--horizon", "90", "--format", "json", "-w", str(demo))
    b = json.loads(out.stdout)
    assert len(b["dates"]) >= 5 and b["churned"] > 10
    assert b["auc"] > 0.65
    rates = {r["band"]: r["churn_rate"] for r in b["bands"]}
    assert rates["red"] > rates["yellow"] > rates["green"]
    assert b["lift_red_over_green"] > 2
    rw = b["reweighting"]
    assert rw["auc_current_test"] is not None and rw["auc_suggested_test"] is not None
    assert round(sum(rw["suggested_weights"].values())) == 100
    table = cli("health", "backtest", "-w", str(demo))
    assert "ROC AUC of the score" in table and "Churn by band" in table
