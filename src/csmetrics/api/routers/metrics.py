"""Metric catalogue and metric queries."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import Response

from csmetrics.api.downloads import FILE_RESPONSES, FormatQuery, file_response
from csmetrics.api.models import MetricInfo, MetricQuery, MetricQueryResponse, MetricRow
from csmetrics.clock import check_day
from csmetrics.metrics import all_metrics, get_metric
from csmetrics.metrics.result import STANDARD
from csmetrics.server.deps import SiteDep, Viewer

router = APIRouter(prefix="/metrics", tags=["metrics"])


@router.get("", response_model=list[MetricInfo], summary="The metric catalogue")
def catalogue(user: Viewer) -> list[MetricInfo]:
    """Every metric: name, meaning, formula, unit and which way is good."""
    return [MetricInfo(name=m.name, title=m.title, section=m.section.value, unit=m.unit.value,
                       direction=m.direction.value, description=m.description,
                       formula=m.formula, tables=list(m.tables), benchmark=m.benchmark,
                       dimension=m.dimension) for m in all_metrics()]


@router.get("/{name}", response_model=MetricQueryResponse, summary="One metric over time",
            responses=FILE_RESPONSES)
def one_metric(
    name: str,
    user: Viewer,
    site: SiteDep,
    period: str = "month",
    start: date | None = None,
    end: date | None = None,
    by: Annotated[str | None, Query(description="Segment columns, comma-separated")] = None,
    customer: str | None = None,
    where: Annotated[list[str] | None, Query(description="COLUMN=VALUE, repeatable")] = None,
    as_of: date | None = None,
    fmt: FormatQuery = "json",
) -> MetricQueryResponse | Response:
    """A metric per period (and segment), like ``csmetrics metrics show``."""
    get_metric(name)
    for field, day in (("start", start), ("end", end), ("as_of", as_of)):
        check_day(day, field)
    with site.reading() as ws:
        frame = site.remember(
            ("metric", name, period, start, end, by, customer, tuple(where or ()), as_of),
            lambda: ws.query([name], period=period, start=start, end=end, by=by,
                             customer=customer, where=where, as_of=as_of, stored=True))
        zone = ws.settings.workspace.timezone
        fresh = site.remember("freshness", ws.freshness)
    if fmt != "json":
        return file_response(frame, fmt, f"{name}-by-{period}", timezone=zone)
    return MetricQueryResponse(rows=to_rows(frame, by.split(",") if by else []),
                               data_through=fresh.data_end, refreshed_at=fresh.refreshed_at)


@router.post("/query", response_model=MetricQueryResponse, summary="Several metrics at once",
             responses=FILE_RESPONSES)
def query(body: MetricQuery, user: Viewer, site: SiteDep,
          fmt: FormatQuery = "json") -> MetricQueryResponse | Response:
    """Metrics per period and segment, with filters, from a JSON body."""
    for field, day in (("start", body.start), ("end", body.end), ("as_of", body.as_of)):
        check_day(day, field)
    with site.reading() as ws:
        frame = site.remember(("metrics", body.model_dump_json()), lambda: ws.query(
            body.metrics, period=body.period, start=body.start, end=body.end,
            by=body.by or None, customer=body.customer, where=body.where or None,
            as_of=body.as_of, stored=True))
        zone = ws.settings.workspace.timezone
        fresh = site.remember("freshness", ws.freshness)
    if fmt != "json":
        return file_response(frame, fmt, f"{'-'.join(body.metrics)}-by-{body.period}"[:80],
                             timezone=zone)
    return MetricQueryResponse(rows=to_rows(frame, body.by), data_through=fresh.data_end,
                               refreshed_at=fresh.refreshed_at)


def to_rows(frame: pd.DataFrame, by: list[str]) -> list[MetricRow]:
    """Engine rows as API rows: segments (and a metric's dimension) in ``segment``, extra
    columns in ``details``, empty values as null."""
    by = [name.strip() for name in by if name.strip()]  # as the engine reads them
    dimensions = {m.dimension for m in all_metrics() if m.dimension}
    fixed = {"metric", "period_start", "target", "benchmark", "partial", *STANDARD}
    rows = []
    for record in frame.to_dict("records"):
        segment = {k: str(record[k]) for k in [*by, *dimensions] if _present(record.get(k))}
        details = {k: _clean(v) for k, v in record.items()
                   if k not in fixed and k not in segment and k not in dimensions
                   and _present(v)}
        rows.append(MetricRow(
            metric=record["metric"], period_start=record["period_start"], segment=segment,
            value=_clean(record["value"]), n=int(record["n"]),
            ci_low=_clean(record.get("ci_low")), ci_high=_clean(record.get("ci_high")),
            null_reason=record.get("null_reason") if _present(record.get("null_reason"))
            else None,
            target=_clean(record.get("target")),
            benchmark=record.get("benchmark") if _present(record.get("benchmark")) else None,
            details=details, partial=bool(record.get("partial", False)),
        ))
    return rows


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _clean(value: Any) -> Any:
    if not _present(value):
        return None
    return value.item() if hasattr(value, "item") else value
