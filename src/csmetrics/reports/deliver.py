"""Executive reports leaving csmetrics: written to files, or sent through the notification
outbox (HTML body, PDF attached), and the ``[[schedule]]`` runner that sends each due report
once (``_schedule_runs`` remembers what was sent)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from csmetrics.alerts.notify import Attachment, DeliveryReport, Notice, deliver, enqueue, routes
from csmetrics.config import ScheduleEntry
from csmetrics.errors import UserInputError
from csmetrics.metrics.periods import Calendar, next_start
from csmetrics.reports.charts import report_charts
from csmetrics.reports.executive import ExecutiveReport, Period, build_report, report_period
from csmetrics.reports.render import render_html, render_pdf, render_text
from csmetrics.reports.source import ReportSource
from csmetrics.store.appstore import exclusive
from csmetrics.store.sql import first, transaction


def file_stem(report: ExecutiveReport) -> str:
    """``csmetrics-monthly-2026-03-01`` (plus the segment, if any)."""
    segment = "".join(f"-{c}-{v}" for c, v in report.segment)
    stem = f"csmetrics-{report.period.cadence}-{report.period.start.isoformat()}{segment}"
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)


def write_report(report: ExecutiveReport, out: Path) -> list[Path]:
    """Write ``out`` (``.pdf`` or ``.html``, by its extension), or both formats into the
    folder ``out`` (created when missing); returns the files written."""
    charts = report_charts(report)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        targets = [out]
    elif suffix in (".html", ".htm"):
        targets = [out]
    elif suffix:
        raise UserInputError(f"--out {out}: write a .pdf or .html file, or name a folder to "
                             "get both.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        targets = [out / f"{file_stem(report)}.pdf", out / f"{file_stem(report)}.html"]
    for target in targets:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() == ".pdf":
            target.write_bytes(render_pdf(report, charts))
        else:
            target.write_text(render_html(report, charts), encoding="utf-8")
    return targets


def report_notice(report: ExecutiveReport, key: str, to: tuple[str, ...],
                  fmt: str = "pdf") -> Notice:
    """The notice that carries a report: HTML body, PDF attached (``fmt="pdf"``)."""
    charts = report_charts(report)
    attachments: tuple[Attachment, ...] = ()
    if fmt == "pdf":
        attachments = (Attachment(f"{file_stem(report)}.pdf", render_pdf(report, charts),
                                  "application/pdf"),)
    mrr = report.kpi("mrr")
    return Notice(
        key=key, event=f"report.{report.period.cadence}",
        subject=f"{report.company}: {report.title}, {report.period.label}"
                + ("" if not report.segment else f" ({report.segment_label})"),
        text=render_text(report),
        payload={"cadence": report.period.cadence, "period_start": report.period.start,
                 "period_end": report.period.end, "segment": dict(report.segment),
                 "kpis": {k.name: k.value for k in report.kpis},
                 "mrr_display": mrr.display, "at_risk": report.at_risk_total},
        to=to, html=render_html(report, charts), attachments=attachments)


def send_report(ws: ReportSource, report: ExecutiveReport, to: tuple[str, ...], key: str,
                fmt: str = "pdf") -> DeliveryReport:
    """Queue the report for ``to`` (and the channels' defaults) and deliver what is due."""
    if to and not ws.settings.notify.email.enabled:
        raise UserInputError("--to needs e-mail: set [notify.email] enabled = true (with host, "
                             "port, sender) in csmetrics.toml.")
    notice = report_notice(report, key, to, fmt)
    if not routes(notice, ws.settings.notify):
        raise UserInputError(
            "Nobody would receive the report: set [notify.email] enabled = true in "
            "csmetrics.toml (with host, port, sender) and pass --to, or add a "
            "[[notify.webhooks]] entry.")
    enqueue(ws.app, [notice], ws.settings.notify)
    return deliver(ws.app, ws.settings.notify)


# -- schedules ------------------------------------------------------------------------------


def send_day(entry: ScheduleEntry, period: Period) -> date:
    """The day a schedule sends its report of ``period``: the first weekday ``day`` after a
    week, or day ``day`` of the month after a month or quarter."""
    after = period.end + timedelta(days=1)
    if entry.cadence == "weekly":
        return after + timedelta(days=(entry.day - after.isoweekday()) % 7)
    return after.replace(day=entry.day)


def due_period(entry: ScheduleEntry, today: date, calendar: Calendar) -> Period:
    """The latest period whose report was due on or before ``today``."""
    period = report_period(entry.cadence, today - timedelta(days=1), calendar)
    if send_day(entry, period) <= today:
        return period
    return period.previous(calendar)


@dataclass(frozen=True)
class ScheduleOutcome:
    """What ``schedule run`` did with one schedule."""

    name: str
    cadence: str
    period: Period
    status: str  # "sent", "already sent", "error"
    detail: str = ""


@dataclass(frozen=True)
class ScheduleRun:
    """Every schedule's outcome and the notification delivery that followed."""

    outcomes: tuple[ScheduleOutcome, ...]
    delivery: DeliveryReport


def local_today(now: datetime, timezone: str) -> date:
    """The calendar day ``now`` falls on in the workspace's zone; a naive ``now`` is read as
    the workspace's local time."""
    zone = ZoneInfo(timezone)
    return (now if now.tzinfo is None else now.astimezone(zone)).date()


def _sent_at(con: Any, schedule: str, start: Any) -> tuple[Any, ...] | None:
    """When a schedule's report for the period starting ``start`` went out (None: not yet)."""
    return first(con.execute(
        "SELECT ran_at FROM _schedule_runs WHERE schedule = ? AND period_start = ?",
        [schedule, start]))


def run_schedules(ws: ReportSource, now: datetime | None = None,
                  on_step: Callable[[str], None] | None = None) -> ScheduleRun:
    """Send every configured report that is due and not sent yet, each period once; then
    deliver every pending notification (digests and retries included). Safe to run as
    often as you like (cron: hourly or daily)."""
    settings = ws.settings
    con = ws.app
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    now = ws.clock.now() if now is None else now
    today = local_today(now, settings.workspace.timezone)
    with exclusive(con, "schedules"):  # servers sharing the app store send each once
        outcomes = [_queue_report(ws, entry, due_period(entry, today, calendar), now, on_step)
                    for entry in settings.schedule]
    delivery = deliver(con, settings.notify,
                       now=_utc(now, settings.workspace.timezone))
    return ScheduleRun(tuple(outcomes), delivery)


def _queue_report(ws: ReportSource, entry: ScheduleEntry, period: Period, now: datetime,
                  on_step: Callable[[str], None] | None) -> ScheduleOutcome:
    """Build the report ``entry`` owes for ``period`` and queue it, unless it was sent."""
    settings = ws.settings
    con = ws.app
    done = _sent_at(con, entry.name, period.start)
    if done is not None:
        return ScheduleOutcome(entry.name, entry.cadence, period, "already sent",
                               f"on {done[0]:%Y-%m-%d %H:%M}")
    if on_step is not None:
        on_step(f"{entry.name}: {entry.cadence} report for {period.start}")
    started = time.perf_counter()
    key = f"schedule:{entry.name}:{period.start.isoformat()}"
    try:
        report = build_report(ws, entry.cadence, segment=entry.segment or None,
                              period=period)
        notice = report_notice(report, key, tuple(entry.to), entry.format)
        if not routes(notice, settings.notify):
            raise UserInputError(
                f"schedule {entry.name!r} has no recipient: give it to = [...] with "
                "[notify.email] enabled, or add a [[notify.webhooks]] entry.")
    except UserInputError as exc:
        return ScheduleOutcome(entry.name, entry.cadence, period, "error", str(exc))
    with transaction(con):  # queued and remembered as sent, or neither
        enqueue(con, [notice], settings.notify)
        con.execute("INSERT INTO _schedule_runs (schedule, period_start, cadence, "
                    "period_end, notice_key, ran_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [entry.name, period.start, entry.cadence, period.end, key,
                     _utc(now, settings.workspace.timezone), time.perf_counter() - started])
    return ScheduleOutcome(entry.name, entry.cadence, period, "sent", f"queued as {key}")


def schedule_table(ws: ReportSource, now: datetime | None = None) -> list[dict[str, Any]]:
    """Each schedule with its latest due period, when that is sent, and the next send day."""
    settings = ws.settings
    con = ws.app
    calendar = Calendar(settings.fiscal.week_start, settings.fiscal.year_start_month)
    now = ws.clock.now() if now is None else now
    today = local_today(now, settings.workspace.timezone)
    rows = []
    for entry in settings.schedule:
        period = due_period(entry, today, calendar)
        done = _sent_at(con, entry.name, period.start)
        upcoming = Period(period.cadence, period.grain, period.end + timedelta(days=1),
                          next_start(period.end + timedelta(days=1), period.grain)
                          - timedelta(days=1))
        rows.append({"name": entry.name, "cadence": entry.cadence,
                     "to": ", ".join(entry.to) or "(defaults)",
                     "segment": entry.segment or "all", "format": entry.format,
                     "last_due_period": period.start.isoformat(),
                     "sent": "" if done is None else f"{done[0]:%Y-%m-%d %H:%M}",
                     "next_send": send_day(entry, upcoming).isoformat()})
    return rows


def _utc(now: datetime, timezone: str) -> datetime:
    if now.tzinfo is None:
        now = now.replace(tzinfo=ZoneInfo(timezone))
    return now.astimezone(UTC)
