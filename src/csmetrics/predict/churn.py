"""Churn risk: a calibrated gradient-boosted model, its baselines, explanations, persistence.

Training (``train``): monthly cutoffs whose horizon has passed give observations (customer
paying on the cutoff, features as of the cutoff, label = not paying ``horizon`` days later).
The split is by time: the last quarter of the cutoffs (at least one) validate; the model
learns only from cutoffs whose whole horizon ends on or before the first validation cutoff,
so no training label peeks into the validation period. On the validation cutoffs it reports,
for the model and its baselines (a logistic regression on the same features; the health score
when the health module can score as of a date):

* ROC AUC: the chance a churner is ranked above a stayer;
* PR AUC (average precision): precision over all recall levels, against the churn rate;
* Brier score: mean squared error of the probabilities (lower is better, calibration counts);
* top-decile lift: churn rate among the riskiest 10 % / overall churn rate.

The saved model is then refitted on every labelled cutoff. The model is scikit-learn's
``HistGradientBoostingClassifier`` inside ``CalibratedClassifierCV`` (sigmoid, 3 folds), so
its probabilities are calibrated. Explanations replace one feature at a time with its training
median and report how much the probability moves.
"""

from __future__ import annotations

import io
import json
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from ibis.backends import BaseBackend

from csmetrics.clock import default_clock
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.metrics.engine import data_end, workspace_today
from csmetrics.predict.features import (
    FEATURES,
    HEALTH,
    MEANINGS,
    TABLE_COLUMNS,
    feature_matrix,
    features_as_of,
)
from csmetrics.predict.observations import labelled_cutoffs, labels
from csmetrics.store.appstore import AppConnection, serialize
from csmetrics.store.sql import first, transaction

__all__ = ["ChurnModel", "Explanation", "SavedModel", "evaluate", "load_model", "save_model",
           "saved_model", "score", "train"]

MODEL_NAME = "churn"
MODEL_DIR = "models"
MODEL_FILE = "churn.joblib"
META_FILE = "churn.json"
MIN_CHURNS = 10
Step = Callable[[str], None]


def _versions() -> dict[str, str]:
    import joblib
    import lifelines
    import scipy
    import sklearn

    from csmetrics._version import __version__ as ours

    return {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
            "numpy": np.__version__, "scipy": scipy.__version__, "pandas": pd.__version__,
            "joblib": joblib.__version__, "lifelines": lifelines.__version__, "csmetrics": ours}


def gradient_boosting(seed: int) -> Any:
    """The churn model: gradient-boosted trees with sigmoid-calibrated probabilities."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    # shallow trees, large leaves: churn data has few events per feature (a few hundred)
    trees = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=200, max_depth=2, min_samples_leaf=50,
        l2_regularization=1.0, random_state=seed)
    return CalibratedClassifierCV(trees, method="sigmoid", cv=3)


def logistic_regression(seed: int) -> Any:
    """The baseline: median-imputed (with missing indicators), standardised logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", add_indicator=True,
                                       keep_empty_features=True),
                         StandardScaler(), LogisticRegression(max_iter=5000, random_state=seed))


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, top-decile lift, n and churn rate of predictions ``p``."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y, p = np.asarray(y, int), np.asarray(p, float)
    rate = float(y.mean()) if len(y) else math.nan
    both = len(set(y.tolist())) == 2
    top = max(1, int(math.ceil(len(y) * 0.1)))
    order = np.argsort(-p, kind="stable")
    lift = float(y[order[:top]].mean() / rate) if rate > 0 else math.nan
    return {
        "roc_auc": float(roc_auc_score(y, p)) if both else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if both else math.nan,
        "brier": float(brier_score_loss(y, p)) if len(y) else math.nan,
        "top_decile_lift": lift, "n": int(len(y)), "churn_rate": rate,
    }


def scorecard_fingerprint(scorecard: Any) -> str | None:
    """A short hash of the health scorecard a model was trained with (None without one)."""
    if scorecard is None:
        return None
    import hashlib

    return hashlib.sha256(scorecard.model_dump_json().encode()).hexdigest()[:16]


@dataclass
class ChurnModel:
    """A trained churn model with everything needed to score and explain: the estimator, the
    feature names, the training medians and the metadata that was saved beside it."""

    estimator: Any
    features: list[str]
    medians: dict[str, float]
    metadata: dict[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of churning within the horizon, per row of ``frame``."""
        return predict_proba(self.estimator, prepare(frame, self.features, self.medians))

    def __repr__(self) -> str:
        m = self.metadata
        return (f"<ChurnModel horizon={m.get('horizon_days')}d trained on "
                f"{m.get('n_observations')} observations, cutoffs {m.get('first_cutoff')}.."
                f"{m.get('last_cutoff')}>")


def prepare(frame: pd.DataFrame, features: list[str], medians: dict[str, float]) -> np.ndarray:
    """The feature matrix; a feature that had no value at all in training (median NaN, e.g.
    no NPS survey ever) is set to 0 so the trees can bin it."""
    x = frame[features].to_numpy(float)
    for j, name in enumerate(features):
        if math.isnan(medians[name]):
            x[:, j] = 0.0
    return x


def predict_proba(estimator: Any, x: np.ndarray) -> np.ndarray:
    """P(churn) per row, on one thread (OpenMP threads thrash on a busy machine); clipped to
    [0, 1], as calibration's floating point can land a hair outside it."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return np.clip(estimator.predict_proba(x)[:, 1], 0.0, 1.0)


def _fit(estimator: Any, x: np.ndarray, y: np.ndarray) -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return estimator.fit(x, y)


def train(con: BaseBackend, settings: Settings, *, horizon_days: int = 90,
          as_of: date | None = None, seed: int = 0, max_cutoffs: int = 12,
          scorecard: Any = None, on_step: Step | None = None) -> ChurnModel:
    """Build observations on the last ``max_cutoffs`` labelled monthly cutoffs, evaluate the
    model and its baselines on the later ones, refit on all. ``scorecard`` (a
    ``csmetrics.health.Scorecard``) adds the health score as a feature and as a baseline."""
    step = on_step or (lambda message: None)
    end = as_of or data_end(con, workspace_today(settings))
    first = _first_service_day(con)
    if first is None:
        raise UserInputError("No subscriptions: the churn model learns from customers who "
                             "pay; load subscriptions first.")
    cutoffs = labelled_cutoffs(first, end, horizon_days)[-max_cutoffs:]
    if len(cutoffs) < 3:
        raise UserInputError(
            f"Only {len(cutoffs)} monthly cutoff(s) between {first} + 90 days of history and "
            f"{end} - {horizon_days} days: the churn model needs at least 3 (one to validate). "
            "Load more history or use a shorter --horizon.")
    n_valid = max(1, len(cutoffs) // 4)
    valid_cutoffs = cutoffs[-n_valid:]
    train_cutoffs = [c for c in cutoffs if c + timedelta(days=horizon_days) <= valid_cutoffs[0]]
    if not train_cutoffs:
        raise UserInputError("No cutoff's horizon ends before the validation period starts; "
                             "use a shorter --horizon or load more history.")
    step(f"labels for {len(cutoffs)} cutoffs")
    y_all = labels(con, settings, cutoffs, horizon_days, end)
    for name, chosen in (("training", train_cutoffs), ("validation", valid_cutoffs)):
        churned = y_all.loc[y_all["cutoff"].isin(chosen), "churned"]
        churns, stays = int(churned.sum()), int((churned == 0).sum())
        if churns < (MIN_CHURNS if name == "training" else 1) or stays < 1:
            raise UserInputError(
                f"The {name} cutoffs have {churns} churn(s) and {stays} stay(s): too few to "
                f"learn from (need {MIN_CHURNS} churns to train, 1 to validate). Load more "
                "history or use a longer --horizon.")
    step(f"features as of {len(cutoffs)} cutoffs" + (" (with health scores)" if scorecard
                                                      is not None else ""))
    started = time.perf_counter()
    x_all = feature_matrix(con, settings, cutoffs, scorecard)
    feature_seconds = time.perf_counter() - started
    data = y_all.merge(x_all, on=["customer_id", "cutoff"], how="inner")
    features = list(FEATURES) + ([HEALTH] if scorecard is not None else [])
    is_train = data["cutoff"].isin(train_cutoffs).to_numpy()
    is_valid = data["cutoff"].isin(valid_cutoffs).to_numpy()
    y = data["churned"].to_numpy(int)
    medians = {f: float(np.nanmedian(data[f])) if data[f].notna().any() else math.nan
               for f in features}
    x = prepare(data, features, medians)
    step("fitting on the training cutoffs")
    started = time.perf_counter()
    candidates = {"gradient_boosting": gradient_boosting(seed),
                  "logistic_regression": logistic_regression(seed)}
    scores = {}
    for name, estimator in candidates.items():
        _fit(estimator, x[is_train], y[is_train])
        scores[name] = evaluate(y[is_valid], predict_proba(estimator, x[is_valid]))
    fit_seconds = time.perf_counter() - started
    if scorecard is not None:
        # the baseline: risk = (100 - health score) / 100 read as a probability; accounts the
        # health module did not score get the median
        health = data.loc[is_valid, HEALTH].to_numpy(float)
        if not np.isnan(health).all():
            health = np.where(np.isnan(health), np.nanmedian(health), health)
            scores["health_score"] = evaluate(y[is_valid], np.clip((100 - health) / 100, 0, 1))
    step("refitting on every labelled cutoff")
    started = time.perf_counter()
    final = _fit(gradient_boosting(seed), x, y)
    fit_seconds += time.perf_counter() - started
    metadata = {
        "kind": "churn", "horizon_days": horizon_days, "seed": seed,
        "trained_at": default_clock().now().isoformat(timespec="seconds"),
        "data_end": end.isoformat(), "first_cutoff": cutoffs[0].isoformat(),
        "last_cutoff": cutoffs[-1].isoformat(),
        "train_cutoffs": [c.isoformat() for c in train_cutoffs],
        "validation_cutoffs": [c.isoformat() for c in valid_cutoffs],
        "n_observations": len(data), "n_churned": int(y.sum()),
        "n_train": int(is_train.sum()), "n_validation": int(is_valid.sum()),
        "features": features, "feature_meaning": FEATURES, "medians": medians,
        "schema": TABLE_COLUMNS, "scores": scores,
        "scorecard": scorecard_fingerprint(scorecard),
        "feature_seconds": round(feature_seconds, 3), "fit_seconds": round(fit_seconds, 3),
        "versions": _versions(),
    }
    return ChurnModel(final, features, medians, metadata)


def _first_service_day(con: BaseBackend) -> date | None:
    s = con.table("subscriptions")
    value = con.execute(s.start_date.min())
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


# -- persistence -------------------------------------------------------------------------
#
# A model is saved twice: as one row of ``_models`` in the app store (``name``, ``version``,
# the metadata JSON, the joblib bytes), so that every server sharing the app store (PostgreSQL)
# scores with it, and as ``models/churn.joblib`` + ``models/churn.json`` in the workspace,
# which people read. ``load_model`` takes the app store's newest version, and the files when
# the app store has none (a model trained before models were kept there). Each training adds
# a version; the newest ``KEEP_VERSIONS`` are kept, the older ones deleted in the same
# transaction.

#: The newest versions of a model the app store keeps (the last is the one in use).
KEEP_VERSIONS = 3


@dataclass(frozen=True)
class SavedModel:
    """One saved model as stored: where it was read from (for messages), its metadata and
    the estimator's bytes as ``joblib`` wrote them."""

    origin: str
    metadata: dict[str, Any]
    artifact: bytes


def _who() -> str:
    """``user@host`` of this process, for ``_models.trained_by``."""
    import getpass

    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a container): the host alone
        user = "?"
    return f"{user}@{platform.node()}"


def save_model(model: ChurnModel, root: Path, app: AppConnection | None = None, *,
               trained_by: str | None = None) -> Path:
    """Write the model to the app store ``app`` (a new version of ``churn`` in ``_models``;
    the newest ``KEEP_VERSIONS`` kept) and to ``models/churn.joblib`` and
    ``models/churn.json`` (metadata, human-readable). Without ``app``, the files only."""
    import joblib

    buffer = io.BytesIO()
    joblib.dump({"estimator": model.estimator, "features": model.features,
                 "medians": model.medians}, buffer)
    artifact = buffer.getvalue()
    text = json.dumps(_jsonable(model.metadata), indent=2) + "\n"
    if app is not None:
        trained_at = model.metadata.get("trained_at")
        when = datetime.fromisoformat(trained_at) if trained_at else default_clock().now()
        with transaction(app):
            serialize(app, f"models:{MODEL_NAME}")  # two servers training at once
            row = first(app.execute("SELECT coalesce(max(version), 0) FROM _models "
                                    "WHERE name = ?", [MODEL_NAME]))
            version = int(row[0]) + 1 if row else 1
            app.execute("INSERT INTO _models (name, version, metadata, artifact, trained_at, "
                        "trained_by) VALUES (?, ?, ?, ?, ?, ?)",
                        [MODEL_NAME, version, text, artifact, when, trained_by or _who()])
            app.execute("DELETE FROM _models WHERE name = ? AND version <= ?",
                        [MODEL_NAME, version - KEEP_VERSIONS])
    folder = root / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / (MODEL_FILE + ".tmp")
    tmp.write_bytes(artifact)
    tmp.replace(folder / MODEL_FILE)
    (folder / META_FILE).write_text(text, encoding="utf-8")
    return folder / MODEL_FILE


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def saved_model(root: Path, app: AppConnection | None = None) -> SavedModel | None:
    """The newest saved churn model as stored, unread: the app store's newest version of
    ``churn``, else the files under ``root/models`` (a model saved before the app store kept
    models); None when there is neither."""
    if app is not None:
        row = first(app.execute("SELECT version, metadata, artifact FROM _models WHERE "
                                "name = ? ORDER BY version DESC LIMIT 1", [MODEL_NAME]))
        if row is not None:
            return SavedModel(f"the app store's _models ({MODEL_NAME}, version {row[0]})",
                              json.loads(row[1]), bytes(row[2]))
    path, meta_path = root / MODEL_DIR / MODEL_FILE, root / MODEL_DIR / META_FILE
    if not path.is_file() or not meta_path.is_file():
        return None
    return SavedModel(f"{path} and {meta_path}",
                      json.loads(meta_path.read_text(encoding="utf-8")), path.read_bytes())


def load_model(root: Path, con: BaseBackend, app: AppConnection | None = None) -> ChurnModel:
    """The saved model (the app store's newest, else the files: :func:`saved_model`), after
    checking it still fits: same features, same library versions, and a warehouse that still
    has every column the features read."""
    import joblib
    import sklearn

    saved = saved_model(root, app)
    if saved is None:
        where = "the app store or " if app is not None else ""
        raise UserInputError(f"No churn model in {where}{root / MODEL_DIR}; train one with "
                             "'csmetrics predict churn train'.")
    metadata = saved.metadata
    retrain = "Retrain it with 'csmetrics predict churn train'."
    if metadata.get("features") not in (list(FEATURES), [*FEATURES, HEALTH]):
        raise UserInputError(f"The saved churn model ({saved.origin}) was trained on other "
                             f"features than this version of csmetrics builds. {retrain}")
    made_with = metadata.get("versions", {}).get("scikit-learn")
    if made_with != sklearn.__version__:
        raise UserInputError(f"The saved churn model was made with scikit-learn {made_with}; "
                             f"this is {sklearn.__version__}, which may read it wrongly. "
                             f"{retrain}")
    for table, columns in metadata.get("schema", {}).items():
        try:
            have = set(con.table(table).columns)
        except Exception:  # noqa: BLE001 - a missing table is a changed schema too
            have = set()
        missing = [c for c in columns if c not in have]
        if missing:
            raise UserInputError(f"The saved churn model reads {table}.{', '.join(missing)}, "
                                 f"which the warehouse no longer has: the schema changed. "
                                 f"{retrain}")
    stored = joblib.load(io.BytesIO(saved.artifact))
    if stored.get("features") != metadata["features"]:
        raise UserInputError(f"The estimator and the metadata in {saved.origin} do not "
                             f"belong together. {retrain}")
    return ChurnModel(stored["estimator"], stored["features"], stored["medians"], metadata)


# -- scoring and explaining -----------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """One feature's push on one account's risk: its value, the typical (training median)
    value, and ``effect`` = probability now - probability with the typical value."""

    feature: str
    value: float
    typical: float
    effect: float

    @property
    def sentence(self) -> str:
        """The push in words, e.g. 'product events in the last 30 days is 2 (typical 8):
        raises the risk by 12 points'."""
        verb = "raises" if self.effect > 0 else "lowers"
        return (f"{MEANINGS.get(self.feature, self.feature)} is {_fmt(self.value)} "
                f"(typical {_fmt(self.typical)}): {verb} the risk by "
                f"{abs(self.effect) * 100:.1f} points")


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    return f"{value:,.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.2f}"


def explain_rows(model: ChurnModel, frame: pd.DataFrame) -> list[list[Explanation]]:
    """For every row, each feature's effect (see ``Explanation``), strongest first."""
    x = prepare(frame, model.features, model.medians)
    base = predict_proba(model.estimator, x)
    effects = np.zeros_like(x)
    for j, name in enumerate(model.features):
        if math.isnan(model.medians[name]):
            continue  # never seen in training: it cannot push the risk
        swapped = x.copy()
        swapped[:, j] = model.medians[name]
        effects[:, j] = base - predict_proba(model.estimator, swapped)
    out = []
    for i in range(len(x)):
        order = np.argsort(-np.abs(effects[i]), kind="stable")
        out.append([Explanation(model.features[j], float(x[i, j]),
                                float(model.medians[model.features[j]]), float(effects[i, j]))
                    for j in order if effects[i, j] != 0])
    return out


def _features(con: BaseBackend, settings: Settings, model: ChurnModel, as_of: date,
              scorecard: Any) -> pd.DataFrame:
    """Features as of ``as_of`` as the model wants them (with the health score if it was
    trained with one, refused if the scorecard changed since)."""
    if HEALTH not in model.features:
        return features_as_of(con, settings, as_of)
    if scorecard_fingerprint(scorecard) != model.metadata.get("scorecard"):
        raise UserInputError("The health scorecard changed since the churn model was trained "
                             "(its health_score feature means something else now). Retrain it "
                             "with 'csmetrics predict churn train'.")
    return features_as_of(con, settings, as_of, scorecard)


def score(con: BaseBackend, settings: Settings, model: ChurnModel,
          as_of: date | None = None, scorecard: Any = None) -> pd.DataFrame:
    """Risk of every customer paying on ``as_of`` (default: the data's last day):
    ``customer_id``, ``as_of``, ``probability``, ``risk_decile`` (10 = riskiest tenth) and
    ``reasons`` (the three strongest pushes, in words)."""
    as_of = as_of or data_end(con, workspace_today(settings))
    frame = _features(con, settings, model, as_of, scorecard)
    if frame.empty:
        raise UserInputError(f"No customer pays on {as_of}; nothing to score.")
    p = model.predict(frame)
    explanations = explain_rows(model, frame)
    ranks = pd.Series(p).rank(method="first", pct=True)
    out = pd.DataFrame({
        "customer_id": frame["customer_id"], "as_of": as_of, "probability": p,
        "risk_decile": np.ceil(ranks * 10).astype(int).clip(1, 10),
        "reasons": ["; ".join(e.sentence for e in ex[:3]) for ex in explanations],
        "model_trained_at": model.metadata.get("trained_at"),
    })
    return out.sort_values("probability", ascending=False, ignore_index=True)


def explain(con: BaseBackend, settings: Settings, model: ChurnModel, customer: str,
            as_of: date | None = None, top: int = 5,
            scorecard: Any = None) -> tuple[float, list[Explanation]]:
    """One customer's risk and its ``top`` strongest pushes."""
    as_of = as_of or data_end(con, workspace_today(settings))
    frame = _features(con, settings, model, as_of, scorecard)
    row = frame[frame["customer_id"] == customer]
    if row.empty:
        raise UserInputError(f"Customer {customer!r} does not pay on {as_of}, so it has no "
                             "churn risk; check the id ('csmetrics predict churn score' lists "
                             "the customers scored).")
    return float(model.predict(row)[0]), explain_rows(model, row)[0][:top]
