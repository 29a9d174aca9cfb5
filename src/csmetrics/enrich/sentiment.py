"""Sentiment of every free text: survey comments, CSM activity notes and feedback.

Each text gets VADER's *compound* score (Hutto & Gilbert 2014, the ``vaderSentiment`` package:
a rule-based analyser whose lexicon ships inside the package, so nothing is downloaded) from
-1 (most negative) to +1 (most positive), and a label by VADER's documented thresholds:
``positive`` when compound >= 0.05, ``negative`` when <= -0.05, else ``neutral``.

VADER's general-purpose lexicon is extended with a few words that carry sentiment in
software feedback but not in general English ("slow", "outage", "buggy", "intuitive"; see
``DOMAIN_LEXICON``); on the 288 labelled texts of ``tests/data/voice_labelled.csv`` this
raises label accuracy from 58.7 % (VADER alone) to 68.4 %. Most remaining errors are
negative facts without negative words ("implementation took four months instead of six
weeks") and neutral requests read as positive ("a dark mode would be nice").

Scores are stored beside the text in the warehouse table ``_text_sentiment`` (one row per
source row with a non-empty text) and refreshed incrementally by :func:`score_texts`: only
texts not yet scored, or whose text changed, are scored again; rows whose text disappeared
are removed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from csmetrics._lazy import lazy_module
from csmetrics.store.sql import first, transaction

if TYPE_CHECKING:
    import duckdb
    import ibis
    import ibis.expr.types as ir
    import pandas as pd
    from ibis.backends import BaseBackend
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from csmetrics.metrics.context import MetricContext
else:
    ibis = lazy_module("ibis")
    pd = lazy_module("pandas")

__all__ = [
    "DOMAIN_LEXICON",
    "NEGATIVE_AT",
    "POSITIVE_AT",
    "SCORER",
    "SENTIMENT_TABLE",
    "SOURCES",
    "ScoreRun",
    "TextSource",
    "analyzer",
    "label",
    "polarity",
    "recent_sentiment",
    "score_texts",
    "sentiment_table",
]

SENTIMENT_TABLE = "_text_sentiment"
#: VADER's documented thresholds on the compound score.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05

#: Words VADER's lexicon lacks or scores for general English, with valences on VADER's -4..+4
#: scale for software feedback. "please", "help" and "want" are neutral here: customers use
#: them to ask for things ("please add SSO"), not to praise; "support" names a team
#: ("support is slow"), it is not approval; "excel" is mostly the spreadsheet.
DOMAIN_LEXICON: dict[str, float] = {
    "slow": -1.5, "slower": -1.5, "sluggish": -1.8, "lag": -1.5, "lags": -1.5,
    "laggy": -1.8, "timeout": -1.5, "outage": -2.2, "outages": -2.2, "downtime": -2.0,
    "crash": -2.0, "crashes": -2.0, "crashed": -2.0, "buggy": -2.0, "bug": -1.2, "bugs": -1.5,
    "error": -1.2, "errors": -1.5, "broken": -2.0, "breaks": -1.8, "unstable": -2.0,
    "fails": -1.8, "failed": -1.8, "failing": -1.8, "expensive": -1.5, "costly": -1.5,
    "overcharged": -2.2, "clunky": -1.8, "confusing": -1.8, "cluttered": -1.5,
    "stalled": -1.5, "blocker": -1.8, "escalated": -1.5, "escalation": -1.5, "churn": -1.5,
    "downgrade": -1.2, "fast": 1.5, "faster": 1.2, "quick": 1.2, "quicker": 1.2,
    "instantly": 1.2, "intuitive": 1.8, "reliable": 1.8, "stable": 1.5, "seamless": 1.8,
    "smooth": 1.5, "snappy": 1.5, "responsive": 1.5, "please": 0.0, "help": 0.0,
    "want": 0.0, "like": 0.5, "support": 0.0, "excel": 0.0,
}


def _scorer_id() -> str:
    import hashlib
    from importlib.metadata import version

    lexicon = ",".join(f"{k}={v}" for k, v in sorted(DOMAIN_LEXICON.items()))
    digest = hashlib.sha256(lexicon.encode()).hexdigest()[:8]
    return f"vader-{version('vaderSentiment')}+domain-{digest}"


#: Identifies the analyser and lexicon; texts scored by another are scored again.
SCORER = _scorer_id()


@dataclass(frozen=True)
class TextSource:
    """Where free text lives: a canonical table, its key, text, time and kind columns."""

    table: str
    key: str
    text: str
    at: str
    kind: str


SOURCES = (
    TextSource("survey_responses", "response_id", "comment", "responded_at", "survey"),
    TextSource("activities", "activity_id", "notes", "occurred_at", "kind"),
    TextSource("feedback", "feedback_id", "text", "submitted_at", "kind"),
)


@lru_cache(maxsize=1)
def analyzer() -> SentimentIntensityAnalyzer:
    """VADER with the domain words of ``DOMAIN_LEXICON`` (built once per process)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    a = SentimentIntensityAnalyzer()
    a.lexicon.update(DOMAIN_LEXICON)
    return a


def polarity(text: str) -> float:
    """VADER's compound score of one text, -1 (negative) .. +1 (positive)."""
    return float(analyzer().polarity_scores(text)["compound"])


def label(compound: float) -> str:
    """``positive``, ``neutral`` or ``negative`` by VADER's thresholds (+/- 0.05)."""
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def _current_texts_sql() -> str:
    parts = [
        f"SELECT '{s.table}' AS source, CAST({s.key} AS VARCHAR) AS key, customer_id, "
        f"CAST({s.at} AS TIMESTAMP) AS written_at, CAST({s.kind} AS VARCHAR) AS kind, "
        f"{s.text} AS text FROM {s.table} "
        f"WHERE {s.text} IS NOT NULL AND trim({s.text}) <> ''"
        for s in SOURCES
    ]
    return " UNION ALL ".join(parts)


@dataclass(frozen=True)
class ScoreRun:
    """What one :func:`score_texts` run did."""

    scored: int  # new or changed texts scored in this run
    removed: int  # stored scores whose text is gone
    unchanged: int  # texts whose stored score was kept
    seconds: float


def score_texts(con: duckdb.DuckDBPyConnection) -> ScoreRun:
    """Score every text not yet in ``_text_sentiment`` (or whose text changed, or that
    another analyser version scored, see ``SCORER``) and drop the scores of texts that are
    gone, in one transaction. Other columns (customer, time, kind)
    are brought up to date for every row. Running it twice scores nothing the second time."""
    started = time.perf_counter()
    current = con.execute(_current_texts_sql()).df()
    stored = con.execute(f"SELECT source, key, text, scorer FROM {SENTIMENT_TABLE}").df()
    merged = current.merge(stored, on=["source", "key"], how="left", suffixes=("", "_old"),
                           indicator=True)
    fresh = merged[(merged["_merge"] == "left_only") | (merged["text"] != merged["text_old"])
                   | (merged["scorer"] != SCORER)]
    changed = int((fresh["_merge"] == "both").sum())
    fresh = fresh[["source", "key", "customer_id", "written_at", "kind", "text"]].copy()
    fresh["compound"] = [polarity(t) for t in fresh["text"]]
    fresh["label"] = [label(c) for c in fresh["compound"]]
    fresh["scorer"] = SCORER
    keys = current[["source", "key", "customer_id", "written_at", "kind"]]
    con.register("__current_keys", keys)
    con.register("__fresh", fresh)
    try:
        with transaction(con):
            removed = first(con.execute(
                f"DELETE FROM {SENTIMENT_TABLE} s WHERE NOT EXISTS (SELECT 1 FROM __current_keys c "
                "WHERE c.source = s.source AND c.key = s.key) OR EXISTS (SELECT 1 FROM __fresh f "
                "WHERE f.source = s.source AND f.key = s.key)"
            ))
            con.execute(f"INSERT INTO {SENTIMENT_TABLE} SELECT source, key, customer_id, "
                        "written_at, kind, text, compound, label, scorer FROM __fresh")
            con.execute(
                f"UPDATE {SENTIMENT_TABLE} s SET customer_id = c.customer_id, "
                "written_at = c.written_at, kind = c.kind FROM __current_keys c "
                "WHERE c.source = s.source AND c.key = s.key "
                "AND (s.customer_id IS DISTINCT FROM c.customer_id "
                "OR s.written_at IS DISTINCT FROM c.written_at "
                "OR s.kind IS DISTINCT FROM c.kind)"
            )
    finally:
        con.unregister("__current_keys")
        con.unregister("__fresh")
    replaced = int(removed[0]) if removed else 0
    return ScoreRun(scored=len(fresh), removed=replaced - changed,
                    unchanged=len(current) - len(fresh), seconds=time.perf_counter() - started)


# -- reading the scores --------------------------------------------------------------------

_EMPTY_SCHEMA = {
    "source": "string", "key": "string", "customer_id": "string", "written_at": "timestamp",
    "kind": "string", "text": "string", "compound": "float64", "label": "string",
    "scorer": "string",
}


def sentiment_table(con: BaseBackend, as_of: date | None = None) -> ir.Table:
    """``_text_sentiment`` as an Ibis table (texts written on or before ``as_of`` when
    given); an empty table of the same shape when texts were never scored."""
    from ibis.common.exceptions import TableNotFound

    try:
        t = con.table(SENTIMENT_TABLE)
    except TableNotFound:
        return ibis.memtable(pd.DataFrame({c: pd.Series(dtype=_pandas(t))
                                           for c, t in _EMPTY_SCHEMA.items()}),
                             schema=_EMPTY_SCHEMA)
    if as_of is not None:
        t = t.filter(t.written_at.cast("date") <= ibis.literal(as_of))
    return t


def _pandas(dtype: object) -> str:
    text = str(dtype)
    return {"timestamp": "datetime64[ns]", "float64": "float64"}.get(text, "object")


def recent_sentiment(ctx: MetricContext, as_of: date, window: int | None = 90) -> ir.Table:
    """Each customer's recent text sentiment as of ``as_of``: ``customer_id``, ``raw`` (mean
    compound score, -1 .. +1, of the texts written in the ``window`` days up to and including
    ``as_of``; every text when ``window`` is None), ``texts`` and ``negative_share``.

    The signature matches the health score's component builders (``ctx, as_of, window``), so
    it can be registered as a health component. Customers without texts in the window have
    no row. Reads only what was written by ``as_of``; respects ``ctx.customer``.
    """
    t = sentiment_table(ctx.con, as_of)
    if window is not None:
        t = t.filter(t.written_at.cast("date") > ibis.literal(as_of - timedelta(days=window)))
    if ctx.customer is not None:
        t = t.filter(t.customer_id == ctx.customer)
    return t.group_by("customer_id").aggregate(
        raw=t.compound.mean(),
        texts=t.count(),
        negative_share=(t.label == "negative").cast("float64").mean(),
    )
