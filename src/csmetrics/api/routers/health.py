"""Health scores and predictions, as computed by the health and predict services."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from csmetrics.api.downloads import FILE_RESPONSES, FormatQuery, file_response
from csmetrics.api.models import (
    ChurnRisk,
    ClvRow,
    HealthComponent,
    HealthExplanation,
    HealthList,
    HealthRow,
)
from csmetrics.api.routers.metrics import _clean
from csmetrics.clock import check_day
from csmetrics.health.explain import explain
from csmetrics.server import answers
from csmetrics.server.deps import SiteDep, Viewer
from csmetrics.store.sql import quote_ident

router = APIRouter(tags=["health and predictions"])


@router.get("/health", response_model=HealthList, summary="Every account's health",
            responses=FILE_RESPONSES)
def health_list(user: Viewer, site: SiteDep, band: str | None = None, owner: str | None = None,
                as_of: date | None = None, fmt: FormatQuery = "json") -> HealthList | Response:
    """Health score, coverage (share of the scorecard's weight backed by data), band (red,
    yellow, green, or insufficient under the scorecard's min_coverage) and change of every
    paying account, optionally one band or owner."""
    check_day(as_of, "as_of")
    if fmt == "json":
        def body() -> bytes:  # kept as JSON: every account's row is not rebuilt per request
            with site.reading() as ws:
                health = answers.health(site, ws, as_of)
            rows = [HealthRow(**{k: _clean(r.get(k)) for k in HealthRow.model_fields})
                    for r in _chosen(health.scores, band, owner).to_dict("records")]
            return HealthList(as_of=health.as_of, rows=rows).model_dump_json().encode()
        return Response(site.remember(("health list", as_of, band, owner), body),
                        media_type="application/json")
    with site.reading() as ws:
        health = answers.health(site, ws, as_of)
        zone = ws.settings.workspace.timezone
    rows = _chosen(health.scores, band, owner)[list(HealthRow.model_fields)]
    return file_response(rows.assign(as_of=health.as_of), fmt, f"health-{health.as_of}",
                         timezone=zone)


def _chosen(scores: pd.DataFrame, band: str | None, owner: str | None) -> pd.DataFrame:
    """The accounts of ``band`` and ``owner`` (all when not given)."""
    if band:
        scores = scores[scores["band"] == band]
    if owner:
        scores = scores[scores["owner"] == owner]
    return scores


@router.get("/health/{customer_id}", response_model=HealthExplanation,
            summary="Why an account scores what it scores")
def health_explain(customer_id: str, user: Viewer, site: SiteDep,
                   as_of: date | None = None) -> HealthExplanation:
    """Each component's raw value, points, weight and contribution, in plain words."""
    check_day(as_of, "as_of")
    with site.reading() as ws:
        explanation = answers.health_explanation(site, ws, customer_id, as_of)
        if explanation is None:  # the reason, in words
            explanation = explain(answers.health(site, ws, as_of),
                                  answers.scorecard(site, ws), customer_id)
    components = [HealthComponent(**{k: _clean(r.get(k)) for k in HealthComponent.model_fields})
                  for r in explanation.components.to_dict("records")]
    return HealthExplanation(customer_id=explanation.customer_id, as_of=str(explanation.as_of),
                             score=_clean(explanation.score),
                             coverage=_clean(explanation.coverage), band=explanation.band,
                             summary=explanation.summary, components=components)


@router.get("/predictions/churn", response_model=list[ChurnRisk],
            summary="Stored churn risks (csmetrics predict churn score)")
def churn_risks(user: Viewer, site: SiteDep,
                top: Annotated[int, Query(ge=1, le=100_000)] = 100) -> list[ChurnRisk]:
    """The riskiest accounts of the last scoring run, riskiest first."""
    rows = _stored(site, "SELECT customer_id, as_of, probability, risk_decile, reasons FROM "
                   "_churn_scores ORDER BY probability DESC LIMIT ?", [top],
                   "No churn scores yet: run 'csmetrics predict churn train' and "
                   "'csmetrics predict churn score'.")
    return [ChurnRisk(**{k: _clean(v) for k, v in r.items()}) for r in rows]


@router.get("/predictions/clv", response_model=list[ClvRow],
            summary="Stored probabilistic CLV (csmetrics clv show)")
def clv(user: Viewer, site: SiteDep,
        top: Annotated[int, Query(ge=1, le=100_000)] = 100) -> list[ClvRow]:
    """The most valuable customers of the last CLV run, by CLV."""
    rows = _stored(site, "SELECT customer_id, expected_purchases, p_alive, expected_value, clv, "
                   "horizon_months FROM _clv_customers ORDER BY clv DESC NULLS LAST LIMIT ?",
                   [top], "No CLV results yet: run 'csmetrics clv fit' and 'csmetrics clv show'.")
    return [ClvRow(**{k: _clean(v) for k, v in r.items()}) for r in rows]


def _stored(site: SiteDep, sql: str, params: list[object], missing: str) -> list[dict]:
    with site.reading() as ws:
        table = sql.split(" FROM ")[1].split()[0]
        # the result tables always exist (store/app_tables.py): empty means never written
        if not ws.warehouse.sql.execute(
                f"SELECT EXISTS (SELECT 1 FROM {quote_ident(table)})").fetchall()[0][0]:
            raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
        return ws.warehouse.sql.execute(sql, params).df().to_dict("records")
