"""Signed-in browser sessions, kept in the app store, and CSRF tokens for their forms.

The cookie holds a random session id; the app store (``csmetrics.store.appstore``) keeps
only its SHA-256, the user and a CSRF token that every form must send back. Cookies are
HttpOnly and SameSite=Strict, and Secure whenever the dashboard is served over HTTPS (or on
loopback, where browsers accept it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from csmetrics.store.accounts import Accounts, User
from csmetrics.store.sql import first

if TYPE_CHECKING:
    from csmetrics.store.appstore import AppConnection

COOKIE = "csmetrics_session"
LOGIN_CSRF_COOKIE = "csmetrics_login_csrf"
LIFETIME = timedelta(hours=12)


@dataclass(frozen=True)
class Session:
    """A signed-in user and the CSRF token their forms carry."""

    user: User
    csrf: str


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(con: AppConnection, user: User, now: datetime) -> str:
    """A new session for ``user``, started at ``now``; returns the cookie value. Sessions
    expired by ``now`` (anyone's) are deleted first."""
    purge(con, now)
    session_id = secrets.token_urlsafe(32)
    expires = now + LIFETIME
    con.execute("INSERT INTO _sessions (session_hash, username, csrf, expires_at) "
                "VALUES (?, ?, ?, ?)",
                [_hash(session_id), user.username, secrets.token_urlsafe(24), expires])
    return session_id


def purge(con: AppConnection, now: datetime) -> None:
    """Delete every session that has expired by ``now``."""
    con.execute("DELETE FROM _sessions WHERE expires_at <= ?", [now])


def lookup(con: AppConnection, session_id: str | None, now: datetime
           ) -> Session | None:
    """The session behind a cookie value live at ``now``, or None (unknown, expired, user
    disabled)."""
    if not session_id:
        return None
    row = first(con.execute(
        "SELECT username, csrf FROM _sessions WHERE session_hash = ? AND expires_at > ?",
        [_hash(session_id), now]))
    if row is None:
        return None
    user = Accounts(con).user(row[0])
    if user is None or user.disabled:
        return None
    return Session(user, row[1])


def end(con: AppConnection, session_id: str | None) -> None:
    """Forget a session (sign out)."""
    if session_id:
        con.execute("DELETE FROM _sessions WHERE session_hash = ?", [_hash(session_id)])


def same(sent: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a CSRF token sent with a form against the expected one."""
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent), str(expected))
