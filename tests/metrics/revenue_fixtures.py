"""Small subscription histories, loaded straight into an in-memory warehouse."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from csmetrics.config import EngineSection, Settings
from csmetrics.metrics import MetricRequest, compute
from csmetrics.schema import TABLES
from csmetrics.store import Warehouse

SUB_COLUMNS = ("subscription_id", "customer_id", "plan", "amount", "billing_interval",
               "start_date", "end_date")


def memory_warehouse(timezone: str = "UTC") -> Warehouse:
    """A fresh in-memory warehouse with every canonical table."""
    return Warehouse.open(EngineSection(url="duckdb:///:memory:"), Path("."), timezone)


def insert(warehouse: Warehouse, table: str, columns: Sequence[str],
           rows: Iterable[Sequence[object]]) -> None:
    """Insert rows (``None`` = NULL) into a canonical table, for fixtures only."""
    assert set(columns) <= set(TABLES[table].column_names)
    marks = ", ".join("?" for _ in columns)
    warehouse.sql.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", [list(r) for r in rows])


def subscriptions(warehouse: Warehouse, rows: Iterable[Sequence[object]],
                  columns: Sequence[str] = SUB_COLUMNS) -> None:
    """Insert subscriptions, and a customer row for every customer they name."""
    rows = [list(r) for r in rows]
    customers = sorted({r[list(columns).index("customer_id")] for r in rows})
    insert(warehouse, "customers", ("customer_id", "name", "started_at"),
           [(c, c, "2000-01-01") for c in customers])
    insert(warehouse, "subscriptions", columns, rows)


def query(warehouse: Warehouse, metrics: str | Sequence[str], settings: Settings | None = None,
          **request: object) -> pd.DataFrame:
    """Compute metrics on the warehouse."""
    return compute(warehouse.ibis, settings or Settings(),
                   MetricRequest.create(metrics, **request))  # type: ignore[arg-type]


def values(frame: pd.DataFrame, metric: str) -> list[float | None]:
    """The metric's values in period order (None where empty)."""
    rows = frame[frame.metric == metric].sort_values("period_start")
    return [None if pd.isna(v) else round(float(v), 6) for v in rows["value"]]


def data_through(target: Warehouse | object, day: str) -> None:
    """Record that the data runs through ``day``: an activity on that day (the data end is
    the last day anything was recorded; a period after it has no value). For fixtures whose
    few rows end before the periods a test asks about."""
    warehouse = getattr(target, "warehouse", target)
    warehouse.sql.execute(  # type: ignore[attr-defined]
        "INSERT INTO activities (activity_id, customer_id, occurred_at, kind) "
        "VALUES (?, ?, ?, 'check_in')", [f"data-through-{day}", "data-through", f"{day} 12:00:00"])
