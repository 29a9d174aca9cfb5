"""The customer list as rows to show or export: profile, MRR and health, filtered and sorted.

The CLI (``csmetrics customers list``), the API (``GET /api/v1/customers``) and the dashboard's
customers page select customers with the same ``select_customers``, so a filter means the same
thing, and an export holds the same rows, wherever it is asked for.
"""

from __future__ import annotations

import pandas as pd

from csmetrics.errors import UserInputError
from csmetrics.reports.source import ReportSource

__all__ = ["FILTER_COLUMNS", "NOT_PAYING", "SORT_COLUMNS", "customer_table", "select_customers"]

NOT_PAYING = "not paying"
"""The health band of a customer without a score (not paying on the scoring day)."""
FILTER_COLUMNS = ("band", "plan", "region", "owner", "size_tier")
SORT_COLUMNS = ("customer_id", "name", "started_at", "plan", "region", "owner", "size_tier",
                "mrr", "arr", "mrr_change", "score", "coverage", "band", "change", "risk")


def customer_table(ws: ReportSource) -> pd.DataFrame:
    """Every customer: profile columns (the plan from subscriptions when the customers file
    has none), MRR and ARR on the last day of the data, and for paying ones the health score,
    coverage (share of the scorecard's weight backed by data), band ("insufficient" under
    the scorecard's min_coverage) and change since the last snapshot (band "not paying"
    for the others)."""
    customers = ws.customer_list()
    health = ws.health().scores[["customer_id", "score", "coverage", "band", "change"]]
    frame = customers.merge(health, on="customer_id", how="left")
    frame["band"] = frame["band"].fillna(NOT_PAYING)
    return frame


def select_customers(
    frame: pd.DataFrame,
    *,
    search: str | None = None,
    sort: str = "-mrr",
    **filters: str | None,
) -> pd.DataFrame:
    """The rows of ``frame`` that match every filter, sorted.

    ``filters`` are exact matches on ``band``, ``plan``, ``region``, ``owner`` or
    ``size_tier`` (None or "" = any); ``search`` matches part of the id or name, ignoring case;
    ``sort`` is a column name, with "-" in front for largest first; ties go by customer_id
    and missing values go last.
    """
    for column, value in filters.items():
        if column not in FILTER_COLUMNS:
            raise UserInputError(
                f"cannot filter customers by {column!r}; use one of: {', '.join(FILTER_COLUMNS)}")
        if value:
            if column not in frame.columns:
                raise UserInputError(f"the customer list has no {column!r} column to filter by")
            same = (frame[column].astype("string") == value).fillna(False).astype(bool)
            frame = frame[same]
    if search:
        needle = search.lower()

        def matches(column: str) -> pd.Series:
            text = frame[column].astype("string").str.lower()
            return text.str.contains(needle, regex=False).fillna(False).astype(bool)

        frame = frame[matches("customer_id") | matches("name")]
    key = sort.removeprefix("-")
    if key not in SORT_COLUMNS or key not in frame.columns:
        known = [c for c in SORT_COLUMNS if c in frame.columns]
        raise UserInputError(
            f"cannot sort customers by {sort!r}; use one of: {', '.join(known)} "
            "(with '-' in front for largest first, e.g. -mrr)")
    if key == "customer_id":
        return frame.sort_values(key, ascending=not sort.startswith("-"), kind="stable")
    return frame.sort_values([key, "customer_id"], ascending=[not sort.startswith("-"), True],
                             na_position="last", kind="stable")
