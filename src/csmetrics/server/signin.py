"""Password sign-in for the dashboard (and any password-based API route): throttled per
account and per client address, constant-time for unknown and disabled users, and with the
slow scrypt work done outside the workspace's lock.

Throttling: an account may fail ``ACCOUNT_FREE`` times and an address ``ADDRESS_FREE``
times; every failure after that closes the door for a window that doubles with each failure
(``BASE_WAIT``, 2x, 4x ... up to ``MAX_WAIT``). While it is closed, sign-ins are refused
without looking at the password (429, Retry-After). A successful sign-in clears the account's
count (not the address's: one good password must not reset a spray from the same address);
counts are forgotten ``FORGET_AFTER`` the last failure. Times come from the workspace's clock.
The counts live in the server's memory: a restart clears them.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from csmetrics.errors import FieldError
from csmetrics.store.accounts import Accounts, NewPassword, User, check_password, verify_password

if TYPE_CHECKING:
    from csmetrics.server.deps import Site

ACCOUNT_FREE = 5
ADDRESS_FREE = 20
BASE_WAIT = timedelta(seconds=30)
MAX_WAIT = timedelta(minutes=15)
FORGET_AFTER = timedelta(hours=1)
MAX_ENTRIES = 10_000


@dataclass
class _Count:
    failures: int
    last: datetime
    until: datetime | None = None


class LoginThrottle:
    """Failed sign-ins per account and per address, and how long each must wait."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], _Count] = {}
        self._lock = threading.Lock()  # its own: never the workspace's lock

    def wait(self, username: str, address: str, now: datetime) -> int:
        """Seconds before ``username`` from ``address`` may try again (0: now)."""
        with self._lock:
            waits = [self._wait(key, now) for key in _keys(username, address)]
        return max(waits)

    def failed(self, username: str, address: str, now: datetime) -> None:
        """Count a refused sign-in; past the free attempts, close the door for a while."""
        with self._lock:
            if len(self._counts) >= MAX_ENTRIES:
                self._prune(now)
            for key in _keys(username, address):
                count = self._current(key, now)
                if count is None:
                    count = self._counts[key] = _Count(0, now)
                count.failures += 1
                count.last = now
                free = ACCOUNT_FREE if key[0] == "account" else ADDRESS_FREE
                if count.failures >= free:
                    step = min(count.failures - free, 20)
                    count.until = now + min(BASE_WAIT * 2**step, MAX_WAIT)

    def succeeded(self, username: str) -> None:
        """A right password: the account starts afresh."""
        with self._lock:
            self._counts.pop(("account", username), None)

    def _current(self, key: tuple[str, str], now: datetime) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and (count.until is None or count.until <= now) \
                and now - count.last >= FORGET_AFTER:
            del self._counts[key]
            return None
        return count

    def _wait(self, key: tuple[str, str], now: datetime) -> int:
        count = self._current(key, now)
        if count is None or count.until is None or count.until <= now:
            return 0
        return max(1, math.ceil((count.until - now).total_seconds()))

    def _prune(self, now: datetime) -> None:
        for key in list(self._counts):
            self._current(key, now)
        while len(self._counts) >= MAX_ENTRIES:  # still full: forget the oldest
            oldest = min(self._counts, key=lambda k: self._counts[k].last)
            del self._counts[oldest]


def _keys(username: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
    return ("account", username), ("address", address)


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: the user, or None with ``retry_after`` seconds > 0 when
    throttled (0: the name or password was wrong, or the account is disabled)."""

    user: User | None
    retry_after: int = 0


def sign_in(site: Site, username: str, password: str, address: str) -> SignIn:
    """Check a username and password for a client at ``address``, throttled; a hash with
    outdated scrypt parameters is replaced. Unknown, disabled and wrong are one answer."""
    now = site.workspace.clock.now()
    wait = site.throttle.wait(username, address, now)
    if wait:
        return SignIn(None, wait)
    with site.reading() as ws:
        stored, record = Accounts(ws.app).credentials(username)
    user, upgraded = check_password(password, stored, record)  # scrypt: outside the lock
    if user is None:
        site.throttle.failed(username, address, now)
        return SignIn(None)
    if upgraded is not None and stored is not None:
        with site.writing() as ws:
            Accounts(ws.app).upgrade_hash(username, stored, upgraded)
    site.throttle.succeeded(username)
    return SignIn(user)


def change_own_password(site: Site, username: str, current: str, new: str) -> None:
    """A user changing their own password: the current one must be right. Their dashboard
    sessions end. The scrypt work is done outside the writer lock."""
    with site.reading() as ws:
        stored, _ = Accounts(ws.app).credentials(username)
    if stored is None or not verify_password(current, stored):
        raise FieldError("current", "The current password is wrong.")
    secret = NewPassword.of(new)
    with site.writing() as ws:
        Accounts(ws.app).set_password(username, secret)
