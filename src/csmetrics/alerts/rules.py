"""Evaluating rules: which accounts, segments or employees meet each rule's condition on a date.

Everything is read as it was known on the evaluation date (``MetricContext(as_of=...)``), so
evaluating a past date gives what the team would have been told then. A firing carries a
*key* that identifies the condition (rule + account, plus the event for event rules); the task
layer uses it so the same condition never opens two tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from csmetrics._lazy import lazy_module
from csmetrics.alerts.rulebook import OPS, AlertsConfig, Rule
from csmetrics.config import Settings
from csmetrics.errors import ConfigError
from csmetrics.health.score import HealthScores, context, score_accounts, signal_values
from csmetrics.health.scorecard import INSUFFICIENT, Scorecard
from csmetrics.metrics import MetricRequest, compute
from csmetrics.metrics.headline import last_complete_period
from csmetrics.metrics.periods import Grain, next_start, period_start

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir
    from ibis.backends import BaseBackend
else:
    ibis = lazy_module("ibis")


@dataclass(frozen=True)
class Firing:
    """One rule met for one subject on the evaluation date."""

    rule: str
    key: str
    subject: str
    reason: str
    customer_id: str | None = None
    owner: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)


class Evaluator:
    """Evaluates rules as of one date, sharing health scores and account lists between them."""

    def __init__(self, con: BaseBackend, settings: Settings, scorecard: Scorecard,
                 alerts: AlertsConfig, as_of: date) -> None:
        self.con = con
        self.settings = settings
        self.scorecard = scorecard
        self.alerts = alerts
        self.as_of = as_of
        self._health: dict[date, HealthScores] = {}
        self._customers: pd.DataFrame | None = None

    def run(self, rules: list[Rule] | None = None) -> list[Firing]:
        """Every firing of the enabled rules (or of ``rules``)."""
        chosen = rules if rules is not None else [r for r in self.alerts.rules if r.enabled]
        return [f for rule in chosen for f in self.fire(rule)]

    def fire(self, rule: Rule) -> Iterator[Firing]:
        """The firings of one rule."""
        if rule.kind == "event":
            yield from EVENTS[rule.event](self, rule)  # type: ignore[index]
        elif rule.scope == "segment":
            yield from self._segments(rule)
        elif rule.kind == "band_change":
            yield from self._band_change(rule)
        else:
            yield from self._accounts(rule)

    # -- shared lookups ----------------------------------------------------------------

    def health(self, day: date) -> HealthScores:
        """Health of every paying account as of ``day`` (computed once per evaluation)."""
        if day not in self._health:
            self._health[day] = score_accounts(self.con, self.settings, self.scorecard, day)
        return self._health[day]

    def customers(self) -> pd.DataFrame:
        """The customers table as known on the evaluation date."""
        if self._customers is None:
            ctx = context(self.con, self.settings, self.as_of)
            try:
                self._customers = self.con.execute(ctx.table("customers"))
            finally:
                ctx.close()
        return self._customers

    def accounts(self, rule: Rule) -> pd.DataFrame:
        """Paying accounts on the evaluation date that match the rule's ``where``."""
        scores = self.health(self.as_of).scores
        if not rule.where:
            return scores
        customers = self.customers()
        keep = pd.Series(True, index=customers.index)
        for column, value in rule.where.items():
            if column not in customers.columns:
                raise_unknown_column(rule, column, customers.columns)
            keep &= customers[column].astype("string") == value
        return scores[scores["customer_id"].isin(customers.loc[keep, "customer_id"])]

    def assignee(self, rule: Rule, owner: Any) -> str | None:
        """Who a task goes to: the account's owner, else the rule's, else the default."""
        for candidate in (owner, rule.assign_to, self.alerts.default_assignee):
            if isinstance(candidate, str) and candidate:
                return candidate
        return None

    def values(self, rule: Rule, day: date, ids: pd.Series) -> pd.Series:
        """The rule's signal for the accounts ``ids`` as of ``day``."""
        if rule.signal == "health_score":
            # a score banded "insufficient" rests on too little data to fire on: missing
            scored = self.health(day).scores
            scores = scored["score"].where(scored["band"] != INSUFFICIENT)
            scores.index = scored["customer_id"]
            return ids.map(scores).astype("float64").reset_index(drop=True)
        if rule.signal.startswith("health:"):
            name = rule.signal.removeprefix("health:")
            if name not in self.scorecard.components:
                raise ConfigError(
                    f"rule {rule.name!r}: signal = {rule.signal!r}: the scorecard has no "
                    f"component {name!r}; use one of "
                    f"{', '.join('health:' + c for c in self.scorecard.components)}.")
            parts = self.health(day).components
            points = parts[parts["component"] == name].set_index("customer_id")["points"]
            return ids.map(points).astype("float64").reset_index(drop=True)
        ctx = context(self.con, self.settings, day)
        try:
            return signal_values(ctx, self.con, self.settings, rule.signal, rule.window_days,
                                 day, ids.reset_index(drop=True))
        finally:
            ctx.close()

    # -- per-account conditions --------------------------------------------------------

    def _accounts(self, rule: Rule) -> Iterator[Firing]:
        accounts = self.accounts(rule).reset_index(drop=True)
        if accounts.empty:
            return
        now = self.values(rule, self.as_of, accounts["customer_id"])
        if rule.kind == "threshold":
            hit = compare(now.to_numpy(), rule.op, float(rule.value))  # type: ignore[arg-type]
            before = None
        else:
            before = self.values(rule, self.as_of - timedelta(days=rule.over_days),
                                 accounts["customer_id"])
            hit = dropped(before.to_numpy(), now.to_numpy(), float(rule.drop),  # type: ignore[arg-type]
                          rule.min_before)
        for i in np.flatnonzero(hit):
            row = accounts.iloc[i]
            figures = {"signal": rule.signal, "value": _num(now.iloc[i])}
            if before is not None:
                figures["before"] = _num(before.iloc[i])
                figures["over_days"] = rule.over_days
                figures["change"] = _num(now.iloc[i] / before.iloc[i] - 1.0)
                reason = (f"{rule.signal} fell from {_show(before.iloc[i])} to "
                          f"{_show(now.iloc[i])} ({figures['change']:+.0%}) in "
                          f"{rule.over_days} days")
            else:
                figures["threshold"] = rule.value
                reason = f"{rule.signal} is {_show(now.iloc[i])}, {OPS[rule.op]} {rule.value:g}"
            yield self.account_firing(rule, row, reason, figures)

    def _band_change(self, rule: Rule) -> Iterator[Firing]:
        accounts = self.accounts(rule)
        earlier = self.health(self.as_of - timedelta(days=rule.over_days)).scores
        merged = accounts.merge(earlier[["customer_id", "band", "score"]], on="customer_id",
                                how="inner", suffixes=("", "_before"))
        hit = merged["band_before"].isin(rule.from_bands) & merged["band"].isin(rule.to_bands)
        for _, row in merged[hit].iterrows():
            figures = {"band_before": row["band_before"], "band": row["band"],
                       "score_before": _num(row["score_before"]), "score": _num(row["score"]),
                       "over_days": rule.over_days}
            reason = (f"health went from {row['band_before']} ({_show(row['score_before'])}) "
                      f"to {row['band']} ({_show(row['score'])}) in {rule.over_days} days")
            yield self.account_firing(rule, row, reason, figures)

    def account_firing(self, rule: Rule, row: pd.Series, reason: str,
                        figures: dict[str, Any], event: str = "") -> Firing:
        customer = str(row["customer_id"])
        figures = {"as_of": self.as_of.isoformat(), **figures}
        if "mrr" in row and not pd.isna(row["mrr"]):
            figures.setdefault("mrr", _num(row["mrr"]))
        key = f"{rule.name}|{customer}" + (f"|{event}" if event else "")
        name = row.get("name")
        return Firing(rule=rule.name, key=key, subject=str(name if _present(name) else customer),
                      reason=reason, customer_id=customer,
                      owner=self.assignee(rule, row.get("owner")), figures=figures)

    # -- per-segment conditions --------------------------------------------------------

    def _segment_values(self, rule: Rule, day: date) -> pd.DataFrame:
        month = last_complete_period(day, Grain.MONTH)
        frame = compute(self.con, self.settings, MetricRequest.create(
            rule.signal.removeprefix("metric:"), period="month", start=month,
            end=next_start(month, Grain.MONTH) - timedelta(days=1), by=rule.by, as_of=day))
        frame = frame[frame["period_start"] == month]
        return frame[[rule.by, "value", "n"]].rename(columns={"value": "raw"})

    def _segments(self, rule: Rule) -> Iterator[Firing]:
        now = self._segment_values(rule, self.as_of)
        month = last_complete_period(self.as_of, Grain.MONTH)
        if rule.kind == "drop":
            earlier = self._segment_values(rule, self.as_of - timedelta(days=rule.over_days))
            now = now.merge(earlier[[rule.by, "raw"]], on=rule.by, suffixes=("", "_before"))
            hit = dropped(now["raw_before"].to_numpy(float), now["raw"].to_numpy(float),
                          float(rule.drop), rule.min_before)  # type: ignore[arg-type]
        else:
            hit = compare(now["raw"].to_numpy(float), rule.op, float(rule.value))  # type: ignore[arg-type]
        for _, row in now[hit].iterrows():
            segment = f"{rule.by}={row[rule.by]}"
            figures = {"as_of": self.as_of.isoformat(), "period_start": month.isoformat(),
                       "signal": rule.signal, "value": _num(row["raw"]), "n": _num(row["n"])}
            if rule.kind == "drop":
                figures["before"] = _num(row["raw_before"])
                reason = (f"{rule.signal} for {segment} fell from {_show(row['raw_before'])} "
                          f"to {_show(row['raw'])} in {rule.over_days} days")
            else:
                figures["threshold"] = rule.value
                reason = (f"{rule.signal} for {segment} in {month:%B %Y} is "
                          f"{_show(row['raw'])}, {OPS[rule.op]} {rule.value:g}")
            yield Firing(rule=rule.name, key=f"{rule.name}|{segment}", subject=segment,
                         reason=reason, owner=self.assignee(rule, None), figures=figures)

    # -- events ------------------------------------------------------------------------

    def recent(self, table: str, column: str, days: int) -> tuple[ir.Table, Any]:
        """Rows of ``table`` whose ``column`` falls in the last ``days`` days up to the
        evaluation date, and the context to close after reading them."""
        ctx = context(self.con, self.settings, self.as_of)
        t = ctx.table(table)
        day = t[column].cast("date")
        since = ibis.literal(self.as_of - timedelta(days=days - 1))
        return t.filter((day >= since) & (day <= ibis.literal(self.as_of))), ctx

    def with_accounts(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with each row's account name and owner."""
        customers = self.customers()[["customer_id", "name", "owner"]]
        return frame.merge(customers, on="customer_id", how="left")


def nps_detractors(ev: Evaluator, rule: Rule) -> Iterator[Firing]:
    """An NPS answer of 0-6 (on the 0-10 scale) given within the lookback."""
    t, ctx = ev.recent("survey_responses", "responded_at", rule.lookback_days)
    try:
        scale = t.scale_max.cast("float64").fill_null(10.0)
        t = t.filter((t.survey == "nps") & t.customer_id.notnull()
                     & (t.score.cast("float64") * 10.0 / scale <= 6.0))
        frame = ev.con.execute(t.select("response_id", "customer_id", "score", "comment",
                                        "respondent", day=t.responded_at.cast("date")))
    finally:
        ctx.close()
    for _, row in ev.with_accounts(frame).sort_values(["day", "response_id"]).iterrows():
        figures = {"response_id": row["response_id"], "score": _num(row["score"]),
                   "answered_on": _iso(row["day"])}
        if _present(row["comment"]):
            figures["comment"] = row["comment"]
        if _present(row["respondent"]):
            figures["respondent"] = row["respondent"]
        reason = f"NPS answer {_show(row['score'])} on {_iso(row['day'])}"
        if _present(row["comment"]):
            reason += f': "{row["comment"]}"'
        yield ev.account_firing(rule, row, reason, figures, event=str(row["response_id"]))


def reopened_tickets(ev: Evaluator, rule: Rule) -> Iterator[Firing]:
    """A support ticket reopened within the lookback."""
    t, ctx = ev.recent("tickets", "reopened_at", rule.lookback_days)
    try:
        t = t.filter(t.customer_id.notnull())
        frame = ev.con.execute(t.select("ticket_id", "customer_id", "category", "priority",
                                        day=t.reopened_at.cast("date")))
    finally:
        ctx.close()
    for _, row in ev.with_accounts(frame).sort_values(["day", "ticket_id"]).iterrows():
        figures = {"ticket_id": row["ticket_id"], "reopened_on": _iso(row["day"])}
        for column in ("category", "priority"):
            if _present(row[column]):
                figures[column] = row[column]
        reason = f"ticket {row['ticket_id']} was reopened on {_iso(row['day'])}"
        yield ev.account_firing(rule, row, reason, figures,
                                 event=f"{row['ticket_id']}@{_iso(row['day'])}")


def renewals_due(ev: Evaluator, rule: Rule) -> Iterator[Firing]:
    """A subscription that ends or renews within ``days_before`` days: a scheduled end date
    (a contract term) not cancelled by the evaluation date, or the next anniversary of an
    annual subscription. Unlike metrics, which learn of an end only when it comes, a renewal
    looks at the term end the subscription carries."""
    s = ev.con.table("subscriptions")
    today = ibis.literal(ev.as_of)
    cancelled = s.canceled_at.notnull() & (s.canceled_at <= today)
    s = s.filter((s.start_date <= today) & (s.end_date.isnull() | (s.end_date > today))
                 & ~cancelled)
    frame = ev.con.execute(s.select("subscription_id", "customer_id", "plan",
                                    "billing_interval", "start_date", "end_date"))
    horizon = ev.as_of + timedelta(days=rule.days_before)
    rows = []
    for row in frame.itertuples(index=False):
        due = renewal_date(_date(row.start_date), _date(row.end_date), row.billing_interval,
                           ev.as_of)
        if due is not None and ev.as_of < due <= horizon:
            rows.append({**row._asdict(), "due": due})
    if not rows:
        return
    due = ev.with_accounts(pd.DataFrame(rows)).sort_values(["due", "subscription_id"])
    for _, row in due.iterrows():
        days = (row["due"] - ev.as_of).days
        figures = {"subscription_id": row["subscription_id"], "plan": row["plan"],
                   "renews_on": row["due"].isoformat(), "days_left": days}
        reason = f"{row['plan']} subscription renews on {row['due']:%d %b %Y} (in {days} days)"
        yield ev.account_firing(rule, row, reason, figures,
                                 event=f"{row['subscription_id']}@{row['due'].isoformat()}")


def renewal_date(start: date, end: date | None, interval: str, today: date) -> date | None:
    """When a live subscription next ends or renews after ``today``: its scheduled end, else
    the next anniversary of its start for annual billing; ``None`` when it just rolls over
    monthly or weekly (there is no renewal moment to prepare for)."""
    if end is not None:
        return end
    if interval != "year":
        return None
    years = today.year - start.year
    for offset in (years, years + 1):
        anniversary = _add_years(start, offset)
        if anniversary > today:
            return anniversary
    return None


def employee_rating_drops(ev: Evaluator, rule: Rule) -> Iterator[Firing]:
    """An employee whose mean rating in the last complete week fell by ``drop`` points
    against the week before, or below ``value``."""
    week = last_complete_period(ev.as_of, Grain.WEEK)
    previous = period_start(week - timedelta(days=1), Grain.WEEK)
    ctx = context(ev.con, ev.settings, ev.as_of)
    try:
        t = ctx.table("survey_responses")
        day = t.responded_at.cast("date")
        t = t.filter((t.survey == "employee_review") & t.employee.notnull()
                     & (day >= ibis.literal(previous))
                     & (day < ibis.literal(next_start(week, Grain.WEEK))))
        this = t.score.cast("float64").mean(where=day >= ibis.literal(week))
        last = t.score.cast("float64").mean(where=day < ibis.literal(week))
        frame = ev.con.execute(t.group_by("employee").aggregate(
            rating=this, before=last, n=(day >= ibis.literal(week)).cast("int64").sum()))
    finally:
        ctx.close()
    for _, row in frame.sort_values("employee").iterrows():
        if pd.isna(row["rating"]):
            continue
        fell = (rule.drop is not None and not pd.isna(row["before"])
                and row["before"] - row["rating"] >= rule.drop)
        low = rule.value is not None and row["rating"] < rule.value
        if not (fell or low):
            continue
        figures = {"as_of": ev.as_of.isoformat(), "employee": row["employee"],
                   "week_start": week.isoformat(), "rating": _num(row["rating"]),
                   "before": _num(row["before"]), "n": int(row["n"])}
        before = "no rating" if pd.isna(row["before"]) else f"{row['before']:.2f}"
        reason = (f"{row['employee']}'s rating in the week of {week:%d %b %Y} is "
                  f"{row['rating']:.2f} ({int(row['n'])} answers), the week before {before}")
        yield Firing(rule=rule.name, key=f"{rule.name}|{row['employee']}|{week.isoformat()}",
                     subject=str(row["employee"]), reason=reason,
                     owner=ev.assignee(rule, None), figures=figures)


EVENTS = {
    "nps_detractor": nps_detractors,
    "ticket_reopened": reopened_tickets,
    "renewal_due": renewals_due,
    "employee_rating_drop": employee_rating_drops,
}


def compare(values: np.ndarray, op: str, threshold: float) -> np.ndarray:
    """Where ``values op threshold`` holds (missing values never do)."""
    with np.errstate(invalid="ignore"):
        result = {"<": values < threshold, "<=": values <= threshold,
                  ">": values > threshold, ">=": values >= threshold}[op]
    return result & ~np.isnan(values)


def dropped(before: np.ndarray, now: np.ndarray, share: float,
            min_before: float = 0.0) -> np.ndarray:
    """Where the value fell by at least ``share`` of a positive earlier value of at least
    ``min_before``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((before > 0) & (before >= min_before) & ~np.isnan(now)
                & (now <= before * (1.0 - share) + 1e-12))


def raise_unknown_column(rule: Rule, column: str, columns: Any) -> None:
    """Refuse a ``where`` on a column the customers table does not have."""
    raise ConfigError(f"rule {rule.name!r}: where.{column}: the customers table has no column "
                      f"{column!r}; use one of {', '.join(columns)}.")


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def _date(value: Any) -> date | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).date()


def _iso(value: Any) -> str:
    day = _date(value)
    return day.isoformat() if day else ""


def _num(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _present(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _show(value: Any) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{float(value):,.4g}"
