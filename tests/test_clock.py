"""What "now" is: one clock, injected into the workspace or fixed for a whole process."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from csmetrics import Workspace
from csmetrics.clock import ENV_VAR, FixedClock, SystemClock, default_clock, parse_day
from csmetrics.errors import FieldError, UserInputError
from tests.conftest import TEST_NOW, run_cli, write_csv


def test_a_fixed_clock_gives_the_calendar_day_of_each_time_zone():
    clock = FixedClock(datetime(2027, 12, 31, 23, 30, tzinfo=UTC))
    assert clock.today() == date(2027, 12, 31)
    assert clock.today("Europe/Berlin") == date(2028, 1, 1)
    assert clock.today("America/Los_Angeles") == date(2027, 12, 31)
    assert FixedClock(datetime(2027, 6, 1, 8)).now() == datetime(2027, 6, 1, 8, tzinfo=UTC)


def test_the_environment_fixes_the_process_clock(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(ENV_VAR, "2029-02-28")
    assert default_clock().now() == datetime(2029, 2, 28, 12, tzinfo=UTC)
    monkeypatch.setenv(ENV_VAR, "2029-02-28T23:15:00-05:00")
    assert default_clock().today() == date(2029, 3, 1)
    monkeypatch.setenv(ENV_VAR, "soon")
    with pytest.raises(UserInputError, match=f"{ENV_VAR}='soon' is not a date"):
        default_clock()
    monkeypatch.delenv(ENV_VAR)
    assert isinstance(default_clock(), SystemClock)
    assert abs(default_clock().now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_the_test_session_runs_on_its_fixed_clock():
    assert default_clock().now() == datetime.fromisoformat(TEST_NOW)


def test_parse_day_names_the_flag():
    assert parse_day("2026-02-28", "--end") == date(2026, 2, 28)
    assert parse_day(datetime(2026, 2, 28, 13), "--end") == date(2026, 2, 28)
    assert parse_day(None, "--end") is None
    with pytest.raises(UserInputError, match="--end '2026-02-30' is not a date"):
        parse_day("2026-02-30", "--end")


def test_parse_day_refuses_days_outside_the_supported_range_naming_the_flag():
    assert parse_day("1900-01-01", "--from") == date(1900, 1, 1)
    assert parse_day("2100-12-31", "--to") == date(2100, 12, 31)
    for text, flag in (("1899-12-31", "--from"), ("2101-01-01", "--to"),
                       ("0001-01-01", "start"), ("9999-12-31", "as_of")):
        with pytest.raises(FieldError) as info:
            parse_day(text, flag)
        assert str(info.value) == (f"{flag} {text} is outside the supported range "
                                   "1900-01-01..2100-12-31.")
        assert info.value.field == flag
    with pytest.raises(FieldError, match="as_of 0001-01-01 is outside"):
        parse_day(date(1, 1, 1), "as_of")


def _workspace_with_booked_renewal(root: Path) -> Path:
    """A workspace whose subscriptions run to 2026-05-01 with a renewal booked on 2027-05-01."""
    with Workspace.init(root, name="Clock Co", timezone="Europe/Berlin") as ws:
        ws.ingest("customers", [write_csv(root / "c.csv", ["customer_id", "name", "started_at"],
                                          [["A", "Acme", "2026-01-10"]])])
        ws.ingest("subscriptions", [write_csv(
            root / "s.csv", ["subscription_id", "customer_id", "plan", "amount",
                             "billing_interval", "start_date", "end_date"],
            [["S1", "A", "pro", "1200", "year", "2026-05-01", "2027-05-01"],
             ["S0", "A", "pro", "100", "month", "2026-01-10", "2026-05-01"],
             ["S2", "A", "pro", "1500", "year", "2027-05-01", ""]])])
    return root


def test_the_workspace_clock_decides_what_data_is_known(tmp_path: Path):
    root = _workspace_with_booked_renewal(tmp_path / "ws")
    with Workspace.load(root, FixedClock(datetime(2026, 8, 20, 9, tzinfo=UTC))) as ws:
        assert ws.today() == date(2026, 8, 20)
        assert ws.data_end() == date(2026, 5, 1)
        mrr = ws.query("mrr", period="month")
        assert mrr.period_start.max() == date(2026, 5, 1)
    # a year later the booked renewal has started, and the default query reaches it
    with Workspace.load(root, FixedClock(datetime(2027, 8, 20, 9, tzinfo=UTC))) as ws:
        assert ws.data_end() == date(2027, 5, 1)
        last = ws.query("mrr", period="month").sort_values("period_start").iloc[-1]
        assert (last.period_start, float(last.value)) == (date(2027, 5, 1), 125.0)
    # the workspace's zone decides the day: 23:30 UTC on 30 April is 1 May in Berlin
    late = FixedClock(datetime(2027, 4, 30, 23, 30, tzinfo=UTC))
    with Workspace.load(root, late) as ws:
        assert ws.today() == date(2027, 5, 1)
        assert ws.data_end() == date(2027, 5, 1)


def test_the_cli_reads_the_clock_from_the_environment(tmp_path: Path):
    root = _workspace_with_booked_renewal(tmp_path / "ws")
    env_then = {"CSMETRICS_NOW": "2026-08-20T09:00:00Z"}
    env_later = {"CSMETRICS_NOW": "2027-08-20T09:00:00Z"}
    def last_month(env: dict[str, str]) -> str:
        out = run_cli("metrics", "show", "mrr", "--format", "json", "-w", str(root),
                      env={**os.environ, **env}).stdout
        return max(row["period_start"] for row in json.loads(out))

    assert last_month(env_then) == "2026-05-01"
    assert last_month(env_later) == "2027-05-01"
