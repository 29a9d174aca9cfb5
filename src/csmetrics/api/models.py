"""Typed request and response bodies of the API (they are its OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """What went wrong, and which field it concerns."""

    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorBody


class MetricInfo(BaseModel):
    """One entry of the metric catalogue."""

    name: str
    title: str
    section: str
    unit: str
    direction: str
    description: str
    formula: str
    tables: list[str]
    benchmark: str | None
    dimension: str | None


class MetricRow(BaseModel):
    """One metric value for one period and segment."""

    metric: str
    period_start: date
    segment: dict[str, str] = Field(default_factory=dict)
    value: float | None
    n: int
    ci_low: float | None = None
    ci_high: float | None = None
    null_reason: str | None = None
    target: float | None = None
    benchmark: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    #: The period runs past the end of the data: not comparable with a whole period.
    partial: bool = False


class MetricQuery(BaseModel):
    """A metric query, as a JSON body."""

    metrics: list[str] = Field(min_length=1)
    period: str = "month"
    start: date | None = None
    end: date | None = None
    by: list[str] = Field(default_factory=list)
    customer: str | None = None
    where: dict[str, str] = Field(default_factory=dict)
    as_of: date | None = None


class MetricQueryResponse(BaseModel):
    """The rows of a metric query, and how current they are."""

    rows: list[MetricRow]
    #: The last day of the data (rows of later periods have no value; a period it cuts
    #: short is ``partial``).
    data_through: date | None = None
    #: When the stored results were last refreshed; null when never.
    refreshed_at: datetime | None = None


class CustomerSummary(BaseModel):
    """A customer in a list: profile (``plan`` from its subscriptions when the customers file
    has none), MRR and ARR on the data end, and health on that day."""

    customer_id: str
    name: str
    started_at: date | None
    plan: str | None
    region: str | None
    owner: str | None
    size_tier: str | None
    mrr: float
    arr: float | None = None
    score: float | None = None
    coverage: float | None = Field(
        None, description="Share (0-1) of the health scorecard's weight backed by data.")
    band: str | None = Field(
        None, description="red, yellow, green, insufficient (coverage under the scorecard's "
        "min_coverage) or 'not paying'.")
    change: float | None = Field(None, description="Score minus the score of the latest "
                                 "snapshot at least ``days`` days old.")
    mrr_change: float | None = Field(None, description="MRR minus the MRR ``days`` days "
                                     "before the data end.")


class CustomerPage(BaseModel):
    """One page of customers."""

    total: int
    page: int
    page_size: int
    items: list[CustomerSummary]


class MrrPoint(BaseModel):
    """MRR at the end of one month."""

    period_start: date
    mrr: float


class Customer360(BaseModel):
    """Everything about one customer: profile, MRR history, activity counts, health (score,
    band, summary of what pulls it down) and the stored churn risk."""

    profile: dict[str, Any]
    mrr_history: list[MrrPoint]
    counts: dict[str, int]
    health_score: float | None = None
    health_band: str | None = None
    health_coverage: float | None = None
    health_summary: str | None = None
    churn_risk: float | None = None


class IngestSummary(BaseModel):
    """What one load did."""

    batch_id: int
    table: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    orphans: int
    extra_columns: list[str]
    summary: str


class RefreshSummary(BaseModel):
    """What a refresh computed."""

    rows: int
    grains: list[str]
    segments: list[str]
    first: date
    last: date
    seconds: float


class HealthRow(BaseModel):
    """One account's health score."""

    customer_id: str
    name: str | None
    owner: str | None
    mrr: float | None
    score: float | None
    coverage: float | None = Field(
        None, description="Share (0-1) of the scorecard's weight backed by data for the account.")
    band: str = Field(description="red, yellow, green, or insufficient: coverage under the "
                      "scorecard's min_coverage, whatever the score.")
    change: float | None = None


class HealthList(BaseModel):
    """Every paying account's health on a date."""

    as_of: date
    rows: list[HealthRow]


class HealthComponent(BaseModel):
    """One component of an account's score."""

    component: str
    shown: str
    points: float | None
    weight: float
    contribution: float | None
    lost: float | None
    why: str


class HealthExplanation(BaseModel):
    """An account's score, component by component, biggest pull first."""

    customer_id: str
    as_of: str
    score: float | None
    coverage: float | None = None
    band: str
    summary: str
    components: list[HealthComponent]


class ChurnRisk(BaseModel):
    """One account's stored churn risk."""

    customer_id: str
    as_of: date
    probability: float
    risk_decile: int | None
    reasons: str | None


class ClvRow(BaseModel):
    """One customer's probabilistic lifetime value (BG/NBD + Gamma-Gamma)."""

    customer_id: str
    expected_purchases: float | None
    p_alive: float | None
    expected_value: float | None
    clv: float | None
    horizon_months: int | None


class UserInfo(BaseModel):
    """A user as listed (never the password or its hash)."""

    username: str
    role: Literal["admin", "editor", "viewer"]
    disabled: bool
    created_at: datetime | None = None


class NewUser(BaseModel):
    """A user to add: name, role and an initial password (at least 10 characters)."""

    username: str = Field(min_length=1, max_length=100)
    role: Literal["admin", "editor", "viewer"] = "viewer"
    password: str = Field(min_length=10)


class UserChange(BaseModel):
    """What to change about a user; fields left out stay as they are."""

    role: Literal["admin", "editor", "viewer"] | None = None
    disabled: bool | None = None


class PasswordReset(BaseModel):
    """A new password set by an admin (at least 10 characters)."""

    password: str = Field(min_length=10)


class PasswordChange(BaseModel):
    """The caller's own password change: the current password and the new one."""

    current: str = Field(min_length=1)
    new: str = Field(min_length=10)


class TokenInfo(BaseModel):
    """An API token's record (never its secret or its hash)."""

    token_id: str
    username: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


class NewToken(BaseModel):
    """A token to create: for whom (default: the caller; only admins name someone else) and
    what it is for."""

    username: str | None = Field(None, min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)


class CreatedToken(TokenInfo):
    """A new token with its secret: shown this once, stored only hashed."""

    token: str
