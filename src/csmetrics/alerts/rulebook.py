"""The alerts file (``alerts.toml``): who is on the team, the playbooks, and the rules.

A **rule** is a condition checked for every account (or every segment, or every employee for
employee events) as of a date; when it holds, the rule's **playbook** becomes a **task** for
the account's owner. Rule kinds:

- ``threshold``: a signal compared with a value (``op`` and ``value``), e.g. health score
  below 40, usage trend at or below -30 % over 28 days, a metric per account or per segment.
- ``drop``: a signal fell by at least ``drop`` (a share: 0.3 = 30 %) against its value
  ``over_days`` earlier, e.g. active users down 30 % in 4 weeks.
- ``band_change``: the health band moved from one of ``from`` to one of ``to`` within
  ``over_days`` (e.g. green -> red).
- ``event``: something happened within ``lookback_days``: ``nps_detractor`` (an NPS answer of
  0-6), ``ticket_reopened``, ``renewal_due`` (a contract ends or renews within
  ``days_before`` days), ``employee_rating_drop`` (an employee's weekly rating fell by
  ``drop`` points or below ``value``).

Signals: ``health_score``, ``health:<component>`` (a scorecard component's 0-100 points),
every built-in health signal (``csmetrics health explain`` lists
them: usage_trend, active_users, usage_volume, seat_utilisation, support_load, nps_latest...)
with an optional ``window_days``, and ``metric:<name>`` for any registry metric per account or,
with ``scope = "segment"``, per value of ``by``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from csmetrics.config import describe_validation_error, read_config_text
from csmetrics.errors import ConfigError
from csmetrics.health.scorecard import SIGNALS
from csmetrics.metrics import all_metrics

ALERTS_FILE = "alerts.toml"
EVENTS = ("nps_detractor", "ticket_reopened", "renewal_due", "employee_rating_drop")
BANDS = ("red", "yellow", "green")
OPS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Member(_Strict):
    """A person on the team: the ``owner`` name used in the accounts table maps to them."""

    email: str = Field("", description="Where their notifications go.")
    user: str = Field("", description="Their dashboard user name ('my tasks').")


class Step(_Strict):
    """One step of a playbook, due ``due_days`` after the task is created."""

    title: str
    due_days: int = Field(0, ge=0)


class Playbook(_Strict):
    """What to do when a rule fires: an ordered list of steps with due offsets."""

    title: str
    steps: list[Step] = Field(min_length=1)
    priority: Literal["low", "normal", "high", "urgent"] = "normal"


class Rule(_Strict):
    """A condition on accounts, segments or employees that turns into tasks."""

    name: str = ""
    description: str = ""
    enabled: bool = True
    kind: Literal["threshold", "drop", "band_change", "event"]
    playbook: str
    scope: Literal["account", "segment"] = "account"
    by: str = Field("", description="Segment column when scope = 'segment'.")
    signal: str = ""
    window_days: int | None = Field(None, ge=1, description="The signal's own window.")
    op: Literal["<", "<=", ">", ">="] = "<"
    value: float | None = None
    drop: float | None = Field(None, gt=0)
    min_before: float = Field(0, ge=0, description="A drop counts only from at least this "
                              "much before (small numbers swing a lot).")
    over_days: int = Field(28, ge=1)
    # "insufficient": too little of the scorecard backed by data (never counted as green)
    from_bands: list[Literal["red", "yellow", "green", "insufficient"]] = Field(
        default_factory=lambda: ["green", "yellow"], alias="from")
    to_bands: list[Literal["red", "yellow", "green", "insufficient"]] = Field(
        default_factory=lambda: ["red"], alias="to")
    event: Literal["nps_detractor", "ticket_reopened", "renewal_due",
                   "employee_rating_drop"] | None = None
    lookback_days: int = Field(7, ge=1)
    days_before: int = Field(60, ge=1)
    where: dict[str, str] = Field(default_factory=dict,
                                  description="Only accounts whose columns have these values.")
    assign_to: str = Field("", description="Owner name for segment and employee rules, and "
                           "for accounts without an owner.")

    @field_validator("signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        if not value or value == "health_score" or value.startswith("health:"):
            return value
        if value.startswith("metric:"):
            name = value.removeprefix("metric:")
            if name not in {m.name for m in all_metrics()}:
                raise ValueError(f"no metric named {name!r}; 'csmetrics metrics list' shows them")
            return value
        if value not in SIGNALS:
            raise ValueError(f"unknown signal {value!r}; use health_score, health:<component>, "
                             f"metric:<name> or one "
                             f"of {', '.join(sorted(SIGNALS))}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        needs: dict[str, tuple[str, ...]] = {
            "threshold": ("signal", "value"), "drop": ("signal", "drop"), "event": ("event",)}
        for key in needs.get(self.kind, ()):
            if getattr(self, key) in (None, ""):
                raise ValueError(f"a {self.kind} rule needs '{key}'")
        if self.scope == "segment":
            if self.kind not in ("threshold", "drop") or not self.signal.startswith("metric:"):
                raise ValueError("scope = 'segment' works with threshold and drop rules on a "
                                 "metric:<name> signal")
            if not self.by:
                raise ValueError("scope = 'segment' needs 'by', the segment column (e.g. plan)")
        if self.event == "employee_rating_drop" and self.drop is None and self.value is None:
            raise ValueError("employee_rating_drop needs 'drop' (points) or 'value' (a floor)")
        return self

    def condition(self) -> str:
        """The rule in words, for task reasons and listings."""
        if self.kind == "threshold":
            where = f" per {self.by}" if self.scope == "segment" else ""
            return f"{self.signal}{where} {OPS[self.op]} {self.value:g}"
        if self.kind == "drop":
            return f"{self.signal} down {self.drop:.0%} or more in {self.over_days} days"
        if self.kind == "band_change":
            return (f"health band moved from {'/'.join(self.from_bands)} to "
                    f"{'/'.join(self.to_bands)} within {self.over_days} days")
        if self.event == "renewal_due":
            return f"a renewal within {self.days_before} days"
        if self.event == "employee_rating_drop":
            return "an employee's weekly rating fell"
        return f"{self.event.replace('_', ' ')} in the last {self.lookback_days} days"


class AlertsConfig(_Strict):
    """Everything ``alerts.toml`` can say."""

    default_assignee: str = Field("", description="Owner of tasks nobody else owns.")
    team: dict[str, Member] = Field(default_factory=dict)
    playbooks: dict[str, Playbook] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> AlertsConfig:
        names = [r.name for r in self.rules]
        for index, rule in enumerate(self.rules):
            if not rule.name:
                raise ValueError(f"rules[{index}] needs a name (it keys its tasks)")
            if names.count(rule.name) > 1:
                raise ValueError(f"two rules are named {rule.name!r}; names must be unique")
            if rule.playbook not in self.playbooks:
                known = ", ".join(sorted(self.playbooks)) or "none defined"
                raise ValueError(f"rule {rule.name!r} names playbook {rule.playbook!r}, which "
                                 f"is not defined (playbooks: {known})")
        return self

    @classmethod
    def from_text(cls, text: str, source: str) -> AlertsConfig:
        """Parse and validate; errors name the file, the key and the fix."""
        try:
            data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML ({exc}).") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc, source)) from None

    def member(self, owner: str | None) -> Member:
        """The team member an owner name maps to (an empty one if unknown)."""
        return self.team.get(owner or "", Member())

    def owner_of_user(self, username: str) -> str | None:
        """The owner name of a dashboard user, if the team says so."""
        for owner, member in self.team.items():
            if member.user == username:
                return owner
        return None


DEFAULT_ALERTS = """\
# csmetrics alerts: rules that turn into tasks for the account's owner.
# 'csmetrics rules check' shows what would fire now; 'csmetrics refresh' runs them.

default_assignee = ""        # owner of tasks for accounts without an owner ("" = unassigned)

# Who the owner names in the accounts table are: their e-mail (notifications) and their
# dashboard user name ("my tasks").
# [team."Dana Smith"]
# email = "dana@example.com"
# user = "dana"

[playbooks.save-at-risk]
title = "Save an at-risk account"
priority = "high"
steps = [
  { title = "Review the health explanation, tickets and usage", due_days = 1 },
  { title = "Call the account's champion", due_days = 3 },
  { title = "Agree a success plan with dates", due_days = 10 },
]

[playbooks.detractor-follow-up]
title = "Follow up with a detractor"
steps = [
  { title = "Read the answer and the account's recent tickets", due_days = 0 },
  { title = "Call the respondent, close the loop", due_days = 2 },
]

[playbooks.renewal-prep]
title = "Prepare the renewal"
steps = [
  { title = "Check usage, health and open issues", due_days = 7 },
  { title = "Hold a renewal review with the customer", due_days = 21 },
  { title = "Send the renewal proposal", due_days = 30 },
]

[playbooks.usage-drop]
title = "Find out why usage fell"
steps = [
  { title = "Look at which features and users dropped", due_days = 1 },
  { title = "Reach out with help or training", due_days = 5 },
]

[playbooks.support-escalation]
title = "Review a reopened ticket"
steps = [
  { title = "Read the ticket thread with support", due_days = 1 },
  { title = "Tell the customer what happens next", due_days = 2 },
]

[[rules]]
name = "turned-red"
description = "Health fell into the red band."
kind = "band_change"
from = ["green", "yellow"]
to = ["red"]
over_days = 30
playbook = "save-at-risk"

[[rules]]
name = "usage-down-30"
description = "Product usage down 30 % or more over four weeks."
kind = "drop"
signal = "usage_volume"
window_days = 28
over_days = 28
drop = 0.3
min_before = 20                      # ignore accounts with little usage to begin with
playbook = "usage-drop"

[[rules]]
name = "nps-detractor"
description = "A customer answered NPS with 0-6."
kind = "event"
event = "nps_detractor"
lookback_days = 7
playbook = "detractor-follow-up"

[[rules]]
name = "ticket-reopened"
kind = "event"
event = "ticket_reopened"
lookback_days = 7
playbook = "support-escalation"

[[rules]]
name = "renewal-in-60-days"
kind = "event"
event = "renewal_due"
days_before = 60
playbook = "renewal-prep"

# More examples:
# [[rules]]
# name = "low-health"
# kind = "threshold"
# signal = "health_score"
# op = "<"
# value = 40
# where = { plan = "Enterprise" }
# playbook = "save-at-risk"
#
# [[rules]]
# name = "plan-nrr-below-100"        # per segment: assigned to assign_to
# kind = "threshold"
# scope = "segment"
# by = "plan"
# signal = "metric:nrr"
# op = "<"
# value = 1.0
# assign_to = "Head of CS"
# playbook = "save-at-risk"
#
# [[rules]]
# name = "employee-rating-falling"   # an employee's weekly rating fell a point
# kind = "event"
# event = "employee_rating_drop"
# drop = 1.0
# assign_to = "Head of CS"
# playbook = "usage-drop"
"""


def default_alerts() -> AlertsConfig:
    """The documented default rules and playbooks."""
    return AlertsConfig.from_text(DEFAULT_ALERTS, "the default alerts")


def load_alerts(path: Path) -> AlertsConfig:
    """The alerts file at ``path``, or the default when it does not exist."""
    if not path.is_file():
        return default_alerts()
    return AlertsConfig.from_text(read_config_text(path), str(path))
