"""Backtest: how well stored health scores separated the accounts that churned afterwards.

An observation is one account in one snapshot (date D). It **churned within the horizon** when
it had MRR > 0 on D (every scored account does) and MRR = 0 on D + horizon days. Only
snapshots whose D + horizon is on or before the end of the data are used (later ones cannot
be labelled yet). Labels are the only thing read after D; the scores themselves were computed
from the data known on D.

Reported: ROC AUC of the score (the chance that a random churner scored lower than a random
account that stayed: 0.5 = no signal, 1 = perfect; accounts banded ``insufficient``, whose
score rests on too little data, are left out of it), churn rate per band (``insufficient``
is a band of its own, never counted as green), lift of red over green (red's churn rate /
green's), and a suggested re-weighting: a logistic regression of
churn on the component points, fitted on the earlier half of the dates and evaluated on the
later half, whose negative coefficients become weights. Its AUC on the later dates, beside the
current weights' AUC on the same dates, is the honest comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.config import Settings
from csmetrics.health.score import NEUTRAL
from csmetrics.health.scorecard import BANDS, INSUFFICIENT
from csmetrics.metrics.context import MetricContext
from csmetrics.metrics.money import customer_mrr_on
from csmetrics.metrics.periods import Grain
from csmetrics.metrics.policy import Policy

if TYPE_CHECKING:
    import ibis
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


@dataclass(frozen=True)
class Reweighting:
    """A suggested set of weights, fitted on ``train_dates`` and tested on ``test_dates``."""

    train_dates: list[date]
    test_dates: list[date]
    weights: dict[str, float]  # component -> suggested weight (sums to 100)
    current_weights: dict[str, float]  # component -> current weight (sums to 100)
    auc_current_train: float | None
    auc_current_test: float | None
    auc_suggested_train: float | None
    auc_suggested_test: float | None


@dataclass(frozen=True)
class Backtest:
    """The result of ``backtest``; ``bands`` has band, accounts, churned, churn_rate."""

    horizon_days: int
    dates: list[date]
    skipped_dates: list[date]
    observations: int
    churned: int
    auc: float | None
    bands: pd.DataFrame
    lift: float | None
    reweighting: Reweighting | None
    notes: list[str] = field(default_factory=list)


def churn_labels(con: BaseBackend, settings: Settings, dates: list[date],
                 horizon_days: int) -> pd.DataFrame:
    """``as_of``, ``customer_id`` of every account that still had MRR > 0 on as_of + horizon
    (any account scored on as_of and absent here churned)."""
    ctx = MetricContext(con=con, grain=Grain.MONTH, starts=[min(dates)],
                        policy=Policy.from_settings(settings.policy), options=settings.metrics,
                        currency=settings.workspace.currency)
    try:
        later = [d + timedelta(days=horizon_days) for d in dates]
        days = ibis.memtable({"day": later, "as_of": dates}).mutate(
            day=ibis._.day.cast("date"), as_of=ibis._.as_of.cast("date"))
        mrr = customer_mrr_on(ctx, days.select("day"))
        mrr = mrr.filter(mrr.mrr > 0)
        kept = days.join(mrr, "day").select("as_of", "customer_id")
        return con.execute(kept)
    finally:
        ctx.close()


def auc(churned: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of a low score predicting churn (None without both outcomes)."""
    from sklearn.metrics import roc_auc_score  # imported here: it costs every command 1.5 s

    ok = ~np.isnan(score)
    if len(set(churned[ok].tolist())) < 2:
        return None
    return float(roc_auc_score(churned[ok], -score[ok]))


def backtest(con: BaseBackend, settings: Settings, scores: pd.DataFrame,
             components: pd.DataFrame, horizon_days: int, data_end: date) -> Backtest:
    """Evaluate stored ``scores`` (and their ``components``) against churn within the horizon."""
    all_dates = sorted({pd.Timestamp(d).date() for d in scores["as_of"]})
    dates = [d for d in all_dates if d + timedelta(days=horizon_days) <= data_end]
    skipped = [d for d in all_dates if d not in dates]
    notes = []
    if skipped:
        notes.append(f"{len(skipped)} snapshot date(s) after {data_end - timedelta(horizon_days)}"
                     f" left out: their {horizon_days}-day outcome is not in the data yet.")
    if not dates:
        empty = pd.DataFrame(columns=["band", "accounts", "churned", "churn_rate"])
        return Backtest(horizon_days, [], skipped, 0, 0, None, empty, None, None, notes)
    scores = scores.assign(as_of=pd.to_datetime(scores["as_of"]).dt.date)
    scores = scores[scores["as_of"].isin(dates)].copy()
    kept = churn_labels(con, settings, dates, horizon_days)
    kept["as_of"] = pd.to_datetime(kept["as_of"]).dt.date
    kept["stayed"] = True
    obs = scores.merge(kept, on=["as_of", "customer_id"], how="left")
    obs["churned"] = obs["stayed"].isna().astype(int)
    y = obs["churned"].to_numpy()
    enough = (obs["band"] != INSUFFICIENT).to_numpy()
    overall = auc(y[enough], obs["score"].to_numpy(dtype="float64")[enough])
    if not enough.all():
        notes.append(f"{int((~enough).sum())} observation(s) with insufficient data (too "
                     "little of the scorecard's weight backed by data) left out of the AUC.")
    per_band = obs.groupby("band").agg(accounts=("churned", "size"), churned=("churned", "sum"))
    per_band = per_band.reindex([b for b in BANDS if b in per_band.index]).reset_index()
    per_band["churn_rate"] = per_band["churned"] / per_band["accounts"]
    rates = dict(zip(per_band["band"], per_band["churn_rate"], strict=True))
    lift = None
    if rates.get("red") is not None and rates.get("green"):
        lift = float(rates["red"] / rates["green"])
    elif "red" in rates:
        notes.append("Lift not defined: no green account churned.")
    comps = components.assign(as_of=pd.to_datetime(components["as_of"]).dt.date)
    comps = comps[comps["as_of"].isin(dates)]
    reweighting = suggest_weights(obs, comps, dates, notes)
    return Backtest(horizon_days, dates, skipped, len(obs), int(y.sum()), overall, per_band,
                    lift, reweighting, notes)


def suggest_weights(obs: pd.DataFrame, comps: pd.DataFrame, dates: list[date],
                    notes: list[str]) -> Reweighting | None:
    """Fit weights on the earlier half of ``dates``, evaluate them on the later half."""
    if len(dates) < 2:
        notes.append("Re-weighting needs at least two snapshot dates (fit on the earlier, test "
                     "on the later); rebuild history over a longer range.")
        return None
    cut = len(dates) // 2
    train_dates, test_dates = dates[:cut], dates[cut:]
    points = comps.pivot_table(index=["as_of", "customer_id"], columns="component",
                               values="points", aggfunc="first", dropna=False)
    current = comps.groupby("component")["weight"].first()
    names = list(current.index)
    points = points.reindex(columns=names)
    frame = obs.set_index(["as_of", "customer_id"])[["churned", "score"]].join(points)
    train = frame[frame.index.get_level_values("as_of").isin(train_dates)]
    test = frame[frame.index.get_level_values("as_of").isin(test_dates)]
    if train["churned"].nunique() < 2:
        notes.append("Re-weighting skipped: no churn (or no retention) on the training dates.")
        return None
    from sklearn.linear_model import LogisticRegression

    x_train = train[names].fillna(NEUTRAL).to_numpy() / 100.0
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x_train, train["churned"].to_numpy())
    raw = np.clip(-model.coef_[0], 0.0, None)
    if raw.sum() == 0:
        notes.append("Re-weighting found no component whose points lower churn.")
        return None
    suggested = dict(zip(names, np.round(raw / raw.sum() * 100, 1).tolist(), strict=True))

    def weighted(part: pd.DataFrame, weights: dict[str, float]) -> np.ndarray:
        p = part[names].to_numpy(dtype="float64")
        w = np.array([weights[n] for n in names])
        present = ~np.isnan(p)
        total = (present * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (np.nan_to_num(p) * w).sum(axis=1) / total, np.nan)

    def score_auc(part: pd.DataFrame, weights: dict[str, float] | None) -> float | None:
        s = part["score"].to_numpy(dtype="float64") if weights is None else weighted(part, weights)
        return auc(part["churned"].to_numpy(), s)

    return Reweighting(
        train_dates=train_dates, test_dates=test_dates, weights=suggested,
        current_weights={n: round(float(current[n]) * 100, 1) for n in names},
        auc_current_train=score_auc(train, None), auc_current_test=score_auc(test, None),
        auc_suggested_train=score_auc(train, suggested),
        auc_suggested_test=score_auc(test, suggested),
    )
