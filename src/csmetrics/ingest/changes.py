"""What a batch changed, in time: the earliest day whose metrics it can affect.

Incremental refresh (``metrics/refresh.py``) recomputes only the periods from that day on.
A row counts from its earliest date (a subscription from its start, a ticket from its
opening): an inserted row affects days from its own earliest date; an updated row from the
earliest date of its old and new versions, or, when only dates changed (a subscription that
gets its end date), from the earliest of the changed dates -- but for tickets and leads, whose
later dates count in the period they were opened or created. A whole-table replacement, and
a change to a customer's other columns (its segments apply to every period), are recorded as
"recompute everything".
"""

from __future__ import annotations

from datetime import date

import duckdb

from csmetrics.schema import DType, Table
from csmetrics.store.sql import first

CHANGES_DDL = """
CREATE TABLE IF NOT EXISTS _batch_changes (
  batch_id BIGINT,
  table_name VARCHAR,
  earliest DATE,            -- the first day the batch can affect (NULL: nothing changed)
  everything BOOLEAN        -- true: the batch may affect any day (a replace)
)
"""


def date_columns(table: Table) -> list[str]:
    """The table's date and timestamp columns."""
    return [c.name for c in table.columns if c.dtype in (DType.DATE, DType.TIMESTAMP)]


def key_match(table: Table) -> str:
    """The join condition of a batch row ``i`` with a stored row ``t`` of the same key: an
    empty optional key column (a cost without a channel) matches an empty one."""
    return " AND ".join(
        f"t.{k} = i.{k}" if table.column(k).required else f"t.{k} IS NOT DISTINCT FROM i.{k}"
        for k in table.key)


def _least(columns: list[str], alias: str) -> str:
    days = [f"CAST({alias}.{c} AS DATE)" for c in columns]
    return days[0] if len(days) == 1 else f"least({', '.join(days)})"


#: Tables whose non-date columns describe every period (a customer's plan or region is a
#: segment of all its history).
WHOLE_HISTORY = ("customers",)
#: Tables whose later facts (a ticket's first response or resolution, a lead's conversion)
#: count in the period of the row's own start: a change to them affects from that start,
#: even when only those dates changed.
COUNTED_FROM_START = ("tickets", "leads")


def earliest_change(
    con: duckdb.DuckDBPyConnection, table: Table, classified: str
) -> tuple[date | None, bool]:
    """The earliest day affected by the rows of ``classified`` (the batch, each row with its
    ``__action``: insert, update or same) against the table's current content (None when
    the batch changes nothing dated), and whether it may affect every day; call it before
    the updates are applied."""
    dates = date_columns(table)
    if not dates:
        return None, True
    others = [c for c in [*table.column_names, "attributes"] if c not in dates]
    match = key_match(table)
    same_others = " AND ".join(f"i.{c} IS NOT DISTINCT FROM t.{c}" for c in others) or "true"
    changed_dates = ", ".join(
        f"CASE WHEN i.{c} IS DISTINCT FROM t.{c} THEN least(CAST(i.{c} AS DATE), "
        f"CAST(t.{c} AS DATE)) END" for c in dates
    )
    only_dates = f"least({changed_dates})" if len(dates) > 1 else changed_dates
    if table.name in COUNTED_FROM_START:
        only_dates = f"least({_least(dates, 'i')}, {_least(dates, 't')})"
    sql = f"""
        SELECT least(
          (SELECT min({_least(dates, 'i')}) FROM {classified} i WHERE __action = 'insert'),
          (SELECT min(CASE WHEN {same_others} THEN {only_dates}
                      ELSE least({_least(dates, 'i')}, {_least(dates, 't')}) END)
           FROM {classified} i JOIN {table.name} t ON {match}
           WHERE i.__action = 'update')),
          (SELECT count(*) FROM {classified} i JOIN {table.name} t ON {match}
           WHERE i.__action = 'update' AND NOT ({same_others}))
    """
    row = first(con.execute(sql))
    if row is None:
        return None, False
    return row[0], bool(row[1]) and table.name in WHOLE_HISTORY


def earliest_in(con: duckdb.DuckDBPyConnection, table: Table) -> date | None:
    """The earliest day of the rows of the batch being loaded (``__batch``), all new."""
    row = first(con.execute(f"SELECT min({_least(date_columns(table), 'b')}) FROM __batch b"))
    return None if row is None else row[0]


def record_change(
    con: duckdb.DuckDBPyConnection, batch_id: int, table: str, earliest: date | None,
    everything: bool,
) -> None:
    """Note what batch ``batch_id`` changed (inside the load's transaction)."""
    con.execute(CHANGES_DDL)
    con.execute("INSERT INTO _batch_changes VALUES (?, ?, ?, ?)",
                [batch_id, table, earliest, everything])
