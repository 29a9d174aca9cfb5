"""Real local receivers for notification tests: an SMTP server (aiosmtpd, STARTTLS or implicit
TLS with a self-signed certificate made by openssl) and HTTP webhook receivers in threads."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.serving import STARTUP_DEADLINE, free_port

SMTP_USER = "reports"
SMTP_PASSWORD = "s3cret-smtp-password"
WEBHOOK_SECRET = "hook-secret-123"


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost, made with the openssl command."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return cert, key


@dataclass
class Inbox:
    """What the SMTP server received: parsed messages and their envelopes."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode()
              and auth_data.password == SMTP_PASSWORD.encode())
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)


@contextmanager
def smtp_server(cert: Path, key: Path, *, implicit_tls: bool = False
                ) -> Iterator[tuple[int, Inbox]]:
    """A running SMTP server on a free port: STARTTLS required (and login, after TLS), or
    implicit TLS from the first byte. Yields (port, inbox). ``Controller.start`` waits until
    the server answers a connection and raises TimeoutError after STARTUP_DEADLINE."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    options: dict[str, Any] = {"authenticator": inbox.authenticate, "auth_require_tls": True,
                               "ready_timeout": STARTUP_DEADLINE}
    if implicit_tls:  # aiosmtpd does not see the TLS it sits behind: allow AUTH as is
        options["auth_require_tls"] = False
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=context,
                                **options)
    else:
        controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                                require_starttls=True, **options)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@dataclass
class Hook:
    """A webhook receiver: answers 503 to the first ``fail_first`` requests (or to all when
    ``always_fail``), checks every signature, and keeps what it received."""

    fail_first: int = 0
    always_fail: bool = False
    secret: str = WEBHOOK_SECRET
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def valid(self, headers: Any, body: bytes) -> bool:
        """The receiver's side of the signature check, as channels.py documents it."""
        timestamp = headers.get("X-Csmetrics-Timestamp", "")
        expected = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body,
                            hashlib.sha256).hexdigest()
        return hmac.compare_digest(f"sha256={expected}",
                                   headers.get("X-Csmetrics-Signature", ""))

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The requests answered with 2xx."""
        return [r for r in self.requests if r["status"] == 200]


@contextmanager
def webhook_server(hook: Hook) -> Iterator[Hook]:
    """Serve ``hook`` on a free port in a thread; ``hook.url`` is where to POST."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            valid = hook.valid(self.headers, body)
            failing = hook.always_fail or len(hook.requests) < hook.fail_first
            status = 401 if not valid else 503 if failing else 200
            hook.requests.append({"headers": dict(self.headers), "body": body,
                                  "json": json.loads(body), "valid": valid, "status": status})
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"busy, try later" if status == 503 else b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    # the constructor binds and listens: connections queue until serve_forever takes them,
    # so the receiver is ready before the thread starts (no wait needed)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/csmetrics"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def toml_list(values: list[str]) -> str:
    """A TOML array of strings."""
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def email_toml(port: int, ca_file: Path, *, security: str = "starttls",
               default_to: tuple[str, ...] = ("cs-lead@example.com",), login: bool = True,
               max_attempts: int = 3) -> str:
    """A [notify.email] section for the local server."""
    return (f'[notify.email]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
            f'security = "{security}"\nusername = "{SMTP_USER if login else ""}"\n'
            f'password_env = "TEST_SMTP_PASSWORD"\nsender = "csmetrics@test.example"\n'
            f'ca_file = {json.dumps(str(ca_file))}\ndefault_to = {toml_list(list(default_to))}\n'
            f"max_attempts = {max_attempts}\nbackoff_seconds = 0.05\ntimeout_seconds = 5\n")


def webhook_toml(url: str, *, events: tuple[str, ...] = (), max_attempts: int = 5) -> str:
    """A [[notify.webhooks]] entry with a quick back-off."""
    return (f'[[notify.webhooks]]\nurl = "{url}"\nsecret_env = "TEST_WEBHOOK_SECRET"\n'
            f"events = {toml_list(list(events))}\nmax_attempts = {max_attempts}\n"
            f"backoff_seconds = 0.05\ntimeout_seconds = 5\n")
