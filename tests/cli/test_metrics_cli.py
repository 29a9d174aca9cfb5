"""``csmetrics demo``, ``kpis``, ``metrics list|show|explain`` and ``refresh``, as a user runs
them."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics import Workspace, query
from csmetrics.metrics import all_metrics
from csmetrics.schema import TABLES
from tests.conftest import DEMO_END, run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company, built by the real command, with its CSV export."""
    folder = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--end", DEMO_END, "--customers", "80", "--months", "8", "--seed", "3",
                     "--out", str(folder / "csv"), "--workspace", str(folder / "ws"))
    assert "Demo company loaded into" in result.stdout
    assert "headline KPIs" in result.stdout and "Net revenue retention" in result.stdout
    assert "Dashboard login: demo / " in result.stdout
    return folder


def test_demo_writes_canonical_csv_files_that_load_again(demo, tmp_path):
    files = sorted(p.name for p in (demo / "csv").iterdir())
    for table in TABLES:
        assert any(name.startswith(table) for name in files), table
    # the export is the canonical format: a fresh workspace takes it as it is
    run_cli("init", str(tmp_path / "again"))
    # exchange rates first: a currency without a rate is refused when its rows load
    for table in ("exchange_rates", "customers", "subscriptions"):
        paths = sorted(str(p) for p in (demo / "csv").glob(f"{table}*.csv"))
        run_cli("ingest", table, *paths, "-w", str(tmp_path / "again"))
    with Workspace.load(demo / "ws") as a, Workspace.load(tmp_path / "again") as b:
        assert a.table_counts()["subscriptions"] == b.table_counts()["subscriptions"]


def test_demo_refuses_to_overwrite_without_force(demo):
    result = run_cli("demo", "--workspace", str(demo / "ws"), check=False)
    assert result.returncode == 2 and "--force" in result.stderr


def test_metrics_list_names_every_registered_metric():
    listed = json.loads(run_cli("metrics", "list", "--format", "json").stdout)
    assert [row["name"] for row in listed] == [m.name for m in all_metrics()]
    assert {"name", "title", "section", "unit", "good", "meaning"} <= set(listed[0])


def test_metrics_show_json_rows_match_the_python_api(demo):
    args = ["metrics", "show", "mrr", "nrr", "nps", "--period", "month", "--from", "2026-01-01",
            "--to", "2026-03-31", "--by", "region", "--format", "json", "-w", str(demo / "ws")]
    rows = json.loads(run_cli(*args).stdout)
    assert {r["metric"] for r in rows} == {"mrr", "nrr", "nps"}
    for key in ("metric", "period_start", "region", "value", "n", "ci_low", "ci_high",
                "null_reason", "target", "benchmark"):
        assert key in rows[0]
    nps = [r for r in rows if r["metric"] == "nps" and r["value"] is not None]
    assert nps and all(r["ci_low"] <= r["value"] <= r["ci_high"] for r in nps)
    # the Python API over the same window (read from the arguments), compared row by row
    frame = query(["mrr", "nrr", "nps"], workspace=demo / "ws", period="month",
                  start=args[args.index("--from") + 1], end=args[args.index("--to") + 1],
                  by="region")

    def number(value: object) -> float | None:  # NaN in the frame, null in the JSON
        return None if value is None or pd.isna(value) else float(value)

    def keyed(records: list[dict]) -> dict[tuple[str, str, str | None], tuple]:
        return {(r["metric"], str(r["period_start"])[:10],
                 None if r["region"] is None or pd.isna(r["region"]) else str(r["region"])):
                (number(r["value"]), int(r["n"]), number(r["ci_low"]), number(r["ci_high"]))
                for r in records}

    cli, python = keyed(rows), keyed(frame.to_dict("records"))
    assert len(cli) == len(rows) and len(python) == len(frame)  # one row per key
    assert cli.keys() == python.keys()
    for key, (value, n, low, high) in python.items():
        assert cli[key][1] == n, key
        for got, want in zip((cli[key][0], cli[key][2], cli[key][3]), (value, low, high),
                             strict=True):
            assert (got is None) == (want is None), (key, cli[key], python[key])
            assert want is None or got == pytest.approx(want, rel=1e-9, abs=1e-9), (
                key, cli[key], python[key])
    assert any(v[0] for k, v in python.items() if k[0] == "mrr")  # real numbers compared


def test_metrics_show_csv_and_table(demo):
    text = run_cli("metrics", "show", "customer_churn_rate", "--period", "quarter",
                   "--format", "csv", "-w", str(demo / "ws")).stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and rows[0]["metric"] == "customer_churn_rate"
    table = run_cli("metrics", "show", "customer_churn_rate", "-w", str(demo / "ws")).stdout
    assert "%" in table and "customer_churn_rate" in table


def test_metrics_show_refuses_bad_input_clearly(demo):
    ws = ["-w", str(demo / "ws")]
    cases = [
        (["metrics", "show", "mrrr"], "Did you mean 'mrr'"),
        (["metrics", "show", "mrr", "--period", "fortnight"], "--period 'fortnight'"),
        (["metrics", "show", "mrr", "--from", "2024-31-01"], "--from '2024-31-01' is not a date"),
        (["metrics", "show", "mrr", "--by", "regon"], "Did you mean 'region'"),
        (["metrics", "show", "mrr", "--where", "region"], "COLUMN=VALUE"),
        (["metrics", "show", "mrr", "--from", "2025-02-01", "--to", "2025-01-01"], "before"),
    ]
    for args, message in cases:
        result = run_cli(*args, *ws, check=False)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)


def test_metrics_explain_shows_definition_and_policies(demo, tmp_path):
    config = (demo / "ws" / "csmetrics.toml").read_text()
    (tmp_path / "csmetrics.toml").write_text(config.replace('preset = "default"',
                                                            'preset = "chartmogul"'))
    text = run_cli("metrics", "explain", "customer_churn_rate", "-w", str(tmp_path)).stdout
    assert "Customer churn rate" in text and "Formula:" in text
    assert "preset = chartmogul" in text and "within_period_churn = include" in text


def test_refresh_materialises_and_a_rerun_after_new_data_equals_a_clean_run(demo, tmp_path):
    import shutil

    ws_dir = tmp_path / "ws"
    shutil.copytree(demo / "ws", ws_dir)
    config = ws_dir / "csmetrics.toml"
    config.write_text(config.read_text().replace(
        'default_segments = ["plan", "region", "size_tier", "owner", "acquisition_channel"]',
        'default_segments = ["plan", "region"]'))
    result = run_cli("refresh", "--period", "month", "-w", str(ws_dir))
    assert "Refreshed" in result.stdout
    with Workspace.load(ws_dir) as ws:
        stored = ws.metric_values("mrr", "month", "")
        fresh = ws.query("mrr", start=stored.period_start.min(), end=stored.period_start.max())
        assert stored.value.round(6).tolist() == fresh.value.round(6).tolist()
        assert set(ws.metric_values(grain="month").segment_by) == {"", "plan", "region"}
        # stacked segments (one pass for all) equal segment-by-segment queries
        for metric, by in (("nps", "region"), ("customer_churn_rate", "plan"),
                           ("cac", "plan"), ("feature_adoption", "region")):
            stored = ws.metric_values(metric, "month", by)
            stored["period_start"] = pd.to_datetime(stored.period_start).dt.date
            first, last = stored.period_start.min(), stored.period_start.max()
            direct = ws.query(metric, start=first, end=last + timedelta(days=27), by=by)
            dimension = "event" if metric == "feature_adoption" else None
            keys = [by] + ([dimension] if dimension else [])
            direct["segment"] = [json.dumps(dict(zip(keys, v, strict=True)), sort_keys=True)
                                 for v in direct[keys].itertuples(index=False)]
            merged = stored.merge(direct, on=["period_start", "segment"],
                                  suffixes=("_stored", "_direct"))
            assert len(merged) == len(stored) == len(direct), metric
            assert np.allclose(merged.value_stored, merged.value_direct, equal_nan=True), metric
            assert (merged.n_stored == merged.n_direct).all(), metric
    # new data, then refresh again: same as a refresh of a clean copy with the same data
    extra = tmp_path / "late.csv"
    extra.write_text("subscription_id,customer_id,plan,amount,billing_interval,start_date\n"
                     "LATE1,C00001,growth,999,month,2026-06-15\n")
    run_cli("ingest", "subscriptions", str(extra), "-w", str(ws_dir), "--allow-orphans")
    run_cli("refresh", "--period", "month", "-w", str(ws_dir))
    clean = tmp_path / "clean"
    shutil.copytree(ws_dir, clean)
    with Workspace.load(clean) as ws:
        ws.warehouse.sql.execute("DELETE FROM _metric_values")
    run_cli("refresh", "--period", "month", "-w", str(clean))
    with Workspace.load(ws_dir) as a, Workspace.load(clean) as b:
        left, right = a.metric_values(), b.metric_values()
    keys = ["metric", "grain", "period_start", "segment_by", "segment", "n", "null_reason"]
    assert left[keys].equals(right[keys])
    # float sums may add up in another order on another run: equal to 1e-9
    assert np.allclose(left.value, right.value, rtol=1e-9, equal_nan=True)


def test_cohorts_from_the_command_line(demo):
    rows = json.loads(run_cli("metrics", "cohorts", "--kind", "logo", "--format", "json",
                              "-w", str(demo / "ws")).stdout)
    assert rows and {"cohort", "customers", "0"} <= set(rows[0])
    assert all(r["0"] is None or 0 <= r["0"] <= 1 for r in rows)
    bad = run_cli("metrics", "cohorts", "--kind", "logos", "-w", str(demo / "ws"), check=False)
    assert bad.returncode == 2 and "logo or revenue" in bad.stderr


def test_targets_from_the_config_reach_every_row(demo, tmp_path):
    config = (demo / "ws" / "csmetrics.toml").read_text()
    config = config.replace("# nrr = 1.05",
                            "nrr = 1.05\nnps = { default = 40, \"region=EMEA\" = 30 }")
    (tmp_path / "csmetrics.toml").write_text(config)
    import shutil

    shutil.copy(demo / "ws" / "csmetrics.duckdb", tmp_path / "csmetrics.duckdb")
    rows = json.loads(run_cli("metrics", "show", "nrr", "nps", "--by", "region", "--format",
                              "json", "-w", str(tmp_path)).stdout)
    assert {r["target"] for r in rows if r["metric"] == "nrr"} == {1.05}
    nps = {r["region"]: r["target"] for r in rows if r["metric"] == "nps"}
    assert nps["EMEA"] == 30 and all(v == 40 for k, v in nps.items() if k != "EMEA")
