"""Support metrics (and churn by owner) against figures computed by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from csmetrics import Workspace
from tests.conftest import write_csv
from tests.metrics.revenue_fixtures import data_through

TICKET_HEADER = ["ticket_id", "customer_id", "opened_at", "first_response_at", "resolved_at",
                 "contacts", "agent", "channel"]
SUB_HEADER = ["subscription_id", "customer_id", "plan", "amount", "billing_interval",
              "start_date", "end_date"]
JAN_APR = {"start": "2024-01-01", "end": "2024-04-30"}


def load(ws: Workspace, table: str, header: Sequence[str], rows: Sequence[Sequence[object]]
         ) -> None:
    """Write ``rows`` to a CSV file and ingest it into ``table``."""
    ws.ingest(table, [write_csv(ws.root / f"{table}.csv", header, rows)])


def by_period(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    got = frame[frame.metric == metric].copy()
    got.index = got.period_start.astype(str)
    return got


def vals(series: pd.Series) -> list[float | None]:
    return [None if pd.isna(v) else round(float(v), 6) for v in series]


# Durations (hours) are in the comments: response = opened -> first response,
# resolution = opened -> resolved.
TICKETS = [
    # resolved in January
    ["T1", "A", "2024-01-02 08:00:00", "2024-01-02 09:00:00", "2024-01-02 10:00:00", 1,
     "ann", "email"],                                                # response 1, resolution 2
    ["T2", "A", "2024-01-03 08:00:00", "2024-01-03 10:00:00", "2024-01-03 12:00:00", 2,
     "ann", "chat"],                                                 # 2, 4
    ["T3", "B", "2024-01-04 08:00:00", "2024-01-04 11:00:00", "2024-01-04 14:00:00", 1,
     "bob", "email"],                                                # 3, 6
    ["T7", "B", "2023-12-31 20:00:00", "2023-12-31 21:00:00", "2024-01-01 04:00:00", None,
     "bob", "phone"],                 # opened in December; resolution 8; contacts unknown
    # resolved in February
    ["T4", "B", "2024-01-05 08:00:00", "2024-01-05 12:00:00", "2024-02-02 08:00:00", 1,
     "bob", "chat"],                                                 # 4, 672
    ["T5", "A", "2024-01-31 22:00:00", "2024-02-01 08:00:00", "2024-02-01 12:00:00", 1,
     "ann", "email"],                                                # 10, 14
    # never resolved
    ["T6", "B", "2024-01-20 08:00:00", None, None, None, "bob", "email"],   # unanswered
    ["T8", "C", "2024-02-10 08:00:00", "2024-02-10 08:30:00", None, None, "ann", "chat"],
    ["T9", "A", "2024-03-05 08:00:00", None, None, None, None, "email"],
    ["T10", "A", "2024-04-03 08:00:00", None, None, None, "ann", "email"],
]


@pytest.fixture
def desk(ws: Workspace) -> Workspace:
    load(ws, "customers", ["customer_id", "name", "started_at", "region"], [
        ["A", "A", "2023-12-01", "EMEA"], ["B", "B", "2023-12-01", "NA"],
        ["C", "C", "2024-02-01", "NA"], ["D", "D", "2024-02-10", "NA"],
        ["E", "E", "2024-01-15", "NA"]])
    load(ws, "subscriptions", SUB_HEADER, [
        ["SA", "A", "p", 100, "month", "2023-12-01", "2024-04-01"],
        ["SB", "B", "p", 100, "month", "2023-12-01", "2024-04-01"],
        ["SC", "C", "p", 100, "month", "2024-02-01", "2024-04-01"],
    ])
    load(ws, "orders", ["order_id", "customer_id", "ordered_at", "amount", "status"], [
        ["O1", "D", "2024-02-10 10:00:00", 500, "paid"],       # D: active in February
        ["O2", "E", "2024-01-15 10:00:00", 500, "refunded"],   # E: never active
    ])
    load(ws, "tickets", TICKET_HEADER, TICKETS)
    return ws


def test_first_contact_resolution_rate_by_hand(desk):
    got = by_period(desk.query("first_contact_resolution_rate", **JAN_APR),
                    "first_contact_resolution_rate")
    # January resolved: T1 (1 contact), T2 (2), T3 (1), T7 (unknown) -> 2 / 3
    jan = got.loc["2024-01-01"]
    assert (round(jan.value, 6), jan.n, jan.unknown_contacts) == (round(2 / 3, 6), 3, 1)
    assert (jan.ci_low, jan.ci_high) == pytest.approx((0.2077, 0.9385), abs=1e-3)  # Wilson
    # February: T4 and T5, both at first contact. March, April: nothing resolved.
    assert vals(got.value) == [round(2 / 3, 6), 1.0, None, None]
    assert got.loc["2024-03-01", "null_reason"] == "no tickets resolved in the period"


def test_first_contact_resolution_by_agent_and_channel(desk):
    agents = desk.query("first_contact_resolution_rate", start="2024-01-01", end="2024-02-29",
                        by="agent")
    jan = agents[agents.period_start.astype(str) == "2024-01-01"].set_index("agent")
    assert jan.loc["ann", "value"] == 0.5            # T1 yes, T2 no
    assert (jan.loc["bob", "value"], jan.loc["bob", "n"]) == (1.0, 1)   # T3; T7 unknown
    feb = agents[agents.period_start.astype(str) == "2024-02-01"].set_index("agent")
    assert (feb.loc["ann", "value"], feb.loc["bob", "value"]) == (1.0, 1.0)
    channels = desk.query("first_contact_resolution_rate", start="2024-01-01",
                          end="2024-01-31", by="channel").set_index("channel")
    assert (channels.loc["email", "value"], channels.loc["chat", "value"]) == (1.0, 0.0)
    # phone: its only resolved ticket has no contact count -> empty with a reason, not 0
    assert pd.isna(channels.loc["phone", "value"])
    assert channels.loc["phone", "null_reason"] == (
        "no resolved ticket in the period has a contact count")
    only_bob = desk.query("first_contact_resolution_rate", start="2024-01-01",
                          end="2024-01-31", where={"agent": "bob"})
    assert (only_bob.value.iloc[0], only_bob.n.iloc[0]) == (1.0, 1)


def test_tickets_per_customer(desk):
    got = by_period(desk.query("tickets_per_customer", **JAN_APR), "tickets_per_customer")
    # opened: Jan T1-T6 = 6 (T5 at 22:00 on the 31st); Feb T8; Mar T9; Apr T10.
    # active: Jan A, B (E's order was refunded); Feb A, B, C + D (a paid order); Mar A, B, C;
    # Apr nobody (every subscription ended on 1 April)
    assert vals(got.tickets) == [6, 1, 1, 1]
    assert list(got.n) == [2, 4, 3, 0]
    assert vals(got.value) == [3.0, 0.25, round(1 / 3, 6), None]
    assert got.loc["2024-04-01", "null_reason"] == "no active customers in the period"


def test_tickets_per_customer_by_agent_and_region(desk):
    agents = desk.query("tickets_per_customer", start="2024-01-01", end="2024-03-31",
                        by="agent")
    table = agents.pivot(index="period_start", columns="agent", values="value")
    # every agent over all active customers; an agent without tickets in a month shows 0
    assert vals(table["ann"]) == [1.5, 0.25, 0.0]       # T1 T2 T5 / 2; T8 / 4
    assert vals(table["bob"]) == [1.5, 0.0, 0.0]        # T3 T4 T6 / 2
    assert vals(table["(none)"]) == [0.0, 0.0, round(1 / 3, 6)]   # T9 has no agent
    assert set(agents.n) == {2, 4, 3}
    # filtered on a ticket column, the denominator is still every active customer
    ann = desk.query("tickets_per_customer", start="2024-01-01", end="2024-01-31",
                     where={"agent": "ann"})
    assert (ann.value.iloc[0], ann.n.iloc[0]) == (1.5, 2)
    one = desk.query("tickets_per_customer", start="2024-01-01", end="2024-01-31",
                     customer="A")
    assert (one.value.iloc[0], one.n.iloc[0]) == (3.0, 1)     # T1, T2, T5
    regions = desk.query("tickets_per_customer", start="2024-02-01", end="2024-02-29",
                         by="region").set_index("region")
    assert (regions.loc["EMEA", "value"], regions.loc["EMEA", "n"]) == (0.0, 1)   # A
    assert (regions.loc["NA", "value"], regions.loc["NA", "n"]) == (1 / 3, 3)     # B, C, D


def test_time_to_first_response_median_p90_mean(desk):
    got = by_period(desk.query("time_to_first_response", **JAN_APR), "time_to_first_response")
    jan = got.loc["2024-01-01"]
    # opened in January and answered: 1, 2, 3, 4, 10 hours (T5 answered on 1 Feb still
    # counts for January, when it was opened); T6 unanswered.
    # median 3; p90 at rank 0.9 x 4 = 3.6 between 4 and 10: 4 + 0.6 x 6 = 7.6; mean 20 / 5
    assert (jan.value, jan.p90, jan["mean"], jan.n, jan.unanswered) == pytest.approx(
        (3.0, 7.6, 4.0, 5, 1))
    assert (got.loc["2024-02-01", "value"], got.loc["2024-02-01", "n"]) == (0.5, 1)   # T8
    mar = got.loc["2024-03-01"]      # T9 not answered: nothing to measure yet
    assert pd.isna(mar.value) and mar.unanswered == 1
    assert mar.null_reason == "no ticket opened in the period has a first response yet"


def test_time_to_resolution_median_p90_mean(desk):
    got = by_period(desk.query("time_to_resolution", **JAN_APR), "time_to_resolution")
    # resolved in January: 2, 4, 6 and T7's 8 hours (opened in December)
    # median (4 + 6) / 2 = 5; p90 at rank 0.9 x 3 = 2.7: 6 + 0.7 x 2 = 7.4; mean 5
    jan = got.loc["2024-01-01"]
    assert (jan.value, jan.p90, jan["mean"], jan.n) == pytest.approx((5.0, 7.4, 5.0, 4))
    # February: 14 and 672 -> median 343, p90 14 + 0.9 x 658 = 606.2
    feb = got.loc["2024-02-01"]
    assert (feb.value, feb.p90, feb["mean"]) == pytest.approx((343.0, 606.2, 343.0))
    assert got.loc["2024-03-01", "null_reason"] == "no tickets resolved in the period"
    # as of 1 February (inclusive), T5 is resolved but T4 (2 February) is not yet
    early = desk.query("time_to_resolution", start="2024-01-01", end="2024-02-29",
                       as_of="2024-02-01")
    assert vals(early.value) == [5.0, 14.0]
    assert list(early.n) == [4, 1]


def test_day_boundary_in_the_workspace_time_zone(tmp_path: Path):
    with Workspace.init(tmp_path / "tokyo", timezone="Asia/Tokyo") as ws:
        load(ws, "customers", ["customer_id", "name", "started_at"], [["A", "A", "2023-01-01"]])
        load(ws, "tickets", TICKET_HEADER, [
            # 20:00 and 23:30 UTC on 31 January are 05:00 and 08:30 on 1 February in Tokyo
            ["T1", "A", "2024-01-31T20:00:00+00:00", None, "2024-01-31T23:30:00+00:00", 1,
             "ann", "email"],
            ["T2", "A", "2024-01-31T10:00:00+00:00", None, "2024-01-31T12:00:00+00:00", 2,
             "ann", "email"],
        ])
        got = by_period(ws.query(["time_to_resolution", "first_contact_resolution_rate"],
                                 start="2024-01-01", end="2024-02-29"), "time_to_resolution")
        assert vals(got.value) == [2.0, 3.5]
        assert list(got.n) == [1, 1]


def test_churn_by_owner(ws):
    # METRICS.md "churn by owner" is customer_churn_rate --by owner
    load(ws, "customers", ["customer_id", "name", "started_at", "owner"], [
        ["A", "A", "2023-12-01", "ann"], ["B", "B", "2023-12-01", "ann"],
        ["C", "C", "2023-12-01", "bob"], ["D", "D", "2023-12-01", "bob"],
        ["E", "E", "2023-12-01", None]])
    load(ws, "subscriptions", SUB_HEADER, [
        ["SA", "A", "p", 100, "month", "2023-12-01", "2024-02-10"],   # ann's A leaves in Feb
        ["SB", "B", "p", 100, "month", "2023-12-01", None],
        ["SC", "C", "p", 100, "month", "2023-12-01", None],
        ["SD", "D", "p", 100, "month", "2023-12-01", "2024-03-15"],   # bob's D leaves in Mar
        ["SE", "E", "p", 100, "month", "2023-12-01", None],
    ])
    data_through(ws, "2024-03-31")
    got = ws.query("customer_churn_rate", start="2024-02-01", end="2024-03-31", by="owner")
    table = got.pivot(index="period_start", columns="owner", values="value")
    assert vals(table["ann"]) == [0.5, 0.0]      # Feb 1 of (A, B); Mar 0 of (B)
    assert vals(table["bob"]) == [0.0, 0.5]      # Mar 1 of (C, D)
    assert vals(table["(none)"]) == [0.0, 0.0]
    starts = got.pivot(index="period_start", columns="owner", values="n")
    assert list(starts["ann"]) == [2, 1]
