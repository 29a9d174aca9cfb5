"""People and programs allowed in: users with roles and hashed passwords, and API tokens.

Passwords are hashed with scrypt (a memory-hard KDF from the standard library); tokens are
random, shown once, and stored only as a SHA-256 hash, so a copy of the app store reveals
neither. Roles: ``admin`` (everything, manages users), ``editor`` (ingests, refreshes,
changes config), ``viewer`` (reads).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from csmetrics.clock import default_clock
from csmetrics.errors import FieldError, UnknownNameError, UserInputError
from csmetrics.store.sql import first, transaction

if TYPE_CHECKING:
    from csmetrics.store.appstore import AppConnection

Role = Literal["admin", "editor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "editor", "viewer")
RANK = {"viewer": 0, "editor": 1, "admin": 2}
TOKEN_PREFIX = "csm_"
MIN_PASSWORD = 10
#: scrypt cost at OWASP's recommendation (N=2^17, r=8, p=1: 128 MiB and ~0.3 s per hash).
#: Hashes are self-describing, so older ones (N=2^14) still verify and are re-hashed at the
#: next successful sign-in (see :func:`needs_rehash`).
_SCRYPT = {"n": 2**17, "r": 8, "p": 1}
#: Stored hashes naming a larger cost than this are refused rather than computed.
_MAX_N = 2**20

@dataclass(frozen=True)
class User:
    """Someone who may sign in or hold tokens."""

    username: str
    role: Role
    disabled: bool = False
    created_at: datetime | None = None

    def may(self, role: Role) -> bool:
        """Whether this user's role includes ``role``'s rights."""
        return not self.disabled and RANK[self.role] >= RANK[role]


@dataclass(frozen=True)
class Token:
    """An API token's record (never its secret)."""

    token_id: str
    username: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing: ``scrypt$n$r$p$salt$hash``."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, **_SCRYPT)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + salt.hex() + "$" + digest.hex()


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # OpenSSL needs about 128 * r * (n + p) bytes; allow that plus slack (its default is 32 MB)
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32,
                          maxmem=maxmem)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant time), with
    the parameters the hash names (older, cheaper ones included)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        cost = int(n), int(r), int(p)
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        return False
    if kind != "scrypt" or not (1 < cost[0] <= _MAX_N and 0 < cost[1] <= 32 and
                                0 < cost[2] <= 16):
        return False
    candidate = _scrypt(password, salt_bytes, *cost)
    return hmac.compare_digest(candidate.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash was made with other parameters than :func:`hash_password` uses
    now (so a successful sign-in should store a new one)."""
    parts = stored.split("$")
    return len(parts) != 6 or parts[0] != "scrypt" or parts[1:4] != [
        str(_SCRYPT["n"]), str(_SCRYPT["r"]), str(_SCRYPT["p"])]


_DUMMY: list[str] = []


def dummy_hash() -> str:
    """A hash of a random password at today's parameters: verified against when a user is
    unknown, so a refusal takes the same time whether or not the user exists."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(16)))
    return _DUMMY[0]


def check_password(password: str, stored: str | None, user: User | None
                   ) -> tuple[User | None, str | None]:
    """The sign-in check, free of the database (run it outside any lock: scrypt is slow):
    ``stored`` and ``user`` come from :meth:`Accounts.credentials`. Returns the user when
    the password is right and the account enabled, and a new hash to store when the old one
    has outdated parameters. The scrypt verify always runs, against a dummy hash for an
    unknown user, so unknown, disabled and wrong all take the same time."""
    right = verify_password(password, stored if stored is not None else dummy_hash())
    if not right or stored is None or user is None or user.disabled:
        return None, None
    return user, (hash_password(password) if needs_rehash(stored) else None)


class Accounts:
    """Users and tokens stored in the app store (``csmetrics.store.appstore``: the
    warehouse's DuckDB database, or PostgreSQL)."""

    def __init__(self, con: AppConnection) -> None:
        self.con = con

    def add_user(self, username: str, password: str | NewPassword, role: str) -> User:
        """Create a user; refuses a taken name, a weak password or an unknown role."""
        if role not in ROLES:
            raise UserInputError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
        if not username.strip() or len(username) > 100:
            raise UserInputError("A username needs 1 to 100 characters.")
        if not isinstance(password, NewPassword):
            _check_password(password)
        if self.user(username) is not None:
            raise UserInputError(f"User {username!r} already exists.")
        now = default_clock().now()
        self.con.execute("INSERT INTO _users (username, password_hash, role, disabled, created_at) "
                         "VALUES (?, ?, ?, false, ?)",
                         [username, NewPassword.of(password).hash, role, now])
        return User(username, role, False, now)  # type: ignore[arg-type]

    def user(self, username: str) -> User | None:
        """The user called ``username``, if any."""
        row = first(self.con.execute(
            "SELECT username, role, disabled, created_at FROM _users WHERE username = ?",
            [username]))
        return None if row is None else User(row[0], row[1], bool(row[2]), row[3])

    def users(self) -> list[User]:
        """Every user, by name."""
        rows = self.con.execute(
            "SELECT username, role, disabled, created_at FROM _users ORDER BY username"
        ).fetchall()
        return [User(u, r, bool(d), c) for u, r, d, c in rows]

    def _existing(self, username: str) -> User:
        user = self.user(username)
        if user is None:
            raise UnknownNameError(f"There is no user {username!r}.")
        return user

    def _keep_an_admin(self, user: User, doing: str, field: str) -> None:
        """Refuse to ``doing`` the last enabled admin: someone must be able to manage users
        (``field``: what the refused request set)."""
        if user.role != "admin" or user.disabled:
            return
        others = first(self.con.execute(
            "SELECT count(*) FROM _users WHERE role = 'admin' AND NOT disabled AND "
            "username <> ?", [user.username]))
        if not others or not others[0]:
            raise FieldError(field, f"{user.username} is the last active admin and cannot "
                             f"be {doing}; make another user an admin first.")

    def set_role(self, username: str, role: str, *, keep_admin: bool = False) -> User:
        """Give a user another role; with ``keep_admin``, never demote the last active
        admin."""
        if role not in ROLES:
            raise UserInputError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
        user = self._existing(username)
        if keep_admin and role != "admin":
            self._keep_an_admin(user, "demoted", "role")
        self.con.execute("UPDATE _users SET role = ? WHERE username = ?", [role, username])
        return User(username, role, user.disabled, user.created_at)  # type: ignore[arg-type]

    def set_password(self, username: str, password: str | NewPassword) -> None:
        """Replace a user's password and sign them out of every dashboard session (their API
        tokens keep working: revoke those separately)."""
        self._existing(username)
        secret = NewPassword.of(password)
        with transaction(self.con):
            self.con.execute("UPDATE _users SET password_hash = ? WHERE username = ?",
                             [secret.hash, username])
            self.con.execute("DELETE FROM _sessions WHERE username = ?", [username])

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else None; a hash with
        outdated parameters is replaced. (The server runs the same steps, but keeps the
        scrypt work outside its lock: :meth:`credentials`, :func:`check_password`,
        :meth:`upgrade_hash`.)"""
        stored, user = self.credentials(username)
        user, upgraded = check_password(password, stored, user)
        if user is not None and stored is not None and upgraded is not None:
            self.upgrade_hash(username, stored, upgraded)
        return user

    def credentials(self, username: str) -> tuple[str | None, User | None]:
        """A user's stored password hash and record (None, None for an unknown user)."""
        row = first(self.con.execute(
            "SELECT password_hash FROM _users WHERE username = ?", [username]))
        if row is None:
            return None, None
        return row[0], self.user(username)

    def upgrade_hash(self, username: str, old: str, new: str) -> None:
        """Store a re-made hash of the same password, unless the password changed since
        ``old`` was read."""
        self.con.execute("UPDATE _users SET password_hash = ? WHERE username = ? AND "
                         "password_hash = ?", [new, username, old])

    def set_disabled(self, username: str, disabled: bool, *, keep_admin: bool = False) -> None:
        """Disable (or re-enable) a user; their tokens and sessions stop working with them.
        With ``keep_admin``, never disable the last active admin."""
        user = self._existing(username)
        if keep_admin and disabled:
            self._keep_an_admin(user, "disabled", "disabled")
        self.con.execute("UPDATE _users SET disabled = ? WHERE username = ?",
                         [disabled, username])

    def remove_user(self, username: str, *, keep_admin: bool = False) -> None:
        """Delete a user with their tokens and sessions. With ``keep_admin``, never remove the
        last active admin."""
        user = self._existing(username)
        if keep_admin:
            self._keep_an_admin(user, "removed", "username")
        with transaction(self.con):
            self.con.execute("DELETE FROM _api_tokens WHERE username = ?", [username])
            self.con.execute("DELETE FROM _sessions WHERE username = ?", [username])
            self.con.execute("DELETE FROM _users WHERE username = ?", [username])

    def create_token(self, username: str, name: str) -> str:
        """A new API token for ``username``: returned once, stored hashed."""
        self._existing(username)
        if not name.strip() or len(name) > 100:
            raise UserInputError("A token name needs 1 to 100 characters.")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self.con.execute("INSERT INTO _api_tokens (token_id, username, name, token_hash, "
                         "created_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)",
                         [token_id, username, name, _sha256(secret), default_clock().now()])
        return f"{TOKEN_PREFIX}{token_id}_{secret}"

    def tokens(self, username: str | None = None) -> list[Token]:
        """Tokens (without secrets), newest first."""
        sql = "SELECT token_id, username, name, created_at, revoked_at FROM _api_tokens"
        params: list[object] = []
        if username:
            sql += " WHERE username = ?"
            params.append(username)
        return [Token(*row) for row in self.con.execute(sql + " ORDER BY created_at DESC",
                                                        params).fetchall()]

    def token(self, token_id: str) -> Token | None:
        """One token's record, revoked or not."""
        row = first(self.con.execute(
            "SELECT token_id, username, name, created_at, revoked_at FROM _api_tokens WHERE "
            "token_id = ?", [token_id]))
        return None if row is None else Token(*row)

    def revoke_token(self, token_id: str) -> None:
        """Stop a token from working, for good."""
        updated = self.con.execute(
            "UPDATE _api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL "
            "RETURNING token_id", [default_clock().now(), token_id]).fetchall()
        if not updated:
            raise UserInputError(f"There is no active token {token_id!r}.")

    def user_for_token(self, token: str) -> User | None:
        """The enabled user a valid, unrevoked token belongs to."""
        if not token.startswith(TOKEN_PREFIX) or "_" not in token[len(TOKEN_PREFIX):]:
            return None
        token_id, secret = token[len(TOKEN_PREFIX):].split("_", 1)
        row = first(self.con.execute(
            "SELECT username, token_hash FROM _api_tokens WHERE token_id = ? AND revoked_at IS "
            "NULL", [token_id]))
        if row is None or not hmac.compare_digest(row[1], _sha256(secret)):
            return None
        user = self.user(row[0])
        return None if user is None or user.disabled else user


@dataclass(frozen=True)
class NewPassword:
    """A password checked for strength and hashed, ready to store. Hashing takes a good
    fraction of a second on purpose: a server makes it before taking its writer lock."""

    hash: str

    @classmethod
    def of(cls, password: str | NewPassword) -> NewPassword:
        """``password`` checked and hashed (an already hashed one as it is)."""
        if isinstance(password, NewPassword):
            return password
        _check_password(password)
        return cls(hash_password(password))


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserInputError(f"Passwords need at least {MIN_PASSWORD} characters.")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
