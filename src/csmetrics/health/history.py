"""Health history: snapshots of every account's score and components per date.

``_health_scores`` holds one row per (as_of, customer_id); ``_health_components`` one row per
(as_of, customer_id, component); ``_health_runs`` the scorecard used for each date (so a
snapshot can be traced to the config that made it). Writing a date replaces that date's rows
in one transaction; other dates are untouched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import date, timedelta

import duckdb
import pandas as pd

from csmetrics.clock import default_clock
from csmetrics.config import Settings
from csmetrics.errors import UserInputError
from csmetrics.health.score import HealthScores
from csmetrics.health.scorecard import Scorecard
from csmetrics.store.sql import replace_rows, transaction

SCORE_COLUMNS = ["as_of", "customer_id", "name", "owner", "mrr", "score", "band", "coverage"]
COMPONENT_COLUMNS = ["as_of", "customer_id", "component", "signal", "raw", "points", "weight",
                     "effective_weight", "contribution", "lost", "missing"]


def settings_digest(settings: Settings) -> str:
    """A digest of the settings health scores depend on (all of them: policy, currency,
    metric options)."""
    text = json.dumps(settings.model_dump(mode="json"), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _scorecard_text(scorecard: Scorecard) -> str:
    return json.dumps(scorecard.model_dump(mode="json"), sort_keys=True)


def _last_batch(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.execute("SELECT coalesce(max(batch_id), 0) FROM _batches").fetchall()[0][0])


def write_snapshot(con: duckdb.DuckDBPyConnection, health: HealthScores,
                   scorecard: Scorecard, settings: Settings) -> None:
    """Store ``health`` as the snapshot of its date, replacing an earlier one, atomically,
    with what it was computed from (scorecard, settings, newest load)."""
    scores = health.scores.assign(as_of=health.as_of)[SCORE_COLUMNS]
    components = health.components.assign(as_of=health.as_of)[COMPONENT_COLUMNS]
    where = {"as_of": health.as_of}
    with transaction(con):
        run = pd.DataFrame([{
            "as_of": health.as_of, "computed_at": default_clock().now(),
            "accounts": len(scores), "scorecard": _scorecard_text(scorecard),
            "settings": settings_digest(settings), "last_batch": _last_batch(con)}])
        replace_rows(con, "_health_scores", scores, where)
        replace_rows(con, "_health_components", components, where)
        replace_rows(con, "_health_runs", run, where)


def snapshot_dates(con: duckdb.DuckDBPyConnection, start: date | None = None,
                   end: date | None = None) -> list[date]:
    """The dates that have a snapshot, oldest first, within [start, end] when given."""
    rows = con.execute(
        "SELECT as_of FROM _health_runs WHERE ($start IS NULL OR as_of >= $start) "
        "AND ($end IS NULL OR as_of <= $end) ORDER BY as_of", {"start": start, "end": end}
    ).fetchall()
    return [r[0] for r in rows]


def read_scores(con: duckdb.DuckDBPyConnection, dates: Iterable[date] | None = None,
                customer: str | None = None) -> pd.DataFrame:
    """Stored scores (all dates, or the dates given), oldest first."""
    sql = "SELECT * FROM _health_scores WHERE ($customer IS NULL OR customer_id = $customer)"
    params: dict[str, object] = {"customer": customer}
    if dates is not None:
        sql += " AND list_contains($dates, as_of)"
        params["dates"] = list(dates)
    return con.execute(sql + " ORDER BY as_of, customer_id", params).df()


def read_components(con: duckdb.DuckDBPyConnection, dates: Iterable[date]) -> pd.DataFrame:
    """Stored components of the given dates."""
    return con.execute(
        "SELECT * FROM _health_components WHERE list_contains($dates, as_of) "
        "ORDER BY as_of, customer_id, component", {"dates": list(dates)}).df()


def current_snapshot(con: duckdb.DuckDBPyConnection, as_of: date, scorecard: Scorecard,
                     settings: Settings) -> HealthScores | None:
    """The stored snapshot of ``as_of`` when it is what scoring now would give: made with
    this scorecard and these settings, after the newest load; None otherwise."""
    row = con.execute(
        "SELECT scorecard, settings, last_batch FROM _health_runs WHERE as_of = ?",
        [as_of]).fetchall()
    if not row or row[0] != (_scorecard_text(scorecard), settings_digest(settings),
                             _last_batch(con)):
        return None
    scores = read_scores(con, [as_of]).drop(columns="as_of")
    components = read_components(con, [as_of]).drop(columns="as_of")
    return HealthScores(as_of, scores, components)


def previous_scores(con: duckdb.DuckDBPyConnection, before: date) -> pd.DataFrame:
    """Each account's score in the latest snapshot strictly before ``before``:
    ``customer_id``, ``previous_score``, ``previous_as_of``."""
    return con.execute(
        "SELECT customer_id, score AS previous_score, as_of AS previous_as_of "
        "FROM _health_scores WHERE as_of < ? "
        "QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY as_of DESC) = 1",
        [before]).df()


def schedule(start: date, end: date, every: str) -> list[date]:
    """Snapshot dates from ``start`` to ``end``: every ``day``, ``week`` (7 days) or ``month``
    (the last day of each month, plus ``end`` itself if it is not one)."""
    if start > end:
        raise UserInputError(f"--from {start} is after --to {end}; swap them.")
    if every == "day":
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]
    if every == "week":
        return [start + timedelta(days=i) for i in range(0, (end - start).days + 1, 7)]
    if every == "month":
        days = pd.date_range(start, end, freq="ME").date.tolist()
        return days if days and days[-1] == end else [*days, end]
    raise UserInputError(f"--every {every!r} must be day, week or month.")


def with_change(con: duckdb.DuckDBPyConnection, health: HealthScores) -> HealthScores:
    """``health`` with ``previous_score``, ``previous_as_of`` and ``change`` (score minus the
    account's score in the latest snapshot before this date; empty without one)."""
    before = previous_scores(con, health.as_of)
    scores = health.scores.merge(before, on="customer_id", how="left")
    scores["previous_as_of"] = pd.to_datetime(scores["previous_as_of"]).dt.date
    scores["change"] = scores["score"] - scores["previous_score"]
    return HealthScores(health.as_of, scores, health.components)


