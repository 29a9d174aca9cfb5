"""Customers: a searchable, sortable list, and one customer's 360 view."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from csmetrics.api.downloads import FILE_RESPONSES, FormatQuery, file_response
from csmetrics.api.models import Customer360, CustomerPage, CustomerSummary, MrrPoint
from csmetrics.api.routers.metrics import _clean
from csmetrics.reports.customers import select_customers
from csmetrics.server import answers
from csmetrics.server.deps import SiteDep, Viewer

router = APIRouter(prefix="/customers", tags=["customers"])

SortKey = Literal["name", "-name", "mrr", "-mrr", "arr", "-arr", "started_at", "-started_at",
                  "customer_id", "score", "-score", "coverage", "-coverage", "change", "-change",
                  "mrr_change", "-mrr_change"]


@router.get("", response_model=CustomerPage, summary="List, filter, search, sort, page",
            responses=FILE_RESPONSES)
def list_customers(
    user: Viewer,
    site: SiteDep,
    q: Annotated[str | None, Query(description="Search in id and name")] = None,
    plan: str | None = None,
    region: str | None = None,
    owner: str | None = None,
    size_tier: str | None = None,
    band: Annotated[str | None, Query(
        description="red, yellow, green, insufficient or 'not paying'")] = None,
    days: Annotated[int, Query(
        description="Window of mrr_change and change, in days: 7, 30 or 90")] = 30,
    sort: SortKey = "-mrr",
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    fmt: FormatQuery = "json",
) -> CustomerPage | Response:
    """Customers with their current MRR and ARR, MRR change over ``days`` days and health
    (score, coverage, band, score change); filters combine, search matches id or name.
    A customer without a plan in the customers file gets the plan of its subscriptions.
    With ``format`` csv, parquet or xlsx: every matching customer (not one page) as a file."""
    if days not in answers.CHANGE_DAYS:
        raise HTTPException(422,
                            f"days={days}: use one of 7, 30 or 90 (days of the change columns).")
    with site.reading() as ws:
        frame = answers.customer_table(site, ws, days)
        zone = ws.settings.workspace.timezone
    frame = select_customers(frame, search=q, sort=sort, plan=plan, region=region, owner=owner,
                             size_tier=size_tier, band=band)
    if fmt != "json":
        return file_response(frame, fmt, "customers", timezone=zone)
    chunk = frame.iloc[(page - 1) * page_size: page * page_size]
    items = [CustomerSummary(**{k: _clean(v) for k, v in row.items()})
             for row in chunk.to_dict("records")]
    return CustomerPage(total=len(frame), page=page, page_size=page_size, items=items)


@router.get("/{customer_id}", response_model=Customer360, summary="One customer, in full")
def customer_360(customer_id: str, user: Viewer, site: SiteDep) -> Customer360:
    """Profile, MRR over the last twelve months, health, churn risk and how many tickets,
    answers, activities, orders and feedback the customer has."""
    with site.reading() as ws:
        view = answers.customer_views(site, ws).view(customer_id)
        if view is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                f"There is no customer {customer_id!r}.")
        health = answers.health_explanation(site, ws, customer_id)
        risk = answers.churn_risks(site, ws).get(customer_id)
    profile, history, counts = view
    return Customer360(
        profile=profile, counts=counts,
        mrr_history=[MrrPoint(period_start=p, mrr=m) for p, m in history],
        health_score=None if health is None else _clean(health.score),
        health_band=None if health is None else health.band,
        health_coverage=None if health is None else _clean(health.coverage),
        health_summary=None if health is None else health.summary,
        churn_risk=_clean(risk))
