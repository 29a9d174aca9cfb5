"""A tiny company with texts: three customers, their subscriptions, comments, notes and
feedback, typed out so every expected number can be checked by hand."""

from __future__ import annotations

from csmetrics.store import Warehouse
from tests.metrics.revenue_fixtures import insert, memory_warehouse, subscriptions

# C1 pays 100 a month, C2 300, C3 nothing (no subscription).
SUBSCRIPTIONS = [
    ("S1", "C1", "pro", 100, "month", "2024-01-01", None),
    ("S2", "C2", "pro", 300, "month", "2024-01-01", None),
]

# (response_id, customer, survey, score, responded_at, comment)
RESPONSES = [
    ("R1", "C1", "nps", 3, "2024-03-05 10:00:00", "Another outage this week, terrible."),
    ("R2", "C1", "nps", 10, "2024-03-20 10:00:00", "Great support, thank you!"),
    ("R3", "C2", "nps", 2, "2024-04-02 10:00:00", "Dashboards load so slowly, awful."),
    ("R4", "C2", "csat", 5, "2024-04-03 10:00:00", None),
    ("R5", "C2", "nps", 9, "2024-04-10 10:00:00", "   "),
]
# (activity_id, customer, occurred_at, kind, notes)
ACTIVITIES = [
    ("A1", "C1", "2024-03-10 09:00:00", "call", "We asked about the roadmap."),
    ("A2", "C3", "2024-04-15 09:00:00", "qbr", "Sponsor is unhappy and frustrated."),
]
# (feedback_id, customer, submitted_at, kind, text, status)
FEEDBACK = [
    ("F1", "C1", "2024-03-12 08:00:00", "feature_request", "Export reports to Excel", "open"),
    ("F2", "C2", "2024-04-01 08:00:00", "feature_request", "Excel export of reports",
     "planned"),
    ("F3", "C3", "2024-04-05 08:00:00", "feature_request", "Dark mode for the app", "open"),
    ("F4", "C2", "2024-04-06 08:00:00", "praise", "Love the new reports.", None),
]

#: The labels VADER (with the domain words) gives the texts above, by key.
LABELS = {
    "R1": "negative", "R2": "positive", "R3": "negative", "A1": "neutral", "A2": "negative",
    "F1": "neutral", "F2": "neutral", "F3": "neutral", "F4": "positive",
}


def company(w: Warehouse | None = None) -> Warehouse:
    """The tiny company in ``w`` (default: a fresh in-memory warehouse)."""
    w = w or memory_warehouse()
    subscriptions(w, SUBSCRIPTIONS)
    insert(w, "customers", ("customer_id", "name", "started_at"), [("C3", "C3", "2024-01-01")])
    w.sql.execute("UPDATE customers SET region = CASE customer_id WHEN 'C1' THEN 'EMEA' "
                  "ELSE 'NA' END")
    insert(w, "survey_responses",
           ("response_id", "customer_id", "survey", "score", "responded_at", "comment"),
           RESPONSES)
    insert(w, "activities", ("activity_id", "customer_id", "occurred_at", "kind", "notes"),
           ACTIVITIES)
    insert(w, "feedback",
           ("feedback_id", "customer_id", "submitted_at", "kind", "text", "status"), FEEDBACK)
    return w
