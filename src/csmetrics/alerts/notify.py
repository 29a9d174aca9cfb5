"""Notifications: an outbox in the app store, delivered by e-mail and signed webhooks.

:func:`enqueue` records each notice once per channel and recipient (``_notifications``; a key
already recorded is not added again, so re-running a rule never notifies twice);
:func:`deliver` sends what is pending and due, retries failures with exponential back-off
(attempt n is followed by a wait of ``backoff_seconds x 2**(n-1)``), and after
``max_attempts`` marks the row ``failed`` with the last error, where ``csmetrics notify
status`` shows it. Nothing is dropped silently. With ``notify.digest = true`` each recipient
gets one message per run gathering every pending notice.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import TYPE_CHECKING, Any

from csmetrics.alerts.channels import Mail, SendError, post_webhook, send_email, webhook_body
from csmetrics.clock import default_clock
from csmetrics.config import NotifySection, WebhookSection
from csmetrics.store.appstore import exclusive
from csmetrics.store.sql import first, transaction

if TYPE_CHECKING:
    from csmetrics.store.appstore import AppConnection

STATUSES = ("pending", "sent", "failed")


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail (webhooks carry only the JSON payload)."""

    filename: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class Notice:
    """Something to tell people about, once.

    ``key`` identifies the event (e.g. ``task:42:created``): it is never sent twice to the same
    channel and recipient. ``to`` are e-mail recipients besides ``notify.email.default_to``.
    A webhook receives ``{"event", "key", "subject", "text", "data": payload, "sent_at"}``.
    """

    key: str
    event: str
    subject: str
    text: str
    payload: dict[str, Any] = field(default_factory=dict)
    to: tuple[str, ...] = ()
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class DeliveryReport:
    """What one :func:`deliver` run did: outbox rows (notice x channel x recipient) sent and
    failed for good in this run, rows still pending afterwards, messages actually sent, and
    the errors met (also recorded on the rows)."""

    sent: int = 0
    failed: int = 0
    pending: int = 0
    messages: int = 0
    errors: tuple[str, ...] = ()


def routes(notice: Notice, settings: NotifySection) -> list[tuple[str, str]]:
    """The (channel, recipient) pairs a notice goes to: every enabled e-mail recipient, and
    every webhook whose ``events`` list is empty or matches the event (``task.*`` works)."""
    pairs: list[tuple[str, str]] = []
    if settings.email.enabled:
        for address in dict.fromkeys([*notice.to, *settings.email.default_to]):
            if address.strip():
                pairs.append(("email", address.strip()))
    for hook in settings.webhooks:
        if not hook.events or any(fnmatch.fnmatchcase(notice.event, p) for p in hook.events):
            pairs.append(("webhook", hook.url))
    return list(dict.fromkeys(pairs))


def enqueue(con: AppConnection, notices: Sequence[Notice],
            settings: NotifySection) -> int:
    """Record notices in the outbox, one row per notice x channel x recipient; a key already
    recorded for that channel and recipient is not added again. Returns how many rows are
    new. All or nothing: one transaction."""
    new = 0
    with transaction(con):
        for notice in notices:
            payload = json.dumps(notice.payload, default=str)
            for channel, recipient in routes(notice, settings):
                seen = first(con.execute(
                    "SELECT 1 FROM _notifications WHERE notice_key = ? AND channel = ? AND "
                    "recipient = ?", [notice.key, channel, recipient]))
                if seen is not None:
                    continue
                con.execute(
                    "INSERT INTO _notifications (notice_key, event, channel, recipient, subject,"
                    " body, html, payload, status, attempts, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
                    [notice.key, notice.event, channel, recipient, notice.subject, notice.text,
                     notice.html, payload, default_clock().now()])
                new += 1
            for position, item in enumerate(notice.attachments):
                con.execute(
                    "INSERT INTO _notification_attachments (notice_key, position, filename, "
                    "media_type, content) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    [notice.key, position, item.filename, item.media_type, item.content])
    return new


@dataclass
class _Row:
    notification_id: int
    key: str
    event: str
    channel: str
    recipient: str
    subject: str
    text: str
    html: str | None
    payload: Any
    attempts: int


def deliver(con: AppConnection, settings: NotifySection, *,
            now: datetime | None = None) -> DeliveryReport:
    """Send every pending notice whose next attempt is due (at ``now``, default: the clock).

    One message per row, or with ``settings.digest`` one message per channel and recipient
    gathering all its due rows. A failure is retried in this run while the back-off wait is at
    most ``retry_wait_limit_seconds`` (really sleeping); a longer wait leaves the row pending
    with ``next_attempt_at`` for a later run; after the channel's ``max_attempts`` the row is
    ``failed`` with the last error.
    """
    with exclusive(con, "notify.deliver"):  # servers sharing the outbox send each once
        sent, failed, messages, errors = _send_due(
            con, settings, _aware(now) if now is not None else default_clock().now())
    pending = first(con.execute(
        "SELECT count(*) FROM _notifications WHERE status = 'pending'"))
    return DeliveryReport(sent=sent, failed=failed, pending=int(pending[0]) if pending else 0,
                          messages=messages, errors=tuple(errors))


def _send_due(con: AppConnection, settings: NotifySection, base: datetime
              ) -> tuple[int, int, int, list[str]]:
    """``deliver``'s work: (rows sent, rows failed, messages, errors) of the rows due at
    ``base``."""
    started = time.monotonic()

    def clock() -> datetime:
        return base + timedelta(seconds=time.monotonic() - started)

    rows = _due(con, base)
    units: list[list[_Row]]
    if settings.digest:
        grouped: dict[tuple[str, str], list[_Row]] = {}
        for row in rows:
            grouped.setdefault((row.channel, row.recipient), []).append(row)
        units = list(grouped.values())
    else:
        units = [[row] for row in rows]
    sent = failed = messages = 0
    errors: list[str] = []
    for unit in units:
        outcome, error = _deliver_unit(con, settings, unit, clock)
        if outcome == "sent":
            sent += len(unit)
            messages += 1
        elif outcome == "failed":
            failed += len(unit)
        if error:
            errors.append(f"{unit[0].channel} {unit[0].recipient}: {error}")
    return sent, failed, messages, errors


def _deliver_unit(con: AppConnection, settings: NotifySection, unit: list[_Row],
                  clock: Any) -> tuple[str, str | None]:
    """Send one message (with retries); returns ('sent' | 'failed' | 'pending', last error)."""
    ids = [row.notification_id for row in unit]
    attempts = max(row.attempts for row in unit)
    try:
        limits = _limits(settings, unit[0])
    except SendError as exc:
        _mark(con, ids, "failed", attempts, str(exc), None, None)
        return "failed", str(exc)
    max_attempts, backoff = limits
    while True:
        attempts += 1
        try:
            _send(settings, unit, con)
        except SendError as exc:
            error = str(exc)
            if attempts >= max_attempts:
                _mark(con, ids, "failed", attempts, error, None, None)
                return "failed", error
            wait = backoff * 2 ** (attempts - 1)
            if wait <= settings.retry_wait_limit_seconds:
                _mark(con, ids, "pending", attempts, error, None, None)
                time.sleep(wait)
                continue
            _mark(con, ids, "pending", attempts, error, clock() + timedelta(seconds=wait), None)
            return "pending", error
        _mark(con, ids, "sent", attempts, None, None, clock(), keep_error=True)
        return "sent", None


def _limits(settings: NotifySection, row: _Row) -> tuple[int, float]:
    """(max_attempts, backoff_seconds) of the row's channel, which must still be configured."""
    if row.channel == "email":
        if not settings.email.enabled:
            raise SendError("notify.email is not enabled any more; enable it and resend with "
                            "'csmetrics notify send'.")
        return settings.email.max_attempts, settings.email.backoff_seconds
    hook = _webhook(settings, row.recipient)
    return hook.max_attempts, hook.backoff_seconds


def _webhook(settings: NotifySection, url: str) -> WebhookSection:
    for hook in settings.webhooks:
        if hook.url == url:
            return hook
    raise SendError(f"no [[notify.webhooks]] entry has url = {url!r} any more; add it back to "
                    "send this notice.")


def _send(settings: NotifySection, unit: list[_Row], con: AppConnection) -> None:
    """Build and send the unit's one message."""
    first_row = unit[0]
    if first_row.channel == "email":
        send_email(settings.email, _mail(unit, con))
        return
    sent_at = default_clock().now().isoformat(timespec="seconds")
    if len(unit) == 1:
        body = webhook_body(first_row.event, first_row.key, first_row.subject, first_row.text,
                            first_row.payload, sent_at)
        post_webhook(_webhook(settings, first_row.recipient), first_row.event, first_row.key,
                     body)
        return
    key = digest_key(unit)
    notices = [{"event": r.event, "key": r.key, "subject": r.subject, "text": r.text,
                "data": r.payload} for r in unit]
    body = webhook_body("digest", key, _digest_subject(unit), _digest_text(unit),
                        {"notices": notices}, sent_at)
    post_webhook(_webhook(settings, first_row.recipient), "digest", key, body)


def digest_key(unit: list[_Row]) -> str:
    """A stable key for a digest: the same notices give the same key on every retry."""
    joined = "\n".join(sorted(row.key for row in unit))
    return "digest:" + hashlib.sha256(joined.encode()).hexdigest()[:16]


def _mail(unit: list[_Row], con: AppConnection) -> Mail:
    attachments = tuple(
        item for row in unit for item in _attachments(con, row.key))
    row = unit[0]
    if len(unit) == 1:
        return Mail(row.recipient, row.subject, row.text, row.html, attachments)
    parts = [f"<section><h2>{escape(r.subject)}</h2>"
             + (r.html if r.html else f"<pre>{escape(r.text)}</pre>") + "</section>"
             for r in unit]
    html = ("<!doctype html><html><body><h1>" + escape(_digest_subject(unit)) + "</h1>"
            + "<hr>".join(parts) + "</body></html>")
    return Mail(row.recipient, _digest_subject(unit), _digest_text(unit), html, attachments)


def _digest_subject(unit: list[_Row]) -> str:
    return f"csmetrics digest: {len(unit)} notices"


def _digest_text(unit: list[_Row]) -> str:
    return "\n\n".join(f"{i}. {r.subject}\n{r.text}" for i, r in enumerate(unit, 1))


def _attachments(con: AppConnection, key: str) -> list[tuple[str, bytes, str]]:
    rows = con.execute("SELECT filename, content, media_type FROM _notification_attachments "
                       "WHERE notice_key = ? ORDER BY position", [key]).fetchall()
    return [(name, bytes(content), media) for name, content, media in rows]


def _due(con: AppConnection, now: datetime) -> list[_Row]:
    rows = con.execute(
        "SELECT notification_id, notice_key, event, channel, recipient, subject, body, html, "
        "payload, attempts FROM _notifications WHERE status = 'pending' AND "
        "(next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY notification_id",
        [now]).fetchall()
    return [_Row(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]), r[9])
            for r in rows]


def _mark(con: AppConnection, ids: list[int], status: str, attempts: int,
          error: str | None, next_attempt_at: datetime | None, sent_at: datetime | None,
          keep_error: bool = False) -> None:
    error_sql = "last_error" if keep_error else "?"
    params: list[Any] = [status, attempts]
    if not keep_error:
        params.append(error)
    params += [next_attempt_at, sent_at]
    placeholders = ", ".join("?" for _ in ids)
    con.execute(
        f"UPDATE _notifications SET status = ?, attempts = ?, last_error = {error_sql}, "
        f"next_attempt_at = ?, sent_at = ? WHERE notification_id IN ({placeholders})",
        [*params, *ids])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def outbox_counts(con: AppConnection) -> dict[str, dict[str, int]]:
    """Rows per channel and status: ``{"email": {"pending": 1, "sent": 4, "failed": 0}}``."""
    counts: dict[str, dict[str, int]] = {}
    for channel, status, n in con.execute(
            "SELECT channel, status, count(*) FROM _notifications GROUP BY channel, status "
            "ORDER BY channel, status").fetchall():
        counts.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = int(n)
    return counts


def outbox_rows(con: AppConnection, status: str | None = None) -> list[dict[str, Any]]:
    """Outbox rows (newest first), optionally of one status, without bodies."""
    sql = ("SELECT notification_id, notice_key, event, channel, recipient, subject, status, "
           "attempts, last_error, created_at, next_attempt_at, sent_at FROM _notifications")
    params: list[Any] = []
    if status is not None:
        sql += " WHERE status = ?"
        params.append(status)
    result = con.execute(sql + " ORDER BY notification_id DESC", params)
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]
