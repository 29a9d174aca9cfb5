"""People and programs allowed in: users with roles and hashed passwords, and API tokens.

Passwords are hashed with scrypt (a memory-hard KDF from the standard library); tokens are
random, shown once, and stored only as a SHA-256 hash, so a copy of the warehouse reveals
neither. Roles: ``admin`` (everything, manages users), ``editor`` (ingests, refreshes,
changes config), ``viewer`` (reads).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import duckdb

from csmetrics.clock import default_clock
from csmetrics.errors import UserInputError
from csmetrics.store.sql import first, transaction

Role = Literal["admin", "editor", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "editor", "viewer")
RANK = {"viewer": 0, "editor": 1, "admin": 2}
TOKEN_PREFIX = "csm_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}

@dataclass(frozen=True)
class User:
    """Someone who may sign in or hold tokens."""

    username: str
    role: Role
    disabled: bool = False

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
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT, dklen=32)
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + salt.hex() + "$" + digest.hex()


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n),
                               r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


class Accounts:
    """Users and tokens stored in the warehouse."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def add_user(self, username: str, password: str, role: str) -> User:
        """Create a user; refuses a taken name, a weak password or an unknown role."""
        if role not in ROLES:
            raise UserInputError(f"Role {role!r} is not one of {', '.join(ROLES)}.")
        if not username.strip() or len(username) > 100:
            raise UserInputError("A username needs 1 to 100 characters.")
        if len(password) < 10:
            raise UserInputError("Passwords need at least 10 characters.")
        if self.user(username) is not None:
            raise UserInputError(f"User {username!r} already exists.")
        self.con.execute("INSERT INTO _users VALUES (?, ?, ?, false, ?)",
                         [username, hash_password(password), role, default_clock().now()])
        return User(username, role)  # type: ignore[arg-type]

    def user(self, username: str) -> User | None:
        """The user called ``username``, if any."""
        row = first(self.con.execute(
            "SELECT username, role, disabled FROM _users WHERE username = ?", [username]))
        return None if row is None else User(row[0], row[1], bool(row[2]))

    def users(self) -> list[User]:
        """Every user, by name."""
        rows = self.con.execute(
            "SELECT username, role, disabled FROM _users ORDER BY username").fetchall()
        return [User(u, r, bool(d)) for u, r, d in rows]

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled, else None."""
        row = first(self.con.execute(
            "SELECT password_hash FROM _users WHERE username = ?", [username]))
        if row is None:
            hash_password(password)  # spend the same time whether or not the user exists
            return None
        user = self.user(username)
        if user is None or user.disabled or not verify_password(password, row[0]):
            return None
        return user

    def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable (or re-enable) a user; their tokens stop working with them."""
        if self.user(username) is None:
            raise UserInputError(f"There is no user {username!r}.")
        self.con.execute("UPDATE _users SET disabled = ? WHERE username = ?",
                         [disabled, username])

    def remove_user(self, username: str) -> None:
        """Delete a user with their tokens and sessions."""
        if self.user(username) is None:
            raise UserInputError(f"There is no user {username!r}.")
        with transaction(self.con):
            self.con.execute("DELETE FROM _api_tokens WHERE username = ?", [username])
            self.con.execute("DELETE FROM _sessions WHERE username = ?", [username])
            self.con.execute("DELETE FROM _users WHERE username = ?", [username])

    def create_token(self, username: str, name: str) -> str:
        """A new API token for ``username``: returned once, stored hashed."""
        if self.user(username) is None:
            raise UserInputError(f"There is no user {username!r}.")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        self.con.execute("INSERT INTO _api_tokens VALUES (?, ?, ?, ?, ?, NULL)",
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


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
