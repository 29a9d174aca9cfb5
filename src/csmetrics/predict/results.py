"""Prediction results stored in the warehouse (``_``-prefixed tables) for the dashboard."""

from __future__ import annotations

import duckdb
import pandas as pd

__all__ = ["TABLES", "read", "replace"]

#: Result table -> column definitions. Created on first write with CREATE TABLE IF NOT EXISTS.
TABLES: dict[str, str] = {
    "_churn_scores": "customer_id VARCHAR, as_of DATE, probability DOUBLE, risk_decile INTEGER, "
                     "reasons VARCHAR, model_trained_at VARCHAR",
    "_clv_customers": "customer_id VARCHAR, until DATE, time_unit VARCHAR, frequency DOUBLE, "
                      "recency DOUBLE, T DOUBLE, monetary DOUBLE, expected_purchases DOUBLE, "
                      "p_alive DOUBLE, expected_value DOUBLE, clv DOUBLE, horizon_months INTEGER, "
                      "discount_rate DOUBLE",
    "_clv_fits": "model VARCHAR, param VARCHAR, value DOUBLE, until DATE, time_unit VARCHAR, "
                 "fitted_at VARCHAR",
    "_survival_curves": "by_column VARCHAR, segment VARCHAR, months DOUBLE, at_risk INTEGER, "
                        "churned INTEGER, survival DOUBLE, ci_lower DOUBLE, ci_upper DOUBLE, "
                        "as_of DATE",
    "_survival_summary": "by_column VARCHAR, segment VARCHAR, customers INTEGER, "
                         "churned INTEGER, median_months DOUBLE, median_ci_lower DOUBLE, "
                         "median_ci_upper DOUBLE, expected_lifespan_months DOUBLE, as_of DATE",
}


def replace(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame,
            where: dict[str, object] | None = None) -> None:
    """Replace the rows of ``table`` matching ``where`` (all rows when None) by ``frame``, in
    one transaction: a reader sees the old rows or the new ones, never a mix."""
    columns = [part.strip().split(" ")[0] for part in TABLES[table].split(",")]
    data = frame.reindex(columns=columns)
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({TABLES[table]})")
    con.execute("BEGIN TRANSACTION")
    try:
        if where:
            clause = " AND ".join(f"{k} IS NOT DISTINCT FROM ?" for k in where)
            con.execute(f"DELETE FROM {table} WHERE {clause}", list(where.values()))
        else:
            con.execute(f"DELETE FROM {table}")
        con.register("__csm_result", data)
        con.execute(f"INSERT INTO {table} SELECT * FROM __csm_result")
        con.unregister("__csm_result")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read(con: duckdb.DuckDBPyConnection, table: str) -> pd.DataFrame:
    """Everything stored in a result table (empty when nothing was stored yet)."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({TABLES[table]})")
    return con.execute(f"SELECT * FROM {table}").df()
