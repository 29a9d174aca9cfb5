"""What a batch changed, in time: the earliest day whose metrics it can affect.

Incremental refresh (``metrics/refresh.py``) recomputes only the periods from that day on.
A row counts from its earliest date (a subscription from its start, a ticket from its
opening): an inserted row affects days from its own earliest date; an updated row from the
earliest date of its old and new versions, or, when only dates changed (a subscription that
gets its end date), from the earliest of the changed dates -- but for tickets and leads, whose
later facts count in the period they were opened or created. A whole-table replacement, and
a change to a customer's other columns (its segments apply to every period), are recorded as
"recompute everything".

Each batch also records the earliest day it changed leaving out updates that only brought
later facts (a ticket answered, a lead converted): metrics that never read those facts
(``MetricDefinition.ignores_later_facts``) start from that day. And it records the days of
the rows those updates touched (every date of the old and the new row): a metric that
counts each row in the period of one of its own dates (``MetricDefinition.period_local``)
recomputes only the periods of those days for them.
"""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

import duckdb

from csmetrics.schema import DType, Table
from csmetrics.store.sql import first


class Change(NamedTuple):
    """What a batch changed: the first day it can affect (None: nothing dated changed),
    the same leaving out updates that only brought later facts (``LATER_FACTS``), whether
    it may affect every day, and the days of the rows those updates touched."""

    earliest: date | None
    beyond_facts: date | None
    everything: bool
    fact_days: tuple[date, ...] = ()


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
#: Later facts: what is learned about a row after it starts (a ticket's first response or
#: resolution, a lead's conversion). They count in the period of the row's own start: a
#: change to them affects from that start, even when only those dates changed.
LATER_FACTS = {
    "tickets": ("first_response_at", "resolved_at", "reopened_at"),
    "leads": ("converted_at",),
}


def earliest_change(con: duckdb.DuckDBPyConnection, table: Table, classified: str) -> Change:
    """What the rows of ``classified`` (the batch, each row with its ``__action``: insert,
    update or same) change against the table's current content; call it before the updates
    are applied."""
    dates = date_columns(table)
    if not dates:
        return Change(None, None, True)
    names = [*table.column_names, "attributes"]
    others = [c for c in names if c not in dates]
    match = key_match(table)

    def same(columns: list[str]) -> str:
        return " AND ".join(f"i.{c} IS NOT DISTINCT FROM t.{c}" for c in columns) or "true"

    changed_dates = ", ".join(
        f"CASE WHEN i.{c} IS DISTINCT FROM t.{c} THEN least(CAST(i.{c} AS DATE), "
        f"CAST(t.{c} AS DATE)) END" for c in dates
    )
    only_dates = f"least({changed_dates})" if len(dates) > 1 else changed_dates
    if table.name in LATER_FACTS:
        only_dates = f"least({_least(dates, 'i')}, {_least(dates, 't')})"
    updated = (f"CASE WHEN {same(others)} THEN {only_dates} "
               f"ELSE least({_least(dates, 'i')}, {_least(dates, 't')}) END")
    facts = LATER_FACTS.get(table.name, ())
    only_facts = same([c for c in names if c not in facts]) if facts else "false"
    beyond = f"CASE WHEN {only_facts} THEN NULL ELSE {updated} END"
    # every date of both versions: the row counts in the period of one of them
    row_days = ", ".join(f"CAST({v}.{c} AS DATE)" for v in ("i", "t") for c in dates)
    sql = f"""
        WITH inserted AS (SELECT min({_least(dates, 'i')}) AS day FROM {classified} i
                          WHERE __action = 'insert'),
        updated AS (SELECT min({updated}) AS day, min({beyond}) AS beyond,
                           count(*) FILTER (WHERE NOT ({same(others)})) AS others,
                           list_sort(list_distinct(flatten(
                               list([{row_days}]) FILTER (WHERE {only_facts})))) AS fact_days
                    FROM {classified} i JOIN {table.name} t ON {match}
                    WHERE i.__action = 'update')
        SELECT least(inserted.day, updated.day), least(inserted.day, updated.beyond),
               updated.others, updated.fact_days
        FROM inserted, updated
    """
    row = first(con.execute(sql))
    if row is None:
        return Change(None, None, False)
    return Change(row[0], row[1], bool(row[2]) and table.name in WHOLE_HISTORY,
                  tuple(row[3] or ()))


def earliest_in(con: duckdb.DuckDBPyConnection, table: Table) -> date | None:
    """The earliest day of the rows of the batch being loaded (``__batch``), all new."""
    row = first(con.execute(f"SELECT min({_least(date_columns(table), 'b')}) FROM __batch b"))
    return None if row is None else row[0]


def record_change(con: duckdb.DuckDBPyConnection, batch_id: int, table: str, change: Change
                  ) -> None:
    """Note what batch ``batch_id`` changed (inside the load's transaction)."""
    con.execute("INSERT INTO _batch_changes (batch_id, table_name, earliest, everything, "
                "earliest_beyond_facts, fact_days) VALUES (?, ?, ?, ?, ?, ?)",
                [batch_id, table, change.earliest, change.everything, change.beyond_facts,
                 list(change.fact_days) or None])
