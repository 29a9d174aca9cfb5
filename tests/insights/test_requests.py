"""Feature requests: merging similar wordings, counting customers and MRR, status."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from csmetrics.config import Settings
from csmetrics.insights import scope
from csmetrics.insights.requests import group_requests, pair_scores, request_report
from tests.insights.fixtures import company

LABELLED = Path(__file__).parents[1] / "data" / "voice_labelled.csv"


def test_pair_scores_by_hand():
    # pairs together: (0,1) right, (2,3) wrong; pairs that belong together: (0,1), (1,2), (0,2)
    got = pair_scores([0, 0, 1, 1], ["a", "a", "a", "b"])
    assert got["precision"] == 0.5 and got["recall"] == 1 / 3
    assert got["f1"] == 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3)


def test_merging_quality_on_the_labelled_requests_beats_the_trivial_groupings():
    """On the 50 labelled requests (17 groups), pairs merged together must be right at least
    4 times in 5 (precision >= 0.8: a wrong merge miscounts customers and MRR) and F1 must
    be at least 0.5, six times what merging everything gets (precision 0.043, F1 0.083;
    merging nothing gets F1 0), with recall >= 0.3 so that merging happens at all.
    Measured (complete linkage, threshold 0.15): precision 0.931, recall 0.509, F1 0.659."""
    data = pd.read_csv(LABELLED).dropna(subset=["request"])
    truth = data["request"].tolist()
    assert (len(truth), len(set(truth))) == (50, 17)  # the labelled set is the one described
    everything = pair_scores([0] * len(truth), truth)
    assert everything["f1"] == pytest.approx(0.083, abs=0.001)  # the trivial baseline
    got = pair_scores(group_requests(data["text"].tolist()), truth)
    assert got["precision"] >= 0.8 and got["recall"] >= 0.3, got
    assert got["f1"] >= 0.5 >= 6 * everything["f1"], got


def test_same_wording_is_one_request_and_numbering_is_stable():
    texts = ["Dark mode please", "Export reports to Excel", "dark mode, please!",
             "Excel export of reports", "Audit log of user actions"]
    assert list(group_requests(texts)) == [0, 1, 0, 1, 2]
    assert list(group_requests(texts)) == list(group_requests(texts))
    assert list(group_requests([])) == []
    assert list(group_requests(["the", "a"])) == [0, 1]


def requests_of(rank: str, by: str | None = None) -> pd.DataFrame:
    w = company()
    day = date(2024, 4, 30)
    feedback = w.sql.execute(
        "SELECT feedback_id, customer_id, submitted_at, text, status FROM feedback "
        "WHERE kind IN ('feature_request', 'idea')").df()
    facts = scope.customer_facts(w.ibis, Settings(), day, by)
    return request_report(feedback, facts, as_of=day, by=by, rank=rank).requests


def test_requests_ranked_by_customers_and_by_mrr():
    by_customers = requests_of("customers")
    # Excel export: C1 (100) and C2 (300); dark mode: C3 (no MRR)
    assert by_customers[["label", "customers", "mrr", "texts"]].values.tolist() == [
        ["Export reports to Excel", 2, 400.0, 2], ["Dark mode for the app", 1, 0.0, 1]]
    first = by_customers.iloc[0]
    assert first["statuses"] == {"planned": 1, "open": 1}
    assert first["status"] == "planned"  # a tie: the more advanced status
    assert first["examples"] == ["Export reports to Excel", "Excel export of reports"]
    assert (str(first["first_asked"]), str(first["last_asked"])) == ("2024-03-12", "2024-04-01")
    assert requests_of("mrr")["label"].tolist() == ["Export reports to Excel",
                                                    "Dark mode for the app"]
    by_region = requests_of("customers", "region")
    excel = by_region[by_region.label.str.contains("Excel")].set_index("region")
    assert excel.loc["EMEA", "mrr"] == 100.0 and excel.loc["NA", "mrr"] == 300.0
