"""``csmetrics voice sentiment|themes|requests`` as a user runs them, on a demo company."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from csmetrics import Workspace
from csmetrics.errors import UserInputError
from tests.conftest import DEMO_END, run_cli
from tests.insights.fixtures import company


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo company built by the real command."""
    folder = tmp_path_factory.mktemp("voice") / "ws"
    run_cli("demo", "--end", DEMO_END, "--customers", "200", "--months", "12", "--seed", "5",
            "--workspace", str(folder))
    return folder


def test_sentiment_scores_texts_then_shows_negative_share(demo):
    result = run_cli("voice", "sentiment", "--period", "quarter", "--format", "json",
                     "-w", str(demo))
    assert "texts scored" in result.stderr
    rows = json.loads(result.stdout)
    assert rows and {"period_start", "value", "n", "ci_low", "ci_high"} <= set(rows[0])
    full = [r for r in rows if r["n"] > 0]
    assert full and all(0 <= r["ci_low"] <= r["value"] <= r["ci_high"] <= 1 for r in full)
    again = run_cli("voice", "sentiment", "--by", "plan", "-w", str(demo))
    assert "0 texts scored" in again.stderr  # incremental: nothing new to score
    assert "Share of negative comments" in again.stdout
    with Workspace.load(demo) as ws:
        customer = ws.warehouse.sql.execute(
            "SELECT customer_id FROM _text_sentiment ORDER BY customer_id LIMIT 1").fetchone()[0]
    texts = json.loads(run_cli("voice", "sentiment", "--customer", customer, "--format",
                               "json", "-w", str(demo)).stdout)
    assert texts and all(t["label"] in ("positive", "neutral", "negative") for t in texts)


def test_themes_are_named_stored_and_the_same_for_a_seed(demo):
    first = json.loads(run_cli("voice", "themes", "--format", "json", "-w", str(demo)).stdout)
    themes = {r["theme"] for r in first}
    assert {"pricing", "reporting", "support", "integrations"} <= themes
    assert all(r["examples"] and r["texts"] > 0 for r in first)
    assert sum(r["texts"] for r in first) > 100
    second = json.loads(run_cli("voice", "themes", "--format", "json", "-w", str(demo)).stdout)
    assert second == first
    with Workspace.load(demo) as ws:
        stored = ws.warehouse.sql.execute(
            "SELECT theme, texts FROM _voice_themes ORDER BY texts DESC, theme").fetchall()
        assigned = ws.warehouse.sql.execute("SELECT count(*) FROM _voice_text_themes").fetchone()
        trend = ws.warehouse.sql.execute("SELECT sum(texts) FROM _voice_theme_trend").fetchone()
    assert sorted(stored) == sorted((r["theme"], r["texts"]) for r in first)
    assert assigned[0] == trend[0] == sum(r["texts"] for r in first)
    table = run_cli("voice", "themes", "--trend", "--period", "quarter", "-w", str(demo))
    assert "Themes by quarter" in table.stdout and "reporting" in table.stdout


def test_requests_ranked_and_stored(demo):
    out = run_cli("voice", "requests", "--format", "csv", "--limit", "5", "-w", str(demo))
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 5
    counts = [int(r["customers"]) for r in rows]
    assert counts == sorted(counts, reverse=True)
    by_mrr = json.loads(run_cli("voice", "requests", "--rank", "mrr", "--limit", "1000",
                                "--format", "json", "-w", str(demo)).stdout)
    mrr = [r["mrr"] for r in by_mrr]
    assert mrr == sorted(mrr, reverse=True)
    with Workspace.load(demo) as ws:
        n = ws.warehouse.sql.execute("SELECT count(*) FROM _voice_requests").fetchone()[0]
    assert n == len(by_mrr)


def test_bad_input_is_refused_with_exit_code_2(demo):
    bad = run_cli("voice", "themes", "--period", "fortnight", "-w", str(demo), check=False)
    assert bad.returncode == 2 and "--period 'fortnight'" in bad.stderr
    bad = run_cli("voice", "requests", "--rank", "votes", "-w", str(demo), check=False)
    assert bad.returncode == 2 and "--rank 'votes'" in bad.stderr
    with Workspace.load(demo) as ws:
        with pytest.raises(UserInputError, match="--source 'tickets'"):
            ws.voice_themes(sources=("tickets",))
        with pytest.raises(UserInputError, match="colour"):
            ws.voice_requests(by="colour")
        with pytest.raises(UserInputError, match="--as-of"):
            ws.voice_texts("C1", as_of="yesterday")


def test_refresh_scores_new_texts_before_the_metrics(tmp_path):
    Workspace.init(tmp_path).close()
    config = tmp_path / "csmetrics.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('default_segments = ["plan", "region", "size_tier", '
                                   '"owner", "acquisition_channel"]', "default_segments = []"),
                      encoding="utf-8")
    with Workspace.load(tmp_path) as ws:  # no segments: a quick refresh
        company(ws.warehouse)
        run = ws.refresh(grains=["year"])
        assert run["texts_scored"] == 9
        stored = ws.metric_values("negative_comment_share", "year", "")
        year = stored[stored.period_start.astype(str) == "2024-01-01"]
        assert year["n"].tolist() == [9] and year["value"].tolist() == [3 / 9]


def test_requests_per_period(demo):
    ranked = json.loads(run_cli("voice", "requests", "--limit", "3", "--format", "json",
                                "-w", str(demo)).stdout)
    trend = json.loads(run_cli("voice", "requests", "--limit", "3", "--period", "quarter",
                               "--format", "json", "-w", str(demo)).stdout)
    assert trend and {r["label"] for r in trend} == {r["label"] for r in ranked}
    assert all(r["period_start"][5:7] in ("01", "04", "07", "10") for r in trend)
    # over all periods, no more customers than the ranking counts for the request
    for row in ranked:
        asked = [r for r in trend if r["label"] == row["label"]]
        assert asked and max(r["customers"] for r in asked) <= row["customers"]
    bad = run_cli("voice", "requests", "--period", "fortnight", "-w", str(demo), check=False)
    assert bad.returncode == 2 and "fortnight" in bad.stderr
