"""A server reads the stored health snapshot instead of scoring again, but only while it is
what scoring now would give (same scorecard and settings, no load since)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csmetrics import Workspace
from tests.conftest import write_csv
from tests.health.fixtures import D, load_company


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    columns = sorted(c for c in frame.columns if c != "as_of")
    return frame[columns].sort_values(keys).reset_index(drop=True)


def test_a_current_snapshot_is_read_back_as_scored(ws: Workspace) -> None:
    load_company(ws.warehouse)
    scored = ws.health(D)
    assert ws.health(D, stored=True).scores.equals(scored.scores)  # none stored: scored
    ws.health_snapshot(D)
    stored = ws.health(D, stored=True)
    keys = ["customer_id"]
    pd.testing.assert_frame_equal(_sorted(stored.scores, keys), _sorted(scored.scores, keys),
                                  check_dtype=False)
    parts = ["customer_id", "component"]
    pd.testing.assert_frame_equal(_sorted(stored.components, parts),
                                  _sorted(scored.components, parts), check_dtype=False)
    explained = ws.health_explain("A", D, stored=True)
    assert explained.score == ws.health_explain("A", D).score


def test_a_snapshot_is_not_current_after_a_load_or_a_new_scorecard(
        ws: Workspace, tmp_path: Path) -> None:
    load_company(ws.warehouse)
    ws.health_snapshot(D)
    con = ws.warehouse.sql
    # a wrong stored score shows whether the snapshot was read or the account scored again
    con.execute("UPDATE _health_scores SET score = -1 WHERE customer_id = 'A'")
    assert _score(ws, "A") == -1

    renamed = ws.settings.workspace.model_copy(update={"name": "Other Co"})
    other = Workspace(ws.root, ws.settings.model_copy(update={"workspace": renamed}), ws.clock)
    other._warehouse = ws.warehouse
    assert _score(other, "A") > 0  # other settings: scored again

    scorecard = ws.root / ws.settings.health.scorecard
    text = scorecard.read_text(encoding="utf-8")
    scorecard.write_text(text.replace("green_from = 70", "green_from = 71"), encoding="utf-8")
    assert "green_from = 71" in scorecard.read_text(encoding="utf-8")
    assert _score(ws, "A") > 0  # another scorecard: scored again
    scorecard.write_text(text, encoding="utf-8")
    assert _score(ws, "A") == -1

    ws.ingest("customers", [write_csv(tmp_path / "late.csv", ["customer_id", "name", "started_at"],
                                      [["Z", "Late Co", "2025-05-01"]])])
    assert _score(ws, "A") > 0  # a load since the snapshot: scored again


def _score(ws: Workspace, customer: str) -> float:
    scores = ws.health(D, stored=True).scores
    return float(scores.loc[scores.customer_id == customer, "score"].iloc[0])
