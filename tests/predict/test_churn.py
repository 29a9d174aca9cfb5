"""Churn model: labels by hand, no leakage, a planted signal, time split, reproducibility,
explanations, and a saved model refused when the schema no longer fits."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.predict.churn import (
    ChurnModel,
    evaluate,
    explain_rows,
    load_model,
    save_model,
    train,
)
from csmetrics.predict.features import FEATURES, features_as_of
from csmetrics.predict.observations import labelled_cutoffs, labels
from tests.metrics.revenue_fixtures import memory_warehouse, subscriptions
from tests.predict.churn_fixtures import CUTOFF, END, leakage, planted

S = Settings()


def test_labels_by_hand() -> None:
    wh = memory_warehouse()
    subscriptions(wh, [
        ("1", "A", "p", 10, "month", "2024-01-01", "2024-03-15"),  # leaves inside the horizon
        ("2", "B", "p", 10, "month", "2024-01-01", "2024-05-01"),  # leaves after it
        ("3", "C", "p", 10, "month", "2024-01-01", "2024-02-01"),  # gone before the cutoff
        ("4", "D", "p", 10, "month", "2024-02-10", None),          # starts after the cutoff
        ("5", "E", "p", 10, "month", "2024-01-01", "2024-02-20"),  # leaves and comes back
        ("6", "E", "p", 10, "month", "2024-04-01", None),
    ])
    got = labels(wh.ibis, S, [date(2024, 2, 1)], 60, date(2024, 6, 1))
    # horizon end = 2024-04-01: A pays nothing then (churned), B and E pay
    assert dict(zip(got.customer_id, got.churned, strict=True)) == {"A": 1, "B": 0, "E": 0}
    with pytest.raises(UserInputError, match="not known yet"):
        labels(wh.ibis, S, [date(2024, 5, 1)], 60, date(2024, 6, 1))


def test_labelled_cutoffs_leave_history_and_a_full_horizon() -> None:
    cutoffs = labelled_cutoffs(date(2024, 1, 15), date(2024, 12, 31), 90)
    assert cutoffs[0] == date(2024, 5, 1)  # 90 days of history after Jan 15 -> from May
    assert cutoffs[-1] == date(2024, 10, 1)  # Oct 1 + 90 days <= Dec 31; Nov 1 is not


# -- no leakage ---------------------------------------------------------------------------


def test_features_ignore_everything_after_the_cutoff() -> None:
    before = features_as_of(leakage().ibis, S, CUTOFF)
    after = features_as_of(leakage(with_future=True).ibis, S, CUTOFF)
    pd.testing.assert_frame_equal(before, after)
    assert list(before.customer_id) == ["A", "B"]
    a = before.set_index("customer_id").loc["A"]
    # the ticket resolved after the cutoff is still open as of the cutoff
    assert a["open_tickets"] == 1 and a["tickets_90d"] == 1
    assert a["past_due"] == 0 and a["last_nps"] == 9 and a["mrr"] == 120
    assert a["events_30d"] == 2 and a["active_users_30d"] == 2 and a["seat_utilisation"] == 0.2
    b = before.set_index("customer_id").loc["B"]
    assert b["mrr"] == 50 and b["annual_contract"] == 1 and b["csat_180d"] == pytest.approx(0.4)
    assert b["failed_orders_180d"] == 1 and b["fcr_rate_90d"] == 1


def test_features_do_see_data_up_to_the_cutoff() -> None:
    # positive control: the leakage test above would pass vacuously if nothing were read
    base = features_as_of(leakage().ibis, S, CUTOFF).set_index("customer_id")
    more = features_as_of(leakage(with_more_past=True).ibis, S, CUTOFF).set_index("customer_id")
    assert more.loc["B", "active_users_30d"] == base.loc["B", "active_users_30d"] + 1


def test_features_of_the_planted_company_do_not_change_with_later_data(
        company) -> None:  # noqa: ANN001
    cutoff = date(2024, 3, 1)
    full = features_as_of(company.ibis, S, cutoff)
    wh = planted(customers=120)
    wh.sql.execute("DELETE FROM tickets WHERE opened_at > ?", [cutoff + timedelta(days=1)])
    wh.sql.execute("UPDATE subscriptions SET end_date = NULL WHERE end_date > ?", [cutoff])
    pd.testing.assert_frame_equal(full, features_as_of(wh.ibis, S, cutoff))


# -- the planted signal ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def company():  # noqa: ANN201
    return planted(customers=120)


@pytest.fixture(scope="module")
def model(company) -> ChurnModel:  # noqa: ANN001
    return train(company.ibis, S, horizon_days=90, seed=0, max_cutoffs=8)


def test_the_model_finds_the_planted_signal(model: ChurnModel) -> None:
    scores = model.metadata["scores"]
    assert scores["gradient_boosting"]["roc_auc"] > 0.9
    assert scores["gradient_boosting"]["top_decile_lift"] > 2.5
    assert scores["logistic_regression"]["roc_auc"] > 0.8  # the baseline sees it too
    assert 0 < scores["gradient_boosting"]["brier"] < 0.1
    assert "health_score" not in scores  # no scorecard given


def test_time_split_trains_only_on_labels_known_before_validation(model: ChurnModel) -> None:
    m = model.metadata
    first_valid = date.fromisoformat(m["validation_cutoffs"][0])
    assert m["validation_cutoffs"][-1] == "2024-10-01"  # + 90 days <= 2024-12-31
    # 8 cutoffs: the last quarter (2) validate; trained on those whose horizon ended by then
    assert m["validation_cutoffs"] == ["2024-09-01", "2024-10-01"]
    assert m["train_cutoffs"] == ["2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01"]
    for cutoff in m["train_cutoffs"]:
        assert date.fromisoformat(cutoff) + timedelta(days=m["horizon_days"]) <= first_valid
    assert m["data_end"] == END.isoformat()
    assert m["features"] == list(FEATURES)
    assert {"scikit-learn", "numpy", "scipy", "lifelines"} <= set(m["versions"])


def test_explanations_name_the_planted_feature(company, model: ChurnModel) -> None:  # noqa: ANN001
    frame = features_as_of(company.ibis, S, date(2024, 9, 1))
    p = model.predict(frame)
    riskiest = frame.iloc[[int(np.argmax(p))]]
    top = explain_rows(model, riskiest)[0][0]
    assert top.feature == "tickets_90d" and top.effect > 0
    assert "support tickets in the last 90 days is" in top.sentence
    assert "raises the risk by" in top.sentence


def test_same_seed_same_model(company, model: ChurnModel) -> None:  # noqa: ANN001
    again = train(company.ibis, S, horizon_days=90, seed=0, max_cutoffs=8)
    frame = features_as_of(company.ibis, S, date(2024, 9, 1))
    assert np.array_equal(model.predict(frame), again.predict(frame))
    assert again.metadata["scores"] == model.metadata["scores"]


def test_evaluate_by_hand() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.1, 0.2, 0.3, 0.1, 0.1, 0.2, 0.1, 0.0])
    got = evaluate(y, p)
    # top decile = the one riskiest (a churner): rate 1 / overall 0.2 = lift 5
    assert got["top_decile_lift"] == pytest.approx(5.0)
    assert got["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # churner 0.9 beats all 8 stayers; churner 0.3 beats 6 of 8 (0.8 and ... 0.3 > 0.2)
    assert got["roc_auc"] == pytest.approx((8 + 7) / 16)


def test_training_refuses_data_that_cannot_support_it() -> None:
    with pytest.raises(UserInputError, match="load subscriptions"):
        train(memory_warehouse().ibis, S)
    wh = memory_warehouse()
    subscriptions(wh, [(str(i), f"C{i}", "p", 10, "month", "2024-01-01", None)
                       for i in range(30)])
    with pytest.raises(UserInputError, match="cutoff"):
        train(wh.ibis, S, as_of=date(2024, 6, 1))  # too little history
    with pytest.raises(UserInputError, match="churn"):
        train(wh.ibis, S, as_of=date(2025, 6, 1))  # nobody ever churns


# -- persistence -----------------------------------------------------------------------------


def test_saved_model_round_trips_and_is_refused_when_the_schema_changes(
        tmp_path: Path, company, model: ChurnModel) -> None:  # noqa: ANN001
    with pytest.raises(UserInputError, match="train one"):
        load_model(tmp_path, company.ibis)
    save_model(model, tmp_path)
    meta = json.loads((tmp_path / "models" / "churn.json").read_text())
    assert meta["horizon_days"] == 90 and meta["scores"]["gradient_boosting"]["n"] > 0
    loaded = load_model(tmp_path, company.ibis)
    frame = features_as_of(company.ibis, S, date(2024, 9, 1))
    assert np.array_equal(loaded.predict(frame), model.predict(frame))

    changed = memory_warehouse()
    changed.sql.execute("ALTER TABLE tickets DROP COLUMN contacts")
    with pytest.raises(UserInputError, match=r"tickets\.contacts.*schema changed"):
        load_model(tmp_path, changed.ibis)

    meta["features"] = meta["features"][:-1]
    (tmp_path / "models" / "churn.json").write_text(json.dumps(meta))
    with pytest.raises(UserInputError, match="other features"):
        load_model(tmp_path, company.ibis)


def test_a_model_trained_with_health_scores_refuses_a_changed_scorecard(company) -> None:  # noqa: ANN001
    from csmetrics.health import default_scorecard
    from csmetrics.predict.churn import score, scorecard_fingerprint
    from csmetrics.predict.features import HEALTH

    scorecard = default_scorecard()
    trained_with = ChurnModel(None, [*FEATURES, HEALTH], {},
                              {"scorecard": "0123456789abcdef"})
    assert scorecard_fingerprint(scorecard) != "0123456789abcdef"
    with pytest.raises(UserInputError, match="scorecard changed"):
        score(company.ibis, S, trained_with, date(2024, 9, 1), scorecard=scorecard)


def test_the_latest_scoring_of_each_customer_is_its_risk(ws) -> None:  # noqa: ANN001
    """Scorings of several days are kept; a customer's risk is its latest one (the customer
    list once showed a row per scoring)."""
    from csmetrics.predict.results import latest_churn_risks, replace

    for day, risks in ((date(2026, 5, 31), {"A": 0.9, "B": 0.2}),
                       (date(2026, 6, 30), {"A": 0.4})):
        frame = pd.DataFrame({"customer_id": list(risks), "as_of": day,
                              "probability": list(risks.values())})
        replace(ws.warehouse.sql, "_churn_scores", frame, {"as_of": day})
    latest = latest_churn_risks(ws.warehouse.sql).sort_values("customer_id")
    assert latest.to_dict("records") == [{"customer_id": "A", "probability": 0.4},
                                         {"customer_id": "B", "probability": 0.2}]
