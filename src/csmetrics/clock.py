"""What "now" is.

Every place that needs today's date or the current time asks a :class:`Clock`: the system
clock by default, a :class:`FixedClock` in tests and when re-running a day. Setting
``$CSMETRICS_NOW`` (an ISO 8601 date or time, e.g. ``2028-03-15T09:00:00Z``) fixes the clock of
a whole process, the CLI and the server included.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from csmetrics.errors import FieldError, UserInputError

ENV_VAR = "CSMETRICS_NOW"


class Clock(ABC):
    """A source of the current time; ``today`` is the calendar day in a time zone."""

    @abstractmethod
    def now(self) -> datetime:
        """The current time, aware, in UTC."""

    def today(self, zone: str | ZoneInfo = "UTC") -> date:
        """Today's calendar day in ``zone`` (the workspace's time zone, for data dates)."""
        tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
        return self.now().astimezone(tz).date()


class SystemClock(Clock):
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class FixedClock(Clock):
    """A clock stopped at ``at`` (a naive time is read as UTC)."""

    at: datetime

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            object.__setattr__(self, "at", self.at.replace(tzinfo=UTC))

    def now(self) -> datetime:
        return self.at.astimezone(UTC)

    @classmethod
    def parse(cls, text: str, source: str = ENV_VAR) -> FixedClock:
        """A clock at an ISO 8601 date (its noon, UTC) or time; ``source`` names where the
        text came from in the error."""
        value = text.strip()
        try:
            if len(value) == 10:
                return cls(datetime.combine(date.fromisoformat(value), time(12), UTC))
            return cls(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            raise UserInputError(
                f"{source}={text!r} is not a date or time; use ISO 8601, e.g. 2028-03-15 or "
                "2028-03-15T09:00:00Z."
            ) from None


def default_clock() -> Clock:
    """The clock of this process: fixed by ``$CSMETRICS_NOW`` when set, else the system's."""
    text = os.environ.get(ENV_VAR, "").strip()
    return FixedClock.parse(text) if text else SystemClock()




#: The days csmetrics works with: a date a user gives (a flag, a query parameter, a form
#: field) outside them is refused, and so, by default, is a date in a file being loaded
#: (``[ingest] earliest_date`` / ``latest_date`` can narrow that window).
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2100, 12, 31)


def check_day(value: date | None, flag: str) -> date | None:
    """``value`` (a date or None) when it is within ``EARLIEST_DAY``..``LATEST_DAY``; else an
    error naming ``flag`` (the option or field it was given as) and the range."""
    if value is not None and not EARLIEST_DAY <= value <= LATEST_DAY:
        raise FieldError(flag, f"{flag} {value.isoformat()} is outside the supported range "
                         f"{EARLIEST_DAY.isoformat()}..{LATEST_DAY.isoformat()}.")
    return value


def parse_day(value: date | str | None, flag: str) -> date | None:
    """A calendar day given as ``YYYY-MM-DD`` (or a date, or None) within the supported range
    (``EARLIEST_DAY``..``LATEST_DAY``); ``flag`` names the option or field in the error."""
    if value is None or isinstance(value, date):
        return check_day(value.date() if isinstance(value, datetime) else value, flag)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise FieldError(flag, f"{flag} {value!r} is not a date; write it as YYYY-MM-DD."
                         ) from None
    return check_day(day, flag)


__all__ = ["EARLIEST_DAY", "ENV_VAR", "LATEST_DAY", "Clock", "FixedClock", "SystemClock",
           "check_day", "default_clock", "parse_day"]
