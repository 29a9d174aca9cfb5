"""Small warehouses for churn tests: a planted signal, and a leakage fixture."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np

from csmetrics.store import Warehouse
from tests.metrics.revenue_fixtures import insert, memory_warehouse

START = date(2023, 1, 1)
END = date(2024, 12, 31)
SUBS = ("subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date",
        "end_date")
TICKETS = ("ticket_id", "customer_id", "opened_at", "resolved_at", "contacts")


def planted(customers: int = 160, churn_share: float = 0.4, seed: int = 1) -> Warehouse:
    """Customers who all start on 2023-01-01 at $100 a month. A ``churn_share`` of them leave
    on a day spread over 2023-09 .. 2024-12, and each of those opens a support ticket 120, 105,
    90, 75, 60 and 45 days before leaving: the planted signal. Every customer also opens noise
    tickets (about one per 180 days). Nothing else differs between churners and stayers."""
    rng = np.random.default_rng(seed)
    wh = memory_warehouse()
    ids = [f"C{i:03d}" for i in range(customers)]
    churners = set(rng.choice(ids, int(customers * churn_share), replace=False).tolist())
    span = (date(2024, 12, 1) - date(2023, 9, 1)).days
    ends = {c: date(2023, 9, 1) + timedelta(days=int(rng.integers(0, span)))
            for c in sorted(churners)}
    insert(wh, "customers", ("customer_id", "name", "started_at", "seats"),
           [(c, c, START, 5) for c in ids])
    insert(wh, "subscriptions", SUBS,
           [(f"S{c}", c, "pro", 100, "month", START, ends.get(c)) for c in ids])
    tickets = []
    for c in ids:
        last = ends.get(c, END)
        for k, day in enumerate(sorted(rng.integers(0, (last - START).days,
                                                    rng.poisson((last - START).days / 180)))):
            opened = datetime.combine(START + timedelta(days=int(day)), datetime.min.time())
            tickets.append((f"N{c}-{k}", c, opened, opened + timedelta(hours=5), 1))
        if c in ends:
            for before in (120, 105, 90, 75, 60, 45):
                opened = datetime.combine(ends[c] - timedelta(days=before),
                                          datetime.min.time()) + timedelta(hours=9)
                tickets.append((f"P{c}-{before}", c, opened, opened + timedelta(hours=5), 1))
    insert(wh, "tickets", TICKETS, tickets)
    # the data runs to END: a last ticket of a stayer on that day
    stayer = next(c for c in ids if c not in ends)
    insert(wh, "tickets", TICKETS, [("END", stayer, datetime(2024, 12, 31, 12), None, None)])
    return wh


CUTOFF = date(2024, 6, 30)


def leakage(with_future: bool = False, with_more_past: bool = False) -> Warehouse:
    """Two customers with a row in every table before the 2024-06-30 cutoff. With
    ``with_future``: rows dated after the cutoff in every table, and later facts about earlier
    rows (a subscription's end, a ticket's resolution, a payment falling due) dated after it.
    With ``with_more_past``: one more usage event before the cutoff (a positive control)."""
    wh = memory_warehouse()
    future = with_future
    insert(wh, "customers", ("customer_id", "name", "started_at", "seats"),
           [("A", "A", "2024-01-01", 10), ("B", "B", "2024-02-01", 3)]
           + ([("Z", "Z", "2024-07-05", 1)] if future else []))
    insert(wh, "subscriptions", (*SUBS, "past_due_since"), [
        ("SA", "A", "pro", 120, "month", "2024-01-01", "2024-08-01" if future else None,
         "2024-07-10" if future else None),
        ("SB", "B", "basic", 600, "year", "2024-02-01", None, None),
    ] + ([("SA2", "A", "pro", 500, "month", "2024-07-01", None, None),
          ("SZ", "Z", "pro", 50, "month", "2024-07-05", None, None)] if future else []))
    usage = [("A", "u1", "2024-06-01 10:00:00", "report"), ("A", "u2", "2024-06-20 10:00:00",
             "export"), ("A", "u1", "2024-05-15 10:00:00", "report"),
             ("B", "u9", "2024-06-29 23:00:00", "login")]
    if future:
        usage += [("A", "u3", "2024-07-01 00:00:00", "admin"), ("B", "u9", "2024-08-01", "x")]
    if with_more_past:
        usage += [("B", "u8", "2024-06-30 08:00:00", "login")]
    insert(wh, "usage_events", ("customer_id", "user_id", "occurred_at", "event"), usage)
    insert(wh, "tickets", TICKETS, [
        ("T1", "A", "2024-06-10 09:00:00", "2024-07-02 09:00:00" if future else None, None),
        ("T2", "B", "2024-05-01 09:00:00", "2024-05-01 12:00:00", 1),
    ] + ([("T3", "A", "2024-07-03 09:00:00", None, None)] if future else []))
    insert(wh, "survey_responses", ("response_id", "customer_id", "survey", "score",
                                    "responded_at"), [
        ("R1", "A", "nps", 9, "2024-06-01 10:00:00"), ("R2", "B", "csat", 2, "2024-06-02"),
    ] + ([("R3", "A", "nps", 0, "2024-07-01 10:00:00"),
          ("R4", "B", "csat", 5, "2024-07-01")] if future else []))
    insert(wh, "activities", ("activity_id", "customer_id", "occurred_at", "kind", "sentiment"), [
        ("X1", "A", "2024-06-15 10:00:00", "call", "positive"),
    ] + ([("X2", "A", "2024-07-15 10:00:00", "call", "negative")] if future else []))
    insert(wh, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
        ("O1", "B", "2024-04-01 10:00:00", 10, "failed"),
    ] + ([("O2", "B", "2024-07-01 10:00:00", 10, "failed")] if future else []))
    insert(wh, "feedback", ("feedback_id", "customer_id", "submitted_at", "kind", "text"), [
        ("F1", "A", "2024-06-01 10:00:00", "complaint", "slow"),
    ] + ([("F2", "A", "2024-07-01 10:00:00", "complaint", "slower")] if future else []))
    return wh
