"""When a scheduled report is due, by hand, and how schedules are configured."""

from __future__ import annotations

from datetime import date

import pytest

from csmetrics.config import ScheduleEntry, Settings
from csmetrics.errors import ConfigError
from csmetrics.metrics.periods import Calendar
from csmetrics.reports.deliver import due_period, send_day


def entry(cadence: str, day: int) -> ScheduleEntry:
    return ScheduleEntry(name=f"{cadence}-{day}", cadence=cadence, day=day)  # type: ignore[arg-type]


@pytest.mark.parametrize(("cadence", "day", "today", "expected_start"), [
    # monthly on the 2nd: on 1 April, March's report is not due yet -> February's is latest
    ("monthly", 2, date(2026, 4, 1), date(2026, 2, 1)),
    ("monthly", 2, date(2026, 4, 2), date(2026, 3, 1)),
    ("monthly", 2, date(2026, 4, 30), date(2026, 3, 1)),
    # weekly on Monday (1): week 2 - 8 March 2026 is sent on Monday 9 March
    ("weekly", 1, date(2026, 3, 9), date(2026, 3, 2)),
    ("weekly", 1, date(2026, 3, 8), date(2026, 2, 23)),
    # weekly on Wednesday (3): on Tuesday 10 March, the week of 23 Feb is still the latest
    ("weekly", 3, date(2026, 3, 10), date(2026, 2, 23)),
    ("weekly", 3, date(2026, 3, 11), date(2026, 3, 2)),
    # quarterly on the 5th: Q1 2026 is sent on 5 April
    ("quarterly", 5, date(2026, 4, 4), date(2025, 10, 1)),
    ("quarterly", 5, date(2026, 4, 5), date(2026, 1, 1)),
])
def test_due_period(cadence, day, today, expected_start):
    assert due_period(entry(cadence, day), today, Calendar()).start == expected_start


def test_send_day_of_a_week_and_a_month():
    week = due_period(entry("weekly", 5), date(2026, 3, 13), Calendar())
    assert (week.start, send_day(entry("weekly", 5), week)) == (date(2026, 3, 2),
                                                                date(2026, 3, 13))
    month = due_period(entry("monthly", 28), date(2026, 3, 28), Calendar())
    assert send_day(entry("monthly", 28), month) == date(2026, 3, 28)


def test_schedule_config_is_checked():
    with pytest.raises(ConfigError, match="1 \\(Monday\\) to 7 \\(Sunday\\)"):
        Settings.from_mapping({"schedule": [{"name": "w", "cadence": "weekly", "day": 8}]})
    with pytest.raises(ConfigError, match="weekly-ops is used twice"):
        Settings.from_mapping({"schedule": [{"name": "weekly-ops", "cadence": "weekly"},
                                            {"name": "weekly-ops", "cadence": "monthly"}]})
    with pytest.raises(ConfigError, match="schedule.0.cadence"):
        Settings.from_mapping({"schedule": [{"name": "d", "cadence": "daily"}]})
