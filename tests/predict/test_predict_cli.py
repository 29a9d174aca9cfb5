"""The real commands on a small demo company, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from csmetrics import Workspace
from tests.conftest import DEMO_END, run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("predict") / "demo"
    run_cli("demo", "--end", DEMO_END,
            "--customers", "200", "--months", "24", "--workspace", str(folder))
    config = folder / "csmetrics.toml"  # fewer cutoffs: a faster test, same code path
    text = config.read_text(encoding="utf-8")
    assert "churn_cutoffs = 12" in text
    config.write_text(text.replace("churn_cutoffs = 12", "churn_cutoffs = 8"), encoding="utf-8")
    return folder


def test_churn_train_score_explain_report(demo: Path) -> None:
    w = ("--workspace", str(demo))
    trained = json.loads(run_cli("predict", "churn", "train", "--format", "json", *w).stdout)
    assert set(trained["scores"]) == {"gradient_boosting", "logistic_regression", "health_score"}
    for scores in trained["scores"].values():
        assert 0 <= scores["roc_auc"] <= 1 and scores["n"] > 0
    assert (demo / "models" / "churn.joblib").is_file()
    assert (demo / "models" / "churn.json").is_file()

    scored = json.loads(run_cli("predict", "churn", "score", "--top", "0", "--format", "json",
                                *w).stdout)
    assert scored and all(0 <= row["probability"] <= 1 for row in scored)
    probabilities = [row["probability"] for row in scored]
    assert probabilities == sorted(probabilities, reverse=True)
    assert scored[0]["risk_decile"] == 10

    with duckdb.connect(str(demo / "csmetrics.duckdb"), read_only=True) as con:
        stored = con.execute("SELECT count(*), max(probability) FROM _churn_scores").fetchone()
    assert stored == (len(scored), pytest.approx(scored[0]["probability"]))

    riskiest = scored[0]["customer_id"]
    text = run_cli("predict", "churn", "explain", riskiest, *w).stdout
    assert f"{riskiest}: churn risk" in text and "the risk by" in text

    report = run_cli("predict", "churn", "report", *w).stdout
    assert "gradient_boosting" in report and "logistic_regression" in report

    missing = run_cli("predict", "churn", "explain", "NOBODY", *w, check=False)
    assert missing.returncode == 2 and "does not pay" in missing.stderr


def test_clv_fit_and_show(demo: Path) -> None:
    w = ("--workspace", str(demo))
    fit = json.loads(run_cli("clv", "fit", "--format", "json", *w).stdout)
    for name in ("r", "alpha", "a", "b", "log_likelihood"):
        assert name in fit["bgnbd"]
    for name in ("p", "q", "gamma", "log_likelihood"):
        assert name in fit["gamma_gamma"]
    shown = json.loads(run_cli("clv", "show", "--top", "3", "--horizon", "6",
                               "--discount-rate", "0.2", "--format", "json", *w).stdout)
    assert len(shown) == 3 and shown[0]["clv"] >= shown[1]["clv"]
    one = json.loads(run_cli("clv", "show", "--customer", shown[0]["customer_id"],
                             "--format", "json", *w).stdout)
    assert [row["customer_id"] for row in one] == [shown[0]["customer_id"]]
    with duckdb.connect(str(demo / "csmetrics.duckdb"), read_only=True) as con:
        params = dict(con.execute("SELECT param, value FROM _clv_fits").fetchall())
    assert params["r"] == pytest.approx(fit["bgnbd"]["r"])


def test_survival_by_cohort(demo: Path) -> None:
    out = json.loads(run_cli("survival", "--by", "cohort", "--format", "json",
                             "--workspace", str(demo)).stdout)
    assert out["by"] == "cohort" and out["segments"]
    for segment in out["segments"]:
        survival = [p["survival"] for p in segment["curve"]]
        assert survival == sorted(survival, reverse=True)  # a survival curve never rises


def test_churn_needs_a_trained_model(ws: Workspace) -> None:
    ws.close()  # the command opens the warehouse itself
    result = run_cli("predict", "churn", "score", "--workspace", str(ws.root), check=False)
    assert result.returncode == 2 and "train one" in result.stderr
