"""One customer's 360 view: the profile, month-end MRR over the last twelve months, and how
many rows each table holds for the customer.

``customer_views`` gathers the pieces for one customer, or for every customer at once with a
query per piece (the server keeps those until the data changes, so a customer's page costs a
lookup); a customer's view is the same either way.

What a CSM needs beside it: ``subscriptions_now`` (the subscriptions in service on the data's
last day with their MRR and next renewal, by the rule of ``reports.renewals``), ``last_touch``
(the latest activity, ticket or survey answer) and ``note_file`` (a note logged on the
customer's page, as an ``activities`` row to load like any other file).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd

from csmetrics.errors import FieldError

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from csmetrics.config import Settings

__all__ = ["COUNTED", "NOTE_MAX_CHARS", "CustomerView", "CustomerViews", "customer_views",
           "last_touch", "note_file", "subscriptions_now"]

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


#: The longest note the customer page accepts, in characters.
NOTE_MAX_CHARS = 2000


def subscriptions_now(con: BaseBackend, settings: Settings, customer: str, day: date, *,
                      today: date | None = None) -> pd.DataFrame:
    """The customer's subscriptions in service on ``day``: plan, interval, quantity, MRR
    (reporting currency), start, next renewal date and value, soonest renewal first."""
    from csmetrics.metrics.drilldown import subscription_mrr  # ibis: only when asked
    from csmetrics.reports.renewals import with_renewals
    rows = with_renewals(subscription_mrr(con, settings, day, customer=customer, today=today),
                         day)
    order = rows["next_renewal"].map(lambda d: d or date.max)
    return rows.assign(_order=order).sort_values(["_order", "subscription_id"]).drop(
        columns="_order").reset_index(drop=True)


def last_touch(sql: duckdb.DuckDBPyConnection, customer: str) -> dict[str, Any] | None:
    """The customer's latest touch: an activity (a call, a note, ...), a ticket it opened or
    a survey it answered, whichever is latest; ``at``, ``source``, ``what`` and ``who``.
    None when there is none."""
    row = sql.execute(
        "SELECT * FROM ("
        " SELECT CAST(occurred_at AS TIMESTAMP) AS touched_at, 'activity' AS source, kind AS what,"
        "  employee AS who, notes AS detail FROM activities WHERE customer_id = $c"
        " UNION ALL SELECT CAST(opened_at AS TIMESTAMP), 'ticket', category, agent, priority"
        "  FROM tickets WHERE customer_id = $c"
        " UNION ALL SELECT CAST(responded_at AS TIMESTAMP), 'survey', survey, respondent,"
        "  CAST(score AS VARCHAR) FROM survey_responses WHERE customer_id = $c"
        ") ORDER BY touched_at DESC LIMIT 1", {"c": customer}).fetchall()
    if not row:
        return None
    row = row[0]
    return dict(zip(("at", "source", "what", "who", "detail"), row, strict=True))


def note_file(folder: Path, customer: str, text: str, employee: str, now: datetime) -> Path:
    """A one-row ``activities`` file in ``folder`` for a note on ``customer``: kind "note",
    by ``employee``, at ``now``, to load with ``Workspace.ingest`` (so the ledger records it).
    An empty note, or one over ``NOTE_MAX_CHARS`` characters, is refused."""
    text = text.strip()
    if not text:
        raise FieldError("note", "The note is empty; write what happened, then save.")
    if len(text) > NOTE_MAX_CHARS:
        raise FieldError("note", f"The note has {len(text):,} characters; keep it to "
                         f"{NOTE_MAX_CHARS:,} or fewer (put long documents in your files "
                         "and link them).")
    stamp = now.strftime("%Y%m%dT%H%M%S")
    row = {"activity_id": f"note-{customer}-{stamp}-{secrets.token_hex(3)}",
           "customer_id": customer, "occurred_at": now.isoformat(timespec="seconds"),
           "kind": "note", "employee": employee, "notes": text}
    path = folder / f"note-{stamp}.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path
