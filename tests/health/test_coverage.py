"""Health coverage: the share of the scorecard's weight backed by data, and the
"insufficient" band below ``bands.min_coverage`` (worked by hand on ``fixtures.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from csmetrics import Workspace
from csmetrics.config import Settings
from csmetrics.errors import ConfigError
from csmetrics.health import Scorecard, default_scorecard, score_accounts
from csmetrics.health.explain import explain
from csmetrics.store import Warehouse
from tests.health.fixtures import D, load_company
from tests.health.test_backtest import ACCOUNTS, D1, D2
from tests.health.test_backtest import company as company  # noqa: F401 - the fixture
from tests.metrics.revenue_fixtures import insert, memory_warehouse

# Weights 40 / 30 / 30. On D, A has a CSM sentiment (-1) and tickets (3) but no CSAT answer:
# data for 40 + 30 of 100 -> coverage 0.7. B has all three (sentiment 1, 0 tickets, CSAT 4).
CARD = """
[bands]
red_below = 40
green_from = 70
min_coverage = {min_coverage}

[components.csm_sentiment]
weight = 40
thresholds = [[-1, 0], [0, 50], [1, 100]]

[components.support_load]
weight = 30
thresholds = [[0, 100], [2, 50], [5, 0]]

[components.csat_latest]
weight = 30
linear = [[1, 0], [5, 100]]
missing = "{missing}"
"""


def card(min_coverage: float = 0.5, missing: str = "skip") -> Scorecard:
    return Scorecard.from_text(CARD.format(min_coverage=min_coverage, missing=missing), "t")


@pytest.fixture
def warehouse() -> Iterator[Warehouse]:
    with memory_warehouse() as w:
        load_company(w)
        yield w


def rows(scores: pd.DataFrame) -> dict[str, tuple[float, float, str]]:
    return {r.customer_id: (round(r.score, 6), round(r.coverage, 6), r.band)
            for r in scores.itertuples()}


def test_coverage_is_the_weight_share_backed_by_data(warehouse: Warehouse) -> None:
    health = score_accounts(warehouse.ibis, Settings(), card(), D)
    # A: (0 x 40 + 50 x 30) / 70 = 21.428571 (red); B: (100 x 40 + 100 x 30 + 75 x 30) / 100
    assert rows(health.scores) == {"A": (21.428571, 0.7, "red"), "B": (92.5, 1.0, "green")}


def test_under_min_coverage_the_band_is_insufficient_not_a_colour(warehouse: Warehouse) -> None:
    health = score_accounts(warehouse.ibis, Settings(), card(min_coverage=0.75), D)
    # the score is still computed (and shown), the band says it rests on too little data
    assert rows(health.scores) == {"A": (21.428571, 0.7, "insufficient"),
                                   "B": (92.5, 1.0, "green")}
    e = explain(health, card(min_coverage=0.75), "A")
    assert e.band == "insufficient" and e.coverage == pytest.approx(0.7)
    assert e.summary.startswith("A scores 21 of 100 as of 2025-03-31 (insufficient data)")
    assert e.summary.endswith("Only 70% of the scorecard's weight has data (at least 75% is "
                              "needed for a band).")
    # exactly at the cut-off is enough
    assert rows(score_accounts(warehouse.ibis, Settings(), card(min_coverage=0.7),
                               D).scores)["A"][2] == "red"


def test_a_missing_rule_fills_points_but_not_coverage(warehouse: Warehouse) -> None:
    health = score_accounts(warehouse.ibis, Settings(), card(min_coverage=0.75,
                                                             missing="neutral"), D)
    # A's CSAT counts as 50 points: (0 x 40 + 50 x 30 + 50 x 30) / 100 = 30, still no data
    assert rows(health.scores)["A"] == (30.0, 0.7, "insufficient")


def test_the_default_needs_half_the_weight() -> None:
    assert default_scorecard().bands.min_coverage == 0.5
    with pytest.raises(ConfigError, match="min_coverage"):
        Scorecard.from_text("[bands]\nmin_coverage = 1.5\n[components.nps_latest]\n"
                            "weight = 1\nlinear = [[0, 0], [10, 100]]\n", "bad.toml")


def test_snapshots_store_the_coverage(ws: Workspace) -> None:
    load_company(ws.warehouse)
    (ws.root / "health.toml").write_text(CARD.format(min_coverage=0.75, missing="skip"),
                                         encoding="utf-8")
    ws.health_snapshot(D)
    stored = ws.health_history()
    assert [(r.customer_id, r.coverage, r.band) for r in stored.itertuples()] == [
        ("A", pytest.approx(0.7), "insufficient"), ("B", 1.0, "green")]
    # the stored snapshot is read back as it was written
    assert rows(ws.health(D, stored=True).scores) == rows(ws.health(D).scores)


# One component everyone has (sentiment) and one only P1, P2, N1, N2 have (an NPS answer);
# P3, P4 and N3 cover half the weight, under 0.75: insufficient.
TWO = """
[bands]
min_coverage = 0.75

[components.csm_sentiment]
weight = 1
thresholds = [[-1, 0], [0, 50], [1, 100]]

[components.nps_latest]
weight = 1
thresholds = [[0, 0], [7, 100]]
"""


def test_the_backtest_keeps_insufficient_apart_from_green(company: Workspace) -> None:  # noqa: F811
    (company.root / "health.toml").write_text(TWO, encoding="utf-8")
    insert(company.warehouse, "survey_responses",
           ("response_id", "customer_id", "survey", "score", "responded_at"),
           [(f"R{c}", c, "nps", 9 if s == "positive" else 3, "2024-12-01 10:00:00")
            for c, s, _ in ACCOUNTS if c in ("P1", "P2", "N1", "N2")])
    company.health_snapshot(D1)
    company.health_snapshot(D2)
    b = company.health_backtest(horizon_days=30)
    bands = b.bands.set_index("band")
    # D1: P1 P2 green, N1 N2 red, P3 P4 N3 insufficient; N1 churns.
    # D2: P1 P2 green, N2 red, P3 P4 N3 insufficient; P4 and N2 churn.
    assert bands.loc["green", ["accounts", "churned"]].tolist() == [4, 0]
    assert bands.loc["red", ["accounts", "churned"]].tolist() == [3, 2]
    assert bands.loc["insufficient", ["accounts", "churned"]].tolist() == [6, 1]
    assert (b.observations, b.churned) == (13, 3)
    # the AUC leaves the 6 insufficient ones out: churners N1@D1, N2@D2 (0) against stayers
    # N2@D1 (0, a tie) and four greens (100): (4 + 4 + 0.5 + 0.5) / 10
    assert b.auc == pytest.approx(0.9)
    assert b.lift is None  # no green account churned; P4's churn is not green's
    assert any("6 observation(s) with insufficient data" in n for n in b.notes)


LOW_SCORE = """
[playbooks.save]
title = "Save the account"
steps = [{ title = "Call", due_days = 1 }]

[[rules]]
name = "low-score"
kind = "threshold"
signal = "health_score"
op = "<"
value = 40
playbook = "save"
"""


def test_a_health_score_rule_does_not_fire_on_insufficient_data(company: Workspace) -> None:  # noqa: F811
    (company.root / "health.toml").write_text(TWO, encoding="utf-8")
    (company.root / "alerts.toml").write_text(LOW_SCORE, encoding="utf-8")
    insert(company.warehouse, "survey_responses",
           ("response_id", "customer_id", "survey", "score", "responded_at"),
           [(f"R{c}", c, "nps", 3, "2024-12-01 10:00:00") for c in ("N1", "N2")])
    outcome = company.evaluate_rules(D1, rules=["low-score"], dry_run=True)
    # N1 and N2 score 0 with full coverage; N3 scores 0 on half the weight: insufficient
    assert sorted(f.customer_id for f in outcome.firings) == ["N1", "N2"]


def test_the_api_shows_coverage_and_the_insufficient_band(ws: Workspace) -> None:
    import httpx

    from csmetrics.store.accounts import Accounts
    from tests.serving import served

    load_company(ws.warehouse)
    (ws.root / "health.toml").write_text(CARD.format(min_coverage=0.75, missing="skip"),
                                         encoding="utf-8")
    accounts = Accounts(ws.warehouse.sql)
    accounts.add_user("vera", "viewer-password-1", "viewer")
    token = accounts.create_token("vera", "tests")
    with served(ws) as url, httpx.Client(base_url=f"{url}/api/v1", timeout=120, headers={
            "Authorization": f"Bearer {token}"}) as api:
        listed = api.get("/health", params={"as_of": "2025-03-31"}).json()["rows"]
        assert {r["customer_id"]: (round(r["score"], 4), r["coverage"], r["band"])
                for r in listed} == {"A": (21.4286, 0.7, "insufficient"),
                                     "B": (92.5, 1.0, "green")}
        one = api.get("/health/A", params={"as_of": "2025-03-31"}).json()
        assert (one["coverage"], one["band"]) == (0.7, "insufficient")
        assert "Only 70% of the scorecard's weight has data" in one["summary"]
        # the customers list: on the data end (E's start, 2025-04-15) A still lacks CSAT and
        # E has only tickets (0 of them): 30 of 100; C stopped paying. The fixture's customers
        # have no plan: their subscriptions' (A: S2 pro; C: S4 basic, its last one).
        page = api.get("/customers", params={"sort": "customer_id"}).json()
        got = {r["customer_id"]: (r["plan"], r["mrr"], r["arr"], r["coverage"], r["band"])
               for r in page["items"]}
        assert got == {"A": ("pro", 120.0, 1440.0, 0.7, "insufficient"),
                       "B": ("basic", 50.0, 600.0, 1.0, "green"),
                       "C": ("basic", 0.0, 0.0, None, "not paying"),
                       "E": ("basic", 10.0, 120.0, 0.3, "insufficient")}
        only = api.get("/customers", params={"band": "insufficient"}).json()
        assert sorted(r["customer_id"] for r in only["items"]) == ["A", "E"]
        # MRR change over 30 days (2025-03-16 to 04-15): E started paying 10, A and B as was
        week = api.get("/customers", params={"days": 30, "sort": "customer_id"}).json()
        assert [r["mrr_change"] for r in week["items"]] == [0.0, 0.0, 0.0, 10.0]
        refused = api.get("/customers", params={"days": 12})
        assert refused.status_code == 422 and "7, 30 or 90" in refused.text
