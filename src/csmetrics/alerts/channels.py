"""The two ways a notice leaves csmetrics: an e-mail through SMTP and a signed webhook POST.

Each sender takes one ready message and either returns or raises :class:`SendError` with a
text that says what went wrong and where; the outbox (``notify``) records it and retries.

Webhook signature: the request carries ``X-Csmetrics-Timestamp: <unix seconds>`` and
``X-Csmetrics-Signature: sha256=<hex>``, the HMAC-SHA256, keyed with the shared secret, of
``<timestamp>.<raw body>``. A receiver verifies it by recomputing the HMAC over the timestamp
header, a dot and the body bytes exactly as received, comparing in constant time
(``hmac.compare_digest``), and refusing timestamps more than a few minutes old (replays)::

    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(f"sha256={expected}", request.headers["X-Csmetrics-Signature"])

``X-Csmetrics-Delivery`` holds the notice key, the same on every retry: a receiver that has
seen a key already can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from csmetrics.clock import default_clock
from csmetrics.config import EmailSection, WebhookSection

SIGNATURE_HEADER = "X-Csmetrics-Signature"


class SendError(Exception):
    """A message could not be delivered this time; the text is recorded on the outbox row."""


@dataclass(frozen=True)
class Mail:
    """One e-mail ready to send."""

    to: str
    subject: str
    text: str
    html: str | None
    attachments: tuple[tuple[str, bytes, str], ...]  # (filename, content, media type)


def secret_from_env(variable: str, what: str) -> str:
    """The value of environment variable ``variable``; a clear SendError when it is unset."""
    value = os.environ.get(variable, "")
    if not value:
        raise SendError(f"the {what} is read from the environment variable {variable}, which "
                        f"is not set; export {variable}=... where csmetrics runs.")
    return value


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A verifying TLS context: the system's CAs, or only ``ca_file`` when one is given."""
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise SendError(f"notify.email.ca_file = {ca_file!r} cannot be read as a CA bundle: "
                        f"{exc}.") from None


def build_email(settings: EmailSection, mail: Mail) -> EmailMessage:
    """The MIME message: plain text, an HTML alternative when given, then the attachments."""
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content(mail.text)
    if mail.html:
        message.add_alternative(mail.html, subtype="html")
    for filename, content, media_type in mail.attachments:
        maintype, _, subtype = media_type.partition("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=filename)
    return message


def send_email(settings: EmailSection, mail: Mail) -> None:
    """Deliver ``mail`` through the configured SMTP server (STARTTLS, implicit TLS or plain)."""
    password = (secret_from_env(settings.password_env, "SMTP password")
                if settings.username else "")
    message = build_email(settings, mail)
    where = f"SMTP {settings.host}:{settings.port}"
    try:
        if settings.security == "ssl":
            server: smtplib.SMTP = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds,
                context=tls_context(settings.ca_file))
        else:
            server = smtplib.SMTP(settings.host, settings.port,
                                  timeout=settings.timeout_seconds)
        with server:
            if settings.security == "starttls":
                server.starttls(context=tls_context(settings.ca_file))
            if settings.username:
                server.login(settings.username, password)
            server.send_message(message)
    except smtplib.SMTPException as exc:
        raise SendError(f"{where}: {exc}") from None
    except ssl.SSLError as exc:
        raise SendError(f"{where}: TLS failed ({exc}); check notify.email.security and "
                        "ca_file.") from None
    except OSError as exc:
        raise SendError(f"{where}: cannot connect ({exc}).") from None


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``sha256=`` + HMAC-SHA256 of ``timestamp.body``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def webhook_body(event: str, key: str, subject: str, text: str, data: Any,
                 sent_at: str) -> bytes:
    """The JSON body of a webhook POST."""
    document = {"event": event, "key": key, "subject": subject, "text": text, "data": data,
                "sent_at": sent_at}
    return json.dumps(document, default=str, separators=(",", ":")).encode()


def post_webhook(settings: WebhookSection, event: str, key: str, body: bytes) -> None:
    """POST ``body`` to the webhook, signed; any answer but 2xx is a SendError."""
    secret = secret_from_env(settings.secret_env, f"secret of the webhook {settings.url}")
    timestamp = str(int(default_clock().now().timestamp()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "csmetrics",
        "X-Csmetrics-Event": event,
        "X-Csmetrics-Delivery": key,
        "X-Csmetrics-Timestamp": timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    import httpx  # here, not at the top: every command opening a workspace would pay for it

    try:
        response = httpx.post(settings.url, content=body, headers=headers,
                              timeout=settings.timeout_seconds)
    except httpx.HTTPError as exc:
        raise SendError(f"POST {settings.url}: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        raise SendError(f"POST {settings.url}: HTTP {response.status_code} "
                        f"{response.text[:200]!r}")
