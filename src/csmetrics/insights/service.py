"""The voice-of-the-customer services the workspace facade calls: score texts, find themes,
merge requests, each as of a date, reading only what was known then."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import duckdb
import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.config import Settings
from csmetrics.enrich.sentiment import SOURCES, score_texts, sentiment_table
from csmetrics.errors import UserInputError
from csmetrics.insights import scope
from csmetrics.insights.requests import (
    REQUEST_KINDS,
    RequestReport,
    request_report,
    request_trend,
    save_requests,
)
from csmetrics.insights.themes import (
    THEME_ANCHORS,
    ThemeModel,
    ThemeReport,
    save_themes,
    theme_report,
)
from csmetrics.metrics.engine import workspace_today
from csmetrics.metrics.periods import Grain

if TYPE_CHECKING:
    import ibis
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


__all__ = ["customer_texts", "find_themes", "rank_requests"]


def find_themes(sql: duckdb.DuckDBPyConnection, con: BaseBackend, settings: Settings, *,
                period: str = "month", by: str | None = None, as_of: date | None = None,
                seed: int | None = None, sources: tuple[str, ...] | None = None,
                save: bool = True, today: date | None = None) -> ThemeReport:
    """Score new texts, fit themes on the texts known by ``as_of`` and summarise them (see
    ``themes.theme_report``). ``seed`` and ``sources`` (canonical tables whose texts count)
    default to the ``[voice]`` settings: the customers' own words (survey comments and
    feedback); add ``activities`` for CSM notes. Unsegmented results for today with the
    configured sources are stored for the dashboard."""
    voice = settings.voice
    chosen = tuple(sources) if sources else tuple(voice.theme_sources)
    known = [s.table for s in SOURCES]
    for source in chosen:
        if source not in known:
            raise UserInputError(f"--source {source!r} is not one of {', '.join(known)}.")
    seed = voice.seed if seed is None else seed
    score_texts(sql)
    day = scope.resolve_as_of(con, as_of, today or workspace_today(settings))
    grain = scope.grain(period)
    texts = scope.texts(con, day, chosen)
    if texts.empty:
        raise UserInputError("No comments, notes or feedback texts to find themes in; load "
                             "survey_responses (comment), activities (notes) or feedback first.")
    facts = scope.customer_facts(con, settings, day, by)
    model = ThemeModel(anchors=voice.themes or THEME_ANCHORS, extra_themes=voice.extra_themes,
                       anchor_strength=voice.anchor_strength, seed=seed)
    report = theme_report(texts, facts, scope.nps_groups(con, day),
                          scope.periods_of(texts["written_at"], grain, settings),
                          as_of=day, grain=grain.value, by=by, model=model)
    if save and by is None and as_of is None and chosen == tuple(voice.theme_sources):
        save_themes(sql, report.summary, report.trend, report.assigned, day, seed)
    return report


def rank_requests(sql: duckdb.DuckDBPyConnection, con: BaseBackend, settings: Settings, *,
                  by: str | None = None, as_of: date | None = None, rank: str = "customers",
                  threshold: float | None = None, save: bool = True,
                  period: str | None = None, today: date | None = None
                  ) -> RequestReport | tuple[RequestReport, pd.DataFrame]:
    """Merge the feature requests and ideas submitted by ``as_of`` and rank them (see
    ``requests.request_report``; ``threshold`` defaults to ``voice.request_threshold``).
    Unsegmented results for today are stored."""
    threshold = settings.voice.request_threshold if threshold is None else threshold
    day = scope.resolve_as_of(con, as_of, today or workspace_today(settings))
    f = con.table("feedback")
    f = f.filter(f.kind.isin(list(REQUEST_KINDS))
                 & (f.submitted_at.cast("date") <= ibis.literal(day))
                 & f.text.notnull())
    feedback = con.execute(f.select("feedback_id", "customer_id", "submitted_at", "text",
                                    "status"))
    if feedback.empty:
        feedback = pd.DataFrame(columns=["feedback_id", "customer_id", "submitted_at", "text",
                                         "status"])
    facts = scope.customer_facts(con, settings, day, by)
    report = request_report(feedback, facts, as_of=day, by=by, rank=rank, threshold=threshold)
    if save and by is None and as_of is None:
        save_requests(sql, report, threshold)
    if period is not None:
        return report, request_trend(report, feedback, _grain(period))
    return report


def _grain(period: str) -> Grain:
    try:
        return Grain(period)
    except ValueError:
        raise UserInputError(
            f"--period {period!r} is not one of day, week, month, quarter, year.") from None


def customer_texts(sql: duckdb.DuckDBPyConnection, con: BaseBackend, customer: str,
                   as_of: date | None = None) -> pd.DataFrame:
    """One customer's texts with their sentiment (new texts scored first), newest first:
    ``written_at``, ``source``, ``kind``, ``text``, ``compound``, ``label``."""
    score_texts(sql)
    t = sentiment_table(con, as_of)
    t = t.filter(t.customer_id == customer)
    t = t.order_by([ibis.desc("written_at"), "source", "key"])
    return con.execute(t.select("written_at", "source", "key", "kind", "text", "compound",
                                "label"))
