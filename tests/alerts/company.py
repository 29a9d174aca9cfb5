"""A small company whose rule firings on 2025-03-31 (a Monday) are worked out by hand.

Accounts on D = 2025-03-31 (owner, plan, MRR):
  A  Acme    Ann   pro    100 (monthly)
  B  Beta    Bob   basic  100 (1 200 a year from 2024-05-15: renews 2025-05-15, in 45 days)
  C  Cyan    -     pro     50 (monthly, contract ends 2025-04-20, in 20 days)
  X  Exit    Bob   basic   80 (monthly, cancelled on 2025-03-01, ends 2025-04-10: no renewal)

Usage (usage_volume over 28 days): as of D the window is 03-04..03-31, as of D-28 (03-03) it
is 02-04..03-03.  A 40 -> 10 (-75 %), B 10 -> 1 (-90 %, but under min_before 20),
C 30 -> 25 (-17 %), X none.

Scorecard: one component, usage_volume over 28 days, linear 0 -> 0 points, 40 -> 100
points; red below 40, green from 70.  A 100 (green) -> 25 (red); B 25 (red) -> 2.5 (red);
C 75 (green) -> 62.5 (yellow); X uses nothing: 0 (red) both times.

NPS: A answered 3 on 03-28 (in the last 7 days: detractor); B 7 on 03-29 (passive);
C 5 on 03-10 (a detractor, but 21 days ago).
Tickets: A's T1 reopened on 03-30; B's T2 reopened on 03-01 (too long ago).
Employee reviews: Eve 5, 4 in the week of 03-17 (4.5) and 3, 3 in the week of 03-24 (3.0):
down 1.5; Finn 4, 4 then 4, 3 (down 0.5).
"""

from __future__ import annotations

from datetime import date

from csmetrics.workspace import Workspace
from tests.metrics.revenue_fixtures import insert

D = date(2025, 3, 31)

SCORECARD = """\
[bands]
red_below = 40
green_from = 70

[components.usage]
signal = "usage_volume"
window_days = 28
weight = 1
linear = [[0, 0], [40, 100]]
"""

RULES = """\
default_assignee = "Head of CS"

[team.Ann]
email = "ann@example.com"
user = "ann"

[playbooks.save]
title = "Save the account"
priority = "high"
steps = [{ title = "Review", due_days = 1 }, { title = "Call", due_days = 3 }]

[playbooks.follow-up]
title = "Follow up"
steps = [{ title = "Call back", due_days = 2 }]

[[rules]]
name = "usage-drop"
kind = "drop"
signal = "usage_volume"
window_days = 28
over_days = 28
drop = 0.3
min_before = 20
playbook = "save"

[[rules]]
name = "turned-red"
kind = "band_change"
from = ["green", "yellow"]
to = ["red"]
over_days = 28
playbook = "save"

[[rules]]
name = "small-pro"
kind = "threshold"
signal = "metric:mrr"
op = "<"
value = 75
where = { plan = "pro" }
playbook = "follow-up"

[[rules]]
name = "plan-mrr"
kind = "threshold"
scope = "segment"
by = "plan"
signal = "metric:mrr"
op = "<"
value = 120
assign_to = "Head of CS"
playbook = "follow-up"

[[rules]]
name = "detractor"
kind = "event"
event = "nps_detractor"
lookback_days = 7
playbook = "follow-up"

[[rules]]
name = "reopened"
kind = "event"
event = "ticket_reopened"
lookback_days = 7
playbook = "follow-up"

[[rules]]
name = "renewal"
kind = "event"
event = "renewal_due"
days_before = 60
playbook = "follow-up"

[[rules]]
name = "employee"
kind = "event"
event = "employee_rating_drop"
drop = 1.0
assign_to = "Head of CS"
playbook = "follow-up"
"""


def load_company(ws: Workspace, rules: str = RULES) -> None:
    """Write the scorecard and rules, and insert the fixture rows."""
    (ws.root / "health.toml").write_text(SCORECARD, encoding="utf-8")
    (ws.root / "alerts.toml").write_text(rules, encoding="utf-8")
    w = ws.warehouse
    insert(w, "customers", ("customer_id", "name", "started_at", "owner", "plan"), [
        ("A", "Acme", "2024-01-01", "Ann", "pro"),
        ("B", "Beta", "2024-05-15", "Bob", "basic"),
        ("C", "Cyan", "2024-06-01", None, "pro"),
        ("X", "Exit", "2024-01-01", "Bob", "basic"),
    ])
    insert(w, "subscriptions", ("subscription_id", "customer_id", "plan", "amount",
                                "billing_interval", "start_date", "end_date", "canceled_at"), [
        ("SA", "A", "pro", 100, "month", "2024-01-01", None, None),
        ("SB", "B", "basic", 1200, "year", "2024-05-15", None, None),
        ("SC", "C", "pro", 50, "month", "2024-06-01", "2025-04-20", None),
        ("SX", "X", "basic", 80, "month", "2024-01-01", "2025-04-10", "2025-03-01"),
    ])
    insert(w, "usage_events", ("customer_id", "user_id", "occurred_at", "event", "quantity"), [
        ("A", "a1", "2025-02-10 10:00:00", "report", 40),
        ("A", "a1", "2025-03-10 10:00:00", "report", 10),
        ("B", "b1", "2025-02-10 10:00:00", "report", 10),
        ("B", "b1", "2025-03-10 10:00:00", "report", 1),
        ("C", "c1", "2025-02-10 10:00:00", "report", 30),
        ("C", "c1", "2025-03-10 10:00:00", "report", 25),
    ])
    insert(w, "survey_responses", ("response_id", "customer_id", "survey", "score",
                                   "responded_at", "comment", "employee"), [
        ("R1", "A", "nps", 3, "2025-03-28 12:00:00", "Reports keep timing out", None),
        ("R2", "B", "nps", 7, "2025-03-29 12:00:00", None, None),
        ("R3", "C", "nps", 5, "2025-03-10 12:00:00", None, None),
        ("E1", "A", "employee_review", 5, "2025-03-17 12:00:00", None, "Eve"),
        ("E2", "B", "employee_review", 4, "2025-03-19 12:00:00", None, "Eve"),
        ("E3", "A", "employee_review", 3, "2025-03-25 12:00:00", None, "Eve"),
        ("E4", "C", "employee_review", 3, "2025-03-30 12:00:00", None, "Eve"),
        ("F1", "A", "employee_review", 4, "2025-03-18 12:00:00", None, "Finn"),
        ("F2", "B", "employee_review", 4, "2025-03-18 12:00:00", None, "Finn"),
        ("F3", "A", "employee_review", 4, "2025-03-26 12:00:00", None, "Finn"),
        ("F4", "B", "employee_review", 3, "2025-03-26 12:00:00", None, "Finn"),
    ])
    insert(w, "tickets", ("ticket_id", "customer_id", "opened_at", "resolved_at",
                          "reopened_at", "contacts"), [
        ("T1", "A", "2025-03-20 09:00:00", "2025-03-31 09:00:00", "2025-03-30 09:00:00", 3),
        ("T2", "B", "2025-02-20 09:00:00", "2025-03-05 09:00:00", "2025-03-01 09:00:00", 2),
    ])
