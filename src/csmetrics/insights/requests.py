"""Feature requests: the same wish in different words merged into one request, counted
across customers and ranked by how many customers, and how much MRR, ask for it.

Requests are ``feedback`` rows of kind ``feature_request`` or ``idea``. Two texts are
similar when the cosine similarity of their TF-IDF vectors (words, English stop words
removed, sublinear counts) reaches ``threshold``; requests are the groups of
complete-linkage agglomerative clustering cut at distance ``1 - threshold``: every two
wordings in a request are at least that similar. Identical wordings (ignoring case and
punctuation) are clustered once, so how often a wording recurs does not move the cut.

Chosen by measured pairwise precision / recall / F1 (:func:`pair_scores`) on the 50
labelled requests (17 groups) of ``tests/data/voice_labelled.csv`` and on the demo
generator's 52 request wordings (13 requests + 10 ideas):

=====================  ==================  ==================
linkage, threshold     labelled P / R / F1  demo P / R / F1
=====================  ==================  ==================
average, 0.10          0.68 / 0.57 / 0.62  0.48 / 0.59 / 0.53
average, 0.15          0.85 / 0.53 / 0.65  0.56 / 0.45 / 0.50
complete, 0.10         0.88 / 0.55 / 0.67  0.56 / 0.41 / 0.47
complete, 0.15 (used)  0.93 / 0.51 / 0.66  0.62 / 0.41 / 0.50
complete, 0.20         0.95 / 0.40 / 0.56  0.60 / 0.27 / 0.37
=====================  ==================  ==================

Single linkage (the connected components of the similarity graph) chains unrelated
requests through shared words (F1 at most 0.44); character n-grams scored at most 0.61.
Precision is preferred: a product team should not see two asks counted as one. Synonyms
without a shared word ("SSO" and "single sign-on") stay apart; that needs embeddings.

A request's ``label`` is its most common wording; ``status`` the most common status of its
texts (ties: the most advanced, shipped > in_progress > planned > open > declined), with
the count of each in ``statuses``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from itertools import combinations

import duckdb
import numpy as np
import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.metrics.periods import Grain, period_start
from csmetrics.store.sql import replace_rows, transaction

__all__ = ["REQUEST_KINDS", "THRESHOLD", "RequestReport", "group_requests", "pair_scores",
           "request_report", "save_requests"]

REQUEST_KINDS = ("feature_request", "idea")
#: Mean cosine similarity at which two groups of requests merge (measured, see the module).
THRESHOLD = 0.15
STATUS_ORDER = ("shipped", "in_progress", "planned", "open", "declined")


def group_requests(texts: Sequence[str], threshold: float = THRESHOLD) -> np.ndarray:
    """A group number per text: texts in one group ask for the same thing. Groups are
    numbered by their first text, so the numbering is deterministic."""
    from sklearn.cluster import AgglomerativeClustering  # slow to import: only when used
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [str(t) for t in texts]
    wordings: dict[str, int] = {}
    of_text = [wordings.setdefault(" ".join(re.findall(r"\w+", t.lower())), len(wordings))
               for t in texts]
    unique = list(wordings)
    if len(unique) <= 1:
        return np.zeros(len(texts), dtype=np.int64)
    try:
        x = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(unique)
    except ValueError:  # nothing but stop words: every wording its own request
        labels = np.arange(len(unique))
    else:
        distance = np.clip(1.0 - (x @ x.T).toarray(), 0.0, None)
        labels = AgglomerativeClustering(
            n_clusters=None, metric="precomputed", linkage="complete",
            distance_threshold=1.0 - threshold,
        ).fit_predict(distance)
    first: dict[int, int] = {}
    numbers = []
    for index in of_text:
        numbers.append(first.setdefault(int(labels[index]), len(first)))
    return np.array(numbers, dtype=np.int64)


def pair_scores(groups: Sequence[int], truth: Sequence[str]) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a grouping against labelled groups: of the
    pairs put together, how many belong together (precision), and of the pairs that
    belong together, how many were put together (recall)."""
    together = tp = should = 0
    for i, j in combinations(range(len(truth)), 2):
        same_got, same_true = groups[i] == groups[j], truth[i] == truth[j]
        together += same_got
        should += same_true
        tp += same_got and same_true
    precision = tp / together if together else 1.0
    recall = tp / should if should else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


@dataclass(frozen=True)
class RequestReport:
    """Merged requests (``requests``: one row per request, ranked) and each feedback
    row's request (``members``: ``feedback_id``, ``request_id``)."""

    requests: pd.DataFrame
    members: pd.DataFrame
    as_of: date
    seconds: float


def request_trend(report: RequestReport, feedback: pd.DataFrame, grain: Grain) -> pd.DataFrame:
    """How often each request was raised per period: ``request_id``, ``label``,
    ``period_start``, ``customers`` (distinct customers asking in the period) and ``texts``."""
    columns = ["request_id", "label", "period_start", "customers", "texts"]
    if report.members.empty:
        return pd.DataFrame(columns=columns)
    asked = report.members.merge(feedback[["feedback_id", "customer_id", "submitted_at"]],
                                 on="feedback_id")
    days = pd.to_datetime(asked["submitted_at"]).dt.date
    starts = {d: period_start(d, grain) for d in set(days)}
    asked["period_start"] = days.map(starts)
    trend = asked.groupby(["request_id", "period_start"]).agg(
        customers=("customer_id", "nunique"), texts=("feedback_id", "count")).reset_index()
    labels = report.requests.drop_duplicates("request_id").set_index("request_id")["label"]
    trend["label"] = trend["request_id"].map(labels)
    return trend[columns].sort_values(["request_id", "period_start"], ignore_index=True)


def request_report(feedback: pd.DataFrame, facts: pd.DataFrame, *, as_of: date,
                   by: str | None = None, rank: str = "customers",
                   threshold: float = THRESHOLD) -> RequestReport:
    """Group ``feedback`` (rows with ``feedback_id``, ``customer_id``, ``submitted_at``,
    ``text``, ``status``) into requests and count them with the customers' MRR on
    ``as_of`` (``facts``). ``rank`` is ``customers`` or ``mrr``.

    Columns of ``requests``: ``request_id``, ``label``, the segment (when ``by``),
    ``customers`` (distinct customers asking), ``mrr`` (their MRR on ``as_of``), ``texts``,
    ``status`` (most common), ``statuses`` (count per status), ``first_asked``,
    ``last_asked``, ``examples`` (up to 3 distinct wordings)."""
    started = time.perf_counter()
    if rank not in ("customers", "mrr"):
        from csmetrics.errors import UserInputError

        raise UserInputError(f"--rank {rank!r} must be 'customers' or 'mrr'.")
    frame = feedback.sort_values(["submitted_at", "feedback_id"], kind="stable")
    frame = frame.reset_index(drop=True)
    frame["request_id"] = group_requests(frame["text"].tolist(), threshold) + 1
    frame = frame.merge(facts, on="customer_id", how="left")
    frame["mrr"] = frame["mrr"].fillna(0.0)
    keys = ["request_id", *([by] if by else [])]
    if by:
        frame[by] = frame[by].fillna("(none)")
    rows = []
    for key, part in frame.groupby(keys, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        wordings = part["text"].value_counts(sort=True)
        statuses = part["status"].fillna("open").value_counts()
        most = statuses.max()
        status = next(s for s in STATUS_ORDER if statuses.get(s, 0) == most)
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "label": str(wordings.index[0]),
            "customers": int(part["customer_id"].nunique()),
            "mrr": float(part.drop_duplicates("customer_id")["mrr"].sum()),
            "texts": len(part),
            "status": status,
            "statuses": {s: int(statuses[s]) for s in STATUS_ORDER if s in statuses.index},
            "first_asked": pd.Timestamp(part["submitted_at"].min()).date(),
            "last_asked": pd.Timestamp(part["submitted_at"].max()).date(),
            "examples": [str(t) for t in wordings.index[:3]],
        })
    requests = pd.DataFrame(rows)
    if not requests.empty:
        order = ["customers", "mrr"] if rank == "customers" else ["mrr", "customers"]
        requests = requests.sort_values([*order, "request_id"], ascending=[False, False, True],
                                        kind="stable").reset_index(drop=True)
    members = frame[["feedback_id", "request_id"]]
    return RequestReport(requests=requests, members=members, as_of=as_of,
                         seconds=time.perf_counter() - started)


def save_requests(con: duckdb.DuckDBPyConnection, report: RequestReport,
                  threshold: float = THRESHOLD) -> None:
    """Replace the stored requests (``_voice_requests``, ``_voice_request_members``) in one
    transaction, for the dashboard. Expects an unsegmented report."""
    rows = report.requests.copy()
    if rows.empty:
        rows = pd.DataFrame(columns=["request_id", "label", "customers", "mrr", "texts",
                                     "status", "statuses", "first_asked", "last_asked",
                                     "examples"])
    rows["statuses"] = [json.dumps(s) for s in rows["statuses"]]
    rows["examples"] = [json.dumps(e) for e in rows["examples"]]
    rows = rows.assign(as_of=report.as_of, threshold=threshold,
                       computed_at=default_clock().now())
    with transaction(con):
        for name, frame in (("_voice_requests", rows),
                            ("_voice_request_members", report.members)):
            replace_rows(con, name, frame)
