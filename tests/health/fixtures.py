"""A small company whose health as of 2025-03-31 is worked out by hand in the tests.

Accounts on 2025-03-31 (D):
  A  paying 120/month (renewed S1 -> S2 on 2025-01-01), 4 seats
  B  paying 50/month, past due since 2025-03-10, 2 seats
  C  stopped paying on 2025-02-01: not scored
  E  starts on 2025-04-15: not scored (unknown on D)
"""

from __future__ import annotations

from datetime import date

from csmetrics.store import Warehouse
from tests.metrics.revenue_fixtures import insert

D = date(2025, 3, 31)


def load_company(warehouse: Warehouse) -> None:
    """Insert the fixture rows (only rows known on or before D, plus one ticket resolved after
    D, which must not count as resolved on D)."""
    insert(warehouse, "customers", ("customer_id", "name", "started_at", "seats", "owner"), [
        ("A", "Acme", "2024-01-01", 4, "Ann"),
        ("B", "Beta", "2024-06-01", 2, "Bob"),
        ("C", "Gone", "2024-01-01", 1, "Ann"),
        ("E", "Later", "2025-04-15", 1, "Bob"),
    ])
    insert(warehouse, "subscriptions",
           ("subscription_id", "customer_id", "plan", "amount", "billing_interval",
            "start_date", "end_date", "past_due_since"), [
               ("S1", "A", "pro", 100, "month", "2024-01-01", "2025-01-01", None),
               ("S2", "A", "pro", 120, "month", "2025-01-01", None, None),
               ("S3", "B", "basic", 50, "month", "2024-06-01", None, "2025-03-10"),
               ("S4", "C", "basic", 30, "month", "2024-01-01", "2025-02-01", None),
               ("S5", "E", "basic", 10, "month", "2025-04-15", None, None),
           ])
    insert(warehouse, "usage_events", ("customer_id", "user_id", "occurred_at", "event",
                                       "quantity"), [
        ("A", "u1", "2025-01-10 10:00:00", "login", 10),   # previous 60 days
        ("A", "u1", "2025-03-01 10:00:00", "login", 4),    # last 60, not last 30 days
        ("A", "u2", "2025-03-20 10:00:00", "report", 1),   # last 30 days
        ("B", "u1", "2025-03-15 10:00:00", "login", None),  # quantity empty = 1
    ])
    insert(warehouse, "tickets", ("ticket_id", "customer_id", "opened_at", "resolved_at",
                                  "contacts"), [
        ("T1", "A", "2025-03-05 09:00:00", "2025-03-06 09:00:00", 1),
        ("T2", "A", "2025-02-01 09:00:00", "2025-02-10 09:00:00", 3),
        ("T3", "A", "2025-03-30 09:00:00", "2025-04-02 09:00:00", 1),  # resolved after D
    ])
    insert(warehouse, "survey_responses", ("response_id", "customer_id", "survey", "score",
                                           "responded_at", "scale_max"), [
        ("R1", "A", "nps", 9, "2025-01-15 12:00:00", None),
        ("R2", "A", "nps", 4, "2025-03-10 12:00:00", None),
        ("R3", "B", "csat", 8, "2025-02-01 12:00:00", 10),  # 8 of 10 = 4 of 5
    ])
    insert(warehouse, "activities", ("activity_id", "customer_id", "occurred_at", "kind",
                                     "sentiment"), [
        ("A1", "A", "2025-01-05 15:00:00", "meeting", "positive"),
        ("A2", "A", "2025-03-25 15:00:00", "call", "negative"),
        ("A3", "B", "2024-11-01 15:00:00", "email", "positive"),
    ])
    insert(warehouse, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
        ("O1", "A", "2025-02-01 08:00:00", 99, "failed"),
        ("O2", "A", "2025-02-02 08:00:00", 99, "paid"),
    ])


def add_later_data(warehouse: Warehouse) -> None:
    """Rows that happen after D: none of them may change a score as of D."""
    insert(warehouse, "usage_events", ("customer_id", "user_id", "occurred_at", "event"), [
        ("A", "u9", "2025-04-01 10:00:00", "export"),
        ("B", "u9", "2025-04-03 10:00:00", "export"),
    ])
    insert(warehouse, "tickets", ("ticket_id", "customer_id", "opened_at", "contacts"), [
        ("T9", "B", "2025-04-01 09:00:00", 2),
    ])
    insert(warehouse, "survey_responses", ("response_id", "customer_id", "survey", "score",
                                           "responded_at"), [
        ("R9", "A", "nps", 10, "2025-04-10 12:00:00"),
    ])
    insert(warehouse, "activities", ("activity_id", "customer_id", "occurred_at", "kind",
                                     "sentiment"), [
        ("A9", "A", "2025-04-02 15:00:00", "qbr", "positive"),
    ])
    insert(warehouse, "orders", ("order_id", "customer_id", "ordered_at", "amount", "status"), [
        ("O9", "B", "2025-04-05 08:00:00", 10, "refunded"),
    ])
    insert(warehouse, "subscriptions",
           ("subscription_id", "customer_id", "plan", "amount", "billing_interval",
            "start_date"), [("S9", "B", "addon", 500, "month", "2025-04-01")])
