"""The real commands on a small demo company, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from csmetrics import Workspace
from tests.conftest import DEMO_END, run_cli, write_csv


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


def test_clv_fits_with_free_repeat_orders_and_bgnbd_alone(demo: Path, tmp_path: Path) -> None:
    """A $0 order is a purchase: BG/NBD counts it; Gamma-Gamma leaves out the repeat buyers
    whose repeat orders are all $0, and says how many (it once refused the whole data)."""
    copy = tmp_path / "ws"
    shutil.copytree(demo, copy)
    with duckdb.connect(str(copy / "csmetrics.duckdb"), read_only=True) as con:
        once = [c for (c,) in con.execute(
            "SELECT customer_id FROM orders WHERE status IS NULL OR status = 'paid' "
            "GROUP BY customer_id HAVING count(DISTINCT CAST(ordered_at AS DATE)) = 1 "
            "AND max(ordered_at) < TIMESTAMP '2026-05-01' ORDER BY 1 LIMIT 4").fetchall()]
    assert len(once) == 4
    free = tmp_path / "free.csv"
    write_csv(free, ["order_id", "customer_id", "ordered_at", "amount", "status"],
              [[f"FREE-{c}-{k}", c, f"2026-06-{10 + k} 12:00:00", 0, "paid"]
               for c in once for k in (1, 2)])
    w = ("--workspace", str(copy))
    run_cli("ingest", "orders", str(free), *w)

    fit = json.loads(run_cli("clv", "fit", "--format", "json", *w).stdout)
    assert fit["gamma_gamma"]["left_out"] >= 4
    assert any("average $0" in warning for warning in fit["warnings"])
    shown = json.loads(run_cli("clv", "show", "--customer", once[0], "--format", "json",
                               *w).stdout)
    assert shown[0]["frequency"] == 2 and shown[0]["monetary"] == 0

    alone = json.loads(run_cli("clv", "fit", "--model", "bgnbd", "--format", "json",
                               *w).stdout)
    assert alone["gamma_gamma"] is None and alone["bgnbd"]["r"] == fit["bgnbd"]["r"]
    by_purchases = json.loads(run_cli("clv", "show", "--model", "bgnbd", "--top", "3",
                                      "--format", "json", *w).stdout)
    assert "clv" not in by_purchases[0] and by_purchases[0]["expected_purchases"] >= (
        by_purchases[1]["expected_purchases"])


def test_clv_query_and_holdout(demo: Path) -> None:
    w = ("--workspace", str(demo))
    fitted = json.loads(run_cli("clv", "query", "--t", "2.5", "--frequency", "3", "--recency",
                                "20", "--age", "40", "--format", "json", *w).stdout)
    new = fitted["new_customer"]
    assert list(new["probability_of_n"]) == [str(n) for n in range(8)]
    assert sum(new["probability_of_n"].values()) <= 1 + 1e-9
    assert 0 < fitted["customer"]["p_alive"] <= 1
    assert fitted["customer"]["expected_purchases"] > 0
    # at the fitted parameters, --params gives the same answers and log-likelihood
    given = ",".join(repr(fitted["parameters"][k]) for k in ("r", "alpha", "a", "b"))
    again = json.loads(run_cli("clv", "query", "--t", "2.5", "--params", given,
                               "--format", "json", *w).stdout)
    assert again["log_likelihood"] == pytest.approx(fitted["log_likelihood"], abs=1e-6)
    assert again["new_customer"]["expected_purchases"] == pytest.approx(
        new["expected_purchases"])
    assert again["new_customer"]["probability_of_n"] == pytest.approx(new["probability_of_n"])
    bad = run_cli("clv", "query", "--t", "1", "--frequency", "2", *w, check=False)
    assert bad.returncode == 2 and "go together" in bad.stderr

    check = json.loads(run_cli("clv", "holdout", "--until", "2026-03-31", "--format", "json",
                               *w).stdout)
    assert check["until"] == "2026-03-31" and check["end"] <= DEMO_END
    assert check["weekly"][-1]["actual"] == check["actual"] > 0
    assert check["weekly"][-1]["predicted"] == pytest.approx(check["predicted"])
    table = run_cli("clv", "holdout", "--until", "2026-03-31", *w).stdout
    assert "repeat purchases" in table and "predicted" in table


def test_clv_with_pareto_nbd(demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "ws"  # its own copy: the fit replaces the stored CLV
    shutil.copytree(demo, copy)
    w = ("--workspace", str(copy))
    fit = json.loads(run_cli("clv", "fit", "--model", "pareto", "--format", "json",
                             *w).stdout)
    assert fit["bgnbd"] is None and fit["gamma_gamma"]["q"] > 1
    pareto = fit["pareto_nbd"]
    assert all(pareto[k] > 0 for k in ("r", "alpha", "s", "beta"))
    with duckdb.connect(str(copy / "csmetrics.duckdb"), read_only=True) as con:
        stored = dict(con.execute("SELECT param, value FROM _clv_fits "
                                  "WHERE model = 'pareto_nbd'").fetchall())
        p_alive = dict(con.execute("SELECT customer_id, p_alive FROM _clv_customers "
                                   "WHERE frequency = 0").fetchall())
    assert stored["s"] == pytest.approx(pareto["s"])
    # unlike BG/NBD, Pareto/NBD lets a customer who never bought again have left (all but
    # those whose first purchase was on the calibration end, T = 0)
    assert p_alive and all(0 < v <= 1 for v in p_alive.values())
    assert sum(v < 1 for v in p_alive.values()) >= len(p_alive) / 2
    shown = json.loads(run_cli("clv", "show", "--model", "pareto", "--top", "3",
                               "--format", "json", *w).stdout)
    assert len(shown) == 3 and shown[0]["clv"] >= shown[1]["clv"] >= shown[2]["clv"]
    table = run_cli("clv", "fit", "--model", "pareto", *w).stdout
    assert "Pareto/NBD" in table and "beta" in table

    asked = json.loads(run_cli("clv", "query", "--model", "pareto", "--t", "2.5",
                               "--frequency", "3", "--recency", "20", "--age", "40",
                               "--format", "json", *w).stdout)
    assert list(asked["parameters"]) == ["r", "alpha", "s", "beta"]
    assert asked["parameters"]["s"] == pytest.approx(pareto["s"], rel=1e-6)
    assert asked["log_likelihood"] == pytest.approx(pareto["log_likelihood"], abs=1e-6)
    assert 0 < asked["customer"]["p_alive"] < 1
    assert sum(asked["new_customer"]["probability_of_n"].values()) <= 1 + 1e-9
    given = ",".join(repr(asked["parameters"][k]) for k in ("r", "alpha", "s", "beta"))
    again = json.loads(run_cli("clv", "query", "--model", "pareto", "--t", "2.5", "--params",
                               given, "--format", "json", *w).stdout)
    assert again["log_likelihood"] == pytest.approx(asked["log_likelihood"], abs=1e-6)
    assert again["new_customer"]["probability_of_n"] == pytest.approx(
        asked["new_customer"]["probability_of_n"])
    bad = run_cli("clv", "query", "--model", "pnbd", "--t", "1", *w, check=False)
    assert bad.returncode == 2 and "bgnbd, pareto" in bad.stderr


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
