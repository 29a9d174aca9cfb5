"""Prediction results stored in the warehouse (``_``-prefixed tables) for the dashboard.

The tables are declared in ``csmetrics.store.app_tables`` and exist in every warehouse.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from csmetrics.store.sql import quote_ident, replace_rows, table_columns

__all__ = ["TABLES", "latest_churn_risks", "read", "replace"]

#: The result tables.
TABLES: tuple[str, ...] = ("_churn_scores", "_clv_customers", "_clv_fits", "_survival_curves",
                           "_survival_summary")


def _known(table: str) -> str:
    if table not in TABLES:
        raise ValueError(f"{table!r} is not a prediction result table ({', '.join(TABLES)}).")
    return table


def replace(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
            where: dict[str, object] | None = None) -> None:
    """Replace the rows of ``table`` matching ``where`` (all rows when None) by ``frame``, in
    one transaction: a reader sees the old rows or the new ones, never a mix. Columns of
    ``frame`` that the table has not are left out; the table's other columns stay empty."""
    data = frame.reindex(columns=table_columns(con, _known(table)))
    replace_rows(con, table, data, where)


def read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """Everything stored in a result table (empty when nothing was stored yet)."""
    return con.execute(f"SELECT * FROM {quote_ident(_known(table))}").df()


def latest_churn_risks(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Each scored customer's churn probability from its latest scoring: ``customer_id``,
    ``probability`` (no rows before the first ``csmetrics predict churn score``)."""
    return con.execute("SELECT customer_id, max_by(probability, as_of) AS probability "
                       "FROM _churn_scores GROUP BY customer_id").df()
