"""The headline KPIs: the few numbers a customer-success leader looks at first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

from csmetrics.config import Settings
from csmetrics.metrics.definition import MetricDefinition, get_metric
from csmetrics.metrics.engine import MetricRequest, compute, data_end
from csmetrics.metrics.periods import Grain, next_start, period_start

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


HEADLINE = ("mrr", "net_new_mrr", "nrr", "grr", "customer_churn_rate", "arpa", "nps", "csat",
            "ltv_cac_ratio")


@dataclass(frozen=True)
class Kpi:
    """One headline figure for the last complete period, beside the one before it."""

    definition: MetricDefinition
    period_start: date
    value: float | None
    previous: float | None
    n: int
    target: float | None
    null_reason: str | None

    @property
    def change(self) -> float | None:
        """Value minus the previous period's value."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous


@dataclass(frozen=True)
class Freshness:
    """How current the numbers are: the last day of the data and when the stored results
    were last refreshed (None: never), shown in the workspace's time zone."""

    data_end: date
    refreshed_at: datetime | None
    timezone: str

    @property
    def refreshed(self) -> str:
        """"refreshed at 2026-07-15 12:00 CEST", or "never refreshed"."""
        if self.refreshed_at is None:
            return "never refreshed"
        local = self.refreshed_at.astimezone(ZoneInfo(self.timezone))
        return f"refreshed at {local:%Y-%m-%d %H:%M} {local.tzname()}"

    def __str__(self) -> str:
        return f"data through {self.data_end.isoformat()} · {self.refreshed}"


def last_refreshed(sql: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the metrics were last refreshed (aware), or None when they never were."""
    row = sql.execute("SELECT max(refreshed_at) FROM _refreshes").fetchone()
    at = None if row is None else row[0]
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=ZoneInfo("UTC"))


def last_complete_period(end: date, grain: Grain = Grain.MONTH) -> date:
    """Start of the last period that ends on or before ``end``."""
    start = period_start(end, grain)
    if next_start(start, grain) - timedelta(days=1) == end:
        return start
    return period_start(start - timedelta(days=1), grain)


def headline(con: BaseBackend, settings: Settings, metrics: tuple[str, ...] = HEADLINE, *,
             today: date) -> list[Kpi]:
    """The headline KPIs for the last month complete in the data known on ``today``, with the
    month before for comparison."""
    end = data_end(con, today)
    current = last_complete_period(end)
    previous = period_start(current - timedelta(days=1), Grain.MONTH)
    frame = compute(con, settings, MetricRequest.create(
        metrics, period="month", start=previous, end=next_start(current, Grain.MONTH)
        - timedelta(days=1)), data_ends=end)
    kpis = []
    for name in metrics:
        rows = frame[frame.metric == name].set_index("period_start")
        now, before = rows.loc[current], rows.loc[previous]
        kpis.append(Kpi(
            definition=get_metric(name), period_start=current, value=_number(now["value"]),
            previous=_number(before["value"]), n=int(now["n"]), target=_number(now["target"]),
            null_reason=None if pd.isna(now["null_reason"]) else str(now["null_reason"]),
        ))
    return kpis


def _number(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
