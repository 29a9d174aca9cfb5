"""Explanations: why an account has its score, component by component, in plain words.

Each component's line says what was measured, the raw value, the points it earned (0-100),
its weight and its contribution (points x weight: what it adds to the score) and how much it
pulls the score down ((100 - points) x weight). Lines are sorted by that pull, largest first,
so the first line is the biggest reason the score is not 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from csmetrics.errors import UserInputError, closest
from csmetrics.health.score import HealthScores
from csmetrics.health.scorecard import BAND_LABELS, INSUFFICIENT, SIGNALS, Scorecard


@dataclass(frozen=True)
class Explanation:
    """One account's score and its components, biggest pull first."""

    customer_id: str
    name: str | None
    as_of: str
    score: float | None
    band: str
    #: component, meaning, raw, shown (raw in words), points, weight, effective_weight,
    #: contribution, lost, missing, why (one sentence)
    components: pd.DataFrame
    summary: str
    #: Share of the scorecard's weight backed by data for the account (0-1; None: unknown).
    coverage: float | None = None


def format_raw(signal: str, raw: float) -> str:
    """A raw value as people read it: "-35 %", "3", "negative", "7 of 10"."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)):
        return "no data"
    unit = SIGNALS[signal].unit if signal in SIGNALS else "number"
    if unit == "change":
        return f"{raw * 100:+.0f} %"
    if unit == "share":
        return f"{raw * 100:.0f} %"
    if unit == "count":
        return f"{raw:g}"
    if unit == "sentiment":
        return {1.0: "positive", 0.0: "neutral", -1.0: "negative"}.get(raw, f"{raw:g}")
    if unit == "score":
        return f"{raw:.3g} of {10 if signal == 'nps_latest' else 5}"
    return f"{raw:.4g}"


def explain(health: HealthScores, scorecard: Scorecard, customer: str) -> Explanation:
    """The explanation of ``customer``'s score in ``health``."""
    row = health.scores[health.scores["customer_id"] == customer]
    if row.empty:
        ids = health.scores["customer_id"].astype(str).tolist()
        raise UserInputError(
            f"No health score for customer {customer!r} as of {health.as_of}: it is not a "
            f"paying customer on that day, or the id is wrong.{closest(customer, ids)}")
    account = row.iloc[0]
    parts = health.components[health.components["customer_id"] == customer].copy()
    parts["meaning"] = [scorecard.components[c].meaning() for c in parts["component"]]
    parts["shown"] = [format_raw(s, r) for s, r in zip(parts["signal"], parts["raw"],
                                                       strict=True)]
    parts["why"] = parts.apply(_sentence, axis=1) if len(parts) else []
    parts = parts.sort_values(["lost", "component"], ascending=[False, True], kind="stable")
    score = None if pd.isna(account["score"]) else float(account["score"])
    if score is None:
        summary = (f"{customer} has no score as of {health.as_of}: every component lacks data "
                   "and is set to be skipped.")
    else:
        top = parts[parts["lost"] > 0].head(2)["component"].tolist()
        reasons = f"; the biggest pulls down are {' and '.join(top)}" if top else ""
        band = BAND_LABELS.get(str(account["band"]), str(account["band"]))
        summary = (f"{customer} scores {score:.0f} of 100 as of {health.as_of} "
                   f"({band}){reasons}.")
    coverage = account.get("coverage")
    coverage = None if coverage is None or pd.isna(coverage) else float(coverage)
    if account["band"] == INSUFFICIENT and coverage is not None:
        summary += (f" Only {coverage:.0%} of the scorecard's weight has data (at least "
                    f"{scorecard.bands.min_coverage:.0%} is needed for a band).")
    columns = ["component", "meaning", "raw", "shown", "points", "weight", "effective_weight",
               "contribution", "lost", "missing", "why"]
    return Explanation(customer, account.get("name"), str(health.as_of), score,
                       str(account["band"]), parts[columns].reset_index(drop=True), summary,
                       coverage)


def _sentence(r: pd.Series) -> str:
    """One component's line in plain words."""
    if pd.isna(r["points"]):
        return f"{r['component']}: no data, left out; the other components share its weight."
    missing = " (no data: scored by the missing-data rule)" if r["missing"] else ""
    return (f"{r['component']} was {r['shown']}{missing}, worth {r['points']:.0f} of 100 "
            f"points; at {r['effective_weight'] * 100:.0f} % of the score it adds "
            f"{r['contribution']:.1f} and costs {r['lost']:.1f} points.")
