"""One customer's 360 view: the profile, month-end MRR over the last twelve months, and how
many rows each table holds for the customer.

``customer_views`` gathers the pieces for one customer, or for every customer at once with a
query per piece (the server keeps those until the data changes, so a customer's page costs a
lookup); a customer's view is the same either way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import pandas as pd

__all__ = ["COUNTED", "CustomerView", "CustomerViews", "customer_views"]

#: The tables whose rows the view counts per customer.
COUNTED = ("subscriptions", "orders", "tickets", "survey_responses", "usage_events",
           "activities", "feedback")

#: (profile, [(period start, MRR)], {table: rows}).
CustomerView = tuple[dict[str, Any], list[tuple[date, float]], dict[str, int]]


@dataclass(frozen=True)
class CustomerViews:
    """The 360 views of the customers they were gathered for."""

    profiles: dict[str, dict[str, Any]]
    periods: tuple[date, ...]
    mrr: dict[str, dict[date, float]]
    counts: dict[str, dict[str, int]]

    def view(self, customer: str) -> CustomerView | None:
        """The customer's view; None for a customer that is not there."""
        profile = self.profiles.get(customer)
        if profile is None:
            return None
        mrr = self.mrr.get(customer, {})
        return (profile, [(period, mrr.get(period, 0.0)) for period in self.periods],
                {table: self.counts[table].get(customer, 0) for table in COUNTED})


def customer_views(sql: duckdb.DuckDBPyConnection, query: Callable[..., pd.DataFrame],
                   customer: str | None = None) -> CustomerViews:
    """The views of ``customer``, or of every customer (None). ``query`` computes metrics
    (``Workspace.query``); MRR is its default range, monthly."""
    where, params = ("WHERE customer_id = ?", [customer]) if customer is not None else ("", [])
    found = sql.execute(f"SELECT * FROM customers {where}", params)
    columns = [d[0] for d in found.description]
    profiles = {}
    for row in found.fetchall():
        record = dict(zip(columns, row, strict=True))
        profiles[record["customer_id"]] = record
    if customer is not None:
        history = query("mrr", customer=customer).assign(customer_id=customer)
        periods = history["period_start"]
    else:
        history = query("mrr", by="customer_id")
        periods = query("mrr")["period_start"]
    mrr: dict[str, dict[date, float]] = {}
    for row in history.itertuples():
        mrr.setdefault(row.customer_id, {})[row.period_start] = float(row.value)
    counts = {table: dict(sql.execute(f"SELECT customer_id, count(*) FROM {table} {where} "
                                      "GROUP BY customer_id", params).fetchall())
              for table in COUNTED}
    return CustomerViews(profiles, tuple(periods), mrr, counts)
