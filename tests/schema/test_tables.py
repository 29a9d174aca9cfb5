"""The canonical schema: twelve tables as DESIGN.md lists them, usable as DDL."""

from __future__ import annotations

import duckdb

from csmetrics.schema import TABLES, DType

DESIGN_TABLES = {
    "customers": ("customer_id",),
    "subscriptions": ("subscription_id",),
    "orders": ("order_id",),
    "tickets": ("ticket_id",),
    "survey_responses": ("response_id",),
    "usage_events": ("customer_id", "user_id", "occurred_at", "event"),
    "activities": ("activity_id",),
    "feedback": ("feedback_id",),
    "leads": ("lead_id",),
    "traffic": ("date", "channel"),
    "costs": ("period_start", "category", "channel"),
    "exchange_rates": ("date", "currency"),
}


def test_the_twelve_tables_and_their_keys():
    assert {name: t.key for name, t in TABLES.items()} == DESIGN_TABLES


def test_keys_are_columns_and_customer_id_is_text_everywhere():
    for table in TABLES.values():
        assert set(table.key) <= set(table.column_names)
        if "customer_id" in table.column_names:
            assert table.column("customer_id").dtype is DType.STRING


def test_required_columns_match_design():
    assert TABLES["subscriptions"].required == [
        "subscription_id", "customer_id", "plan", "amount", "billing_interval", "start_date"]
    assert TABLES["survey_responses"].required == [
        "response_id", "customer_id", "survey", "score", "responded_at"]
    assert TABLES["costs"].required == [
        "period_start", "period_end", "category", "amount"]


def test_ddl_creates_every_table():
    con = duckdb.connect()
    for table in TABLES.values():
        con.execute(table.ddl())
        columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall()]
        assert columns == [*table.column_names, "attributes"]
