"""Themes: what customers talk about, found in their own words.

Method (chosen by measured quality on ``tests/data/voice_labelled.csv``, 288 comments, notes
and requests labelled by hand with one of 8 themes): **TF-IDF + keyword-anchored NMF**.

Texts become TF-IDF vectors (English stop words removed, sublinear term frequency). A
non-negative matrix factorisation ``X ~ W H`` then finds themes, where each anchored theme's
term profile (a row of ``H``) starts at, and is pulled towards, a short list of seed words
(``THEME_ANCHORS``: "onboarding", "setup", "kickoff" ... for onboarding). The pull is a
penalty ``lambda ||H_anchored - A||^2`` added to the usual squared error, solved by
multiplicative updates (Lee & Seung 2001, with the penalty of a regularised NMF), so a theme
keeps its name while learning the words the workspace actually uses ("go-live", "wizard").
``extra_themes`` adds unanchored themes, named by their top terms, for subjects the anchors
do not cover. A theme none of whose seed words occurs in the texts is left out. A text
belongs to the theme with the largest weight in its row of ``W``; a text sharing no word
with any theme is ``(none)``.

Measured with ``csmetrics.insights.themes.evaluate`` (seed 0) on the labelled set and on
the demo company's survey comments and feedback (``csmetrics demo --customers 500 --months
24``; 1,502 texts whose generator theme is known), accuracy of the theme name:

================================================  ========  ====
method                                            labelled  demo
================================================  ========  ====
plain NMF, 8 themes, majority mapping to labels   44 %      40 %
plain NMF, 16 themes, majority mapping            47 %      50 %
keywords only (largest anchor-word weight)        71 %      -
anchored NMF, strength 0.01                       80 %      43 %
anchored NMF, strength 0.03                       79 %      71 %
anchored NMF, strength 0.1                        77 %      77 %
anchored NMF, strength 0.3 (the default)          76 %      78 %
anchored NMF, strength 0.3, + 2 unanchored        63 %      51 %
================================================  ========  ====

Weak anchoring fits the small hand-written set best but lets themes drift to the demo's
recurring stock phrases ("hope this gets better"); 0.3 is best on the two sets together.
Unanchored extra themes hurt both (they take texts from the named themes), so the default
has none.

Everything is seeded: the same texts and seed give the same themes, weights and labels.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.errors import UserInputError
from csmetrics.store.sql import replace_rows, transaction

__all__ = [
    "NO_THEME",
    "THEME_ANCHORS",
    "ThemeModel",
    "ThemeReport",
    "evaluate",
    "save_themes",
    "theme_report",
]

NO_THEME = "(none)"

#: Seed words of the default themes. Words match a vocabulary term exactly or with a plural,
#: -ing or -ed ending ("report" matches "reports", "reporting", "reported").
THEME_ANCHORS: dict[str, tuple[str, ...]] = {
    "onboarding": ("onboarding", "setup", "implementation", "kickoff", "training", "live",
                   "rollout", "started", "guide", "wizard"),
    "pricing": ("price", "pricing", "cost", "expensive", "cheap", "invoice", "billing",
                "discount", "budget", "fee"),
    "performance": ("slow", "fast", "speed", "load", "latency", "lag", "timeout",
                    "performance", "quick"),
    "reporting": ("report", "reporting", "dashboard", "chart", "analytics", "export",
                  "metric"),
    "support": ("support", "ticket", "agent", "response", "help", "csm", "manager", "service",
                "reply"),
    "integrations": ("integration", "api", "sync", "connector", "salesforce", "hubspot",
                     "slack", "jira", "zapier", "webhook"),
    "usability": ("interface", "ui", "navigation", "intuitive", "easy", "design", "click",
                  "confusing", "mobile", "menu"),
    "reliability": ("outage", "down", "downtime", "bug", "crash", "error", "stable",
                    "reliable", "uptime"),
}
_ENDINGS = ("", "s", "es", "ing", "ed", "d")


@dataclass
class ThemeModel:
    """TF-IDF + keyword-anchored NMF (see the module docstring).

    Parameters
    ----------
    anchors
        Theme name -> seed words; empty for plain (unanchored) NMF.
    extra_themes
        Unanchored themes besides the anchored ones, named by their top terms.
    anchor_strength
        The penalty's weight per text (lambda = anchor_strength x number of texts): 0 lets
        themes drift freely from their seed words, large values keep them on the seeds.
    seed
        Random seed of the initialisation: same texts and seed, same themes.
    iterations
        Multiplicative-update rounds.
    """

    anchors: Mapping[str, Sequence[str]] = None  # type: ignore[assignment]
    extra_themes: int = 0
    anchor_strength: float = 0.3
    seed: int = 0
    iterations: int = 200

    def __post_init__(self) -> None:
        if self.anchors is None:
            self.anchors = THEME_ANCHORS
        if self.extra_themes < 0 or (not self.anchors and self.extra_themes == 0):
            raise UserInputError("Themes need anchors or extra_themes >= 1.")

    # -- fitting -------------------------------------------------------------------------

    def fit(self, texts: Sequence[str]) -> ThemeModel:
        """Learn the vocabulary and the themes' term profiles from ``texts``; returns self.

        Sets ``vectorizer_``, ``terms_``, ``components_`` (themes x terms), ``names_`` (a
        readable label per theme), ``top_terms_`` and ``weights_`` (texts x themes)."""
        from sklearn.feature_extraction.text import TfidfVectorizer  # slow: only when used

        texts = [str(t) for t in texts]
        if not texts:
            raise UserInputError("No texts to find themes in; load comments, notes or "
                                 "feedback first.")
        self.vectorizer_ = TfidfVectorizer(stop_words="english", sublinear_tf=True,
                                           token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z0-9]+\b")
        try:
            x = self.vectorizer_.fit_transform(texts)
        except ValueError:  # only stop words
            raise UserInputError("The texts have no words to find themes in.") from None
        self.terms_ = self.vectorizer_.get_feature_names_out()
        anchors = self._anchor_matrix()
        # a theme none of whose seed words occurs has no evidence here: leave it out rather
        # than let it drift onto any subject
        present = anchors.any(axis=1)
        anchors = anchors[present]
        names = [n for n, keep in zip(self.anchors, present, strict=True) if keep]
        self.weights_, self.components_ = self._factorise(x.tocsr(), anchors)
        self.top_terms_ = [list(self.terms_[np.argsort(-row, kind="stable")[:8]])
                           for row in self.components_]
        for row in self.top_terms_[len(names):]:
            names.append(" / ".join(row[:2]))
        self.names_ = names
        return self

    def _anchor_matrix(self) -> np.ndarray:
        index = {t: i for i, t in enumerate(self.terms_)}
        a = np.zeros((len(self.anchors), len(self.terms_)))
        for row, words in enumerate(self.anchors.values()):
            for word in words:
                for ending in _ENDINGS:
                    j = index.get(word.lower() + ending)
                    if j is not None:
                        a[row, j] = 1.0
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        return np.divide(a, norms, out=np.zeros_like(a), where=norms > 0)

    def _factorise(self, x: Any, anchors: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
        n, m = x.shape
        k_anchor = anchors.shape[0]
        k = k_anchor + self.extra_themes
        if k == 0:
            return np.zeros((n, 0)), np.zeros((0, m))
        rng = np.random.default_rng(self.seed)
        target = np.vstack([anchors, np.zeros((self.extra_themes, m))])
        pulled = np.array([1.0] * k_anchor + [0.0] * self.extra_themes)[:, None]
        lam = self.anchor_strength * n
        h = target + rng.random((k, m)) * 0.01
        w = np.maximum(np.asarray(x @ h.T), 0.0) + rng.random((n, k)) * 0.01
        eps = 1e-9
        for _ in range(self.iterations):
            w *= np.asarray(x @ h.T) / (w @ (h @ h.T) + eps)
            wtx = np.asarray((x.T @ w).T)
            h *= (wtx + lam * pulled * target) / (w.T @ w @ h + lam * pulled * h + eps)
        return w, h

    # -- using ---------------------------------------------------------------------------

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """Theme weights of new texts (texts x themes), with the learned profiles fixed."""
        x = self.vectorizer_.transform([str(t) for t in texts]).tocsr()
        h = self.components_
        w = np.maximum(np.asarray(x @ h.T), 0.0)
        for _ in range(50):
            w *= np.asarray(x @ h.T) / (w @ (h @ h.T) + 1e-9)
        return w

    def assign(self, weights: np.ndarray | None = None) -> np.ndarray:
        """The theme name of each text (``(none)`` when no theme has any weight); the
        fitted texts unless ``weights`` (from ``transform``) are given."""
        w = self.weights_ if weights is None else weights
        if w.shape[1] == 0:
            return np.full(w.shape[0], NO_THEME, dtype=object)
        best = w.argmax(axis=1)
        strength = w.max(axis=1)
        names = np.array(self.names_, dtype=object)
        return np.where(strength > 1e-6, names[best], NO_THEME)

    def __repr__(self) -> str:
        fitted = (f"{len(self.names_)} themes fitted on {len(self.weights_)} texts"
                  if hasattr(self, "names_") else "not fitted")
        return (f"ThemeModel(anchors={len(self.anchors)}, extra_themes={self.extra_themes}, "
                f"seed={self.seed}; {fitted})")


def evaluate(model: ThemeModel, texts: Sequence[str], truth: Sequence[str]) -> dict[str, float]:
    """Fit ``model`` on ``texts`` and compare its themes with the ``truth`` labels.

    ``named``: share of texts whose theme name equals the label (anchored themes only);
    ``mapped``: accuracy after mapping each learned theme to the label most of its texts
    carry (the usual many-to-one score for clusterings, fair to unnamed themes too).
    """
    model.fit(texts)
    got = pd.Series(model.assign(), dtype="object")
    truth_s = pd.Series(list(truth), dtype="object")
    table = pd.crosstab(got, truth_s)
    return {"named": float((got == truth_s).mean()),
            "mapped": float(table.max(axis=1).sum() / len(truth_s))}


# -- the workspace's themes -----------------------------------------------------------------

def save_themes(con: duckdb.DuckDBPyConnection, summary: pd.DataFrame, trend: pd.DataFrame,
                assigned: pd.DataFrame, as_of: date, seed: int) -> None:
    """Replace the stored theme results (``_voice_themes``, ``_voice_theme_trend``,
    ``_voice_text_themes``) in one transaction, for the dashboard."""
    rows = summary.assign(examples=[json.dumps(e) for e in summary["examples"]],
                          as_of=as_of, seed=seed, computed_at=default_clock().now())
    rows = rows[["theme", "label", "top_terms", "texts", "customers", "share",
                 "negative_share", "mean_sentiment", "detractor_share", "promoter_share",
                 "mrr", "examples", "as_of", "seed", "computed_at"]]
    with transaction(con):
        for name, frame in (("_voice_themes", rows), ("_voice_theme_trend", trend),
                            ("_voice_text_themes", assigned)):
            replace_rows(con, name, frame)


def examples(texts: pd.Series, weights: pd.Series, k: int = 3) -> list[str]:
    """Up to ``k`` distinct quotes that are most about the theme (largest weight first)."""
    chosen: list[str] = []
    seen: set[str] = set()
    for text in texts.iloc[np.argsort(-weights.to_numpy(), kind="stable")]:
        norm = re.sub(r"\W+", " ", str(text).lower()).strip()
        if norm not in seen:
            seen.add(norm)
            chosen.append(str(text))
        if len(chosen) == k:
            break
    return chosen


@dataclass(frozen=True)
class ThemeReport:
    """Themes of a workspace as of a date.

    ``summary``: one row per theme (``theme``, ``label``, ``top_terms``, ``texts``,
    ``customers``, ``share`` of all texts, ``negative_share`` and ``mean_sentiment`` of its
    texts, ``detractor_share`` / ``promoter_share``: the share of NPS detractors' /
    promoters' comments that are about it, ``mrr`` of the distinct customers who raised it
    on ``as_of``, ``examples``), largest first; with a segment, one row per theme and
    segment value. ``trend``: ``theme``, ``grain``, ``period_start``, ``texts``, ``share``
    (of the period's texts). ``assigned``: every text's theme and weight.
    """

    summary: pd.DataFrame
    trend: pd.DataFrame
    assigned: pd.DataFrame
    as_of: date
    model: ThemeModel
    seconds: float


def theme_report(texts: pd.DataFrame, facts: pd.DataFrame, nps: pd.DataFrame,
                 periods: pd.Series, *, as_of: date, grain: str, by: str | None = None,
                 model: ThemeModel | None = None) -> ThemeReport:
    """Fit themes on ``texts`` (from ``scope.texts``) and summarise them with the customers'
    MRR and segment (``facts``), NPS groups (``nps``) and each text's period (``periods``)."""
    started = time.perf_counter()
    model = model or ThemeModel()
    model.fit(texts["text"].tolist())
    weights = model.weights_.max(axis=1) if model.weights_.shape[1] else np.zeros(len(texts))
    frame = texts.assign(theme=model.assign(), weight=weights,
                         period_start=periods.to_numpy())
    frame = frame.merge(facts, on="customer_id", how="left")
    frame["mrr"] = frame["mrr"].fillna(0.0)
    frame = frame.merge(nps, on="key", how="left")
    frame.loc[frame["source"] != "survey_responses", "nps_group"] = None
    keys = ["theme", *([by] if by else [])]
    if by:
        frame[by] = frame[by].fillna("(none)")
    rows = []
    top = dict(zip(model.names_, model.top_terms_, strict=True))
    groups = {g: frame[frame["nps_group"] == g] for g in ("detractor", "promoter")}
    for key, part in frame.groupby(keys, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        theme = key[0]
        seg = dict(zip(keys, key, strict=True))
        scope = frame if not by else frame[frame[by] == seg[by]]
        row = {**seg,
               "label": theme, "top_terms": top.get(theme, [])[:6],
               "texts": len(part), "customers": part["customer_id"].nunique(),
               "share": len(part) / len(scope),
               "negative_share": float((part["label"] == "negative").mean()),
               "mean_sentiment": float(part["compound"].mean())}
        for g, everyone in groups.items():
            everyone = everyone if not by else everyone[everyone[by] == seg[by]]
            mine = part[part["nps_group"] == g]
            row[f"{g}_share"] = len(mine) / len(everyone) if len(everyone) else None
        row["mrr"] = float(part.drop_duplicates("customer_id")["mrr"].sum())
        row["examples"] = examples(part["text"], part["weight"])
        rows.append(row)
    summary = pd.DataFrame(rows)
    if not summary.empty:
        summary = summary.assign(_none=summary["theme"] == NO_THEME)
        summary = summary.sort_values(["_none", "texts", "theme"], ascending=[True, False, True],
                                      kind="stable").drop(columns="_none").reset_index(drop=True)
    counts = frame.groupby(["period_start", "theme"]).size().rename("texts").reset_index()
    totals = frame.groupby("period_start").size().rename("all").reset_index()
    trend = counts.merge(totals, on="period_start")
    trend = trend.assign(share=trend["texts"] / trend["all"], grain=grain)
    trend = trend[["theme", "grain", "period_start", "texts", "share"]]
    assigned = frame[["source", "key", "customer_id", "theme", "weight"]]
    return ThemeReport(summary=summary, trend=trend.sort_values(["theme", "period_start"])
                       .reset_index(drop=True), assigned=assigned, as_of=as_of, model=model,
                       seconds=time.perf_counter() - started)
