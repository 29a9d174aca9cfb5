"""Administration: users (admins only) and API tokens (admins: everyone's; others: their own),
and every signed-in caller's own password.

Nothing here is cached: the token and its user are looked up on every request
(``server.deps.caller``), so a revoked token, a disabled or removed user stops working on the
very next call. An admin cannot remove, disable or demote the last active admin.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from csmetrics.api.models import (
    CreatedToken,
    NewToken,
    NewUser,
    PasswordChange,
    PasswordReset,
    TokenInfo,
    UserChange,
    UserInfo,
)
from csmetrics.errors import UnknownNameError
from csmetrics.server import signin
from csmetrics.server.deps import Admin, SiteDep, Viewer
from csmetrics.store.accounts import TOKEN_PREFIX, Accounts, NewPassword, Token, User
from csmetrics.store.sql import transaction

router = APIRouter(tags=["administration"])


def _user(user: User) -> UserInfo:
    return UserInfo(username=user.username, role=user.role, disabled=user.disabled,
                    created_at=user.created_at)


def _token(token: Token) -> TokenInfo:
    return TokenInfo(token_id=token.token_id, username=token.username, name=token.name,
                     created_at=token.created_at, revoked_at=token.revoked_at)


@router.get("/users", response_model=list[UserInfo], summary="List users (admins)")
def list_users(admin: Admin, site: SiteDep) -> list[UserInfo]:
    """Every user with their role, whether disabled, and when they were added."""
    with site.reading() as ws:
        return [_user(u) for u in Accounts(ws.app).users()]


@router.post("/users", response_model=UserInfo, status_code=status.HTTP_201_CREATED,
             summary="Add a user (admins)")
def add_user(body: NewUser, admin: Admin, site: SiteDep) -> UserInfo:
    """A new user with a role and an initial password; 400 when the name is taken."""
    secret = NewPassword.of(body.password)  # the slow hash, before the writer lock
    with site.writing() as ws:
        return _user(Accounts(ws.app).add_user(body.username, secret, body.role))


@router.patch("/users/{username}", response_model=UserInfo, summary="Change a user's role or "
              "disable / enable them (admins)")
def change_user(username: str, body: UserChange, admin: Admin, site: SiteDep) -> UserInfo:
    """A disabled user's tokens and sessions stop working at once; 400 for the last active
    admin, 404 for an unknown user."""
    with site.writing() as ws:
        accounts = Accounts(ws.app)
        with transaction(ws.app):  # both changes or neither
            if body.role is not None:
                accounts.set_role(username, body.role, keep_admin=True)
            if body.disabled is not None:
                accounts.set_disabled(username, body.disabled, keep_admin=True)
        user = accounts.user(username)
    if user is None:
        raise UnknownNameError(f"There is no user {username!r}.")
    return _user(user)


@router.delete("/users/{username}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Remove a user (admins)")
def remove_user(username: str, admin: Admin, site: SiteDep) -> Response:
    """Remove a user with their API tokens and sessions; 400 for the last active admin."""
    with site.writing() as ws:
        Accounts(ws.app).remove_user(username, keep_admin=True)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/users/{username}/password", status_code=status.HTTP_204_NO_CONTENT,
             summary="Reset a user's password (admins)")
def reset_password(username: str, body: PasswordReset, admin: Admin, site: SiteDep
                   ) -> Response:
    """Set a new password; the user's dashboard sessions end (their tokens stay)."""
    secret = NewPassword.of(body.password)  # the slow hash, before the writer lock
    with site.writing() as ws:
        Accounts(ws.app).set_password(username, secret)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT,
             summary="Change your own password")
def change_own_password(body: PasswordChange, user: Viewer, site: SiteDep) -> Response:
    """The caller's (the token's user's) password; 400 when ``current`` is wrong. Their
    dashboard sessions end."""
    signin.change_own_password(site, user.username, body.current, body.new)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tokens", response_model=list[TokenInfo], summary="List API tokens")
def list_tokens(user: Viewer, site: SiteDep) -> list[TokenInfo]:
    """Everyone's tokens for an admin, the caller's own otherwise, newest first (never their
    secrets)."""
    with site.reading() as ws:
        tokens = Accounts(ws.app).tokens(
            None if user.may("admin") else user.username)
    return [_token(t) for t in tokens]


@router.post("/tokens", response_model=CreatedToken, status_code=status.HTTP_201_CREATED,
             summary="Create an API token")
def create_token(body: NewToken, user: Viewer, site: SiteDep) -> CreatedToken:
    """A token for the caller, or (admins only) for ``username``; the secret is in the answer
    this once."""
    owner = body.username or user.username
    if owner != user.username and not user.may("admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"Only admins create tokens for "
                            f"others; {user.username} is a {user.role}.")
    with site.writing() as ws:
        accounts = Accounts(ws.app)
        secret = accounts.create_token(owner, body.name)
        token = accounts.token(secret.removeprefix(TOKEN_PREFIX).split("_", 1)[0])
    if token is None:  # pragma: no cover - it was just stored
        raise UnknownNameError("The new token was not stored.")
    return CreatedToken(**_token(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenInfo, summary="Revoke an API token")
def revoke_token(token_id: str, user: Viewer, site: SiteDep) -> TokenInfo:
    """Any token for an admin, the caller's own otherwise (404 for someone else's); refused
    from the very next request on."""
    with site.writing() as ws:
        accounts = Accounts(ws.app)
        token = accounts.token(token_id)
        if token is None or (token.username != user.username and not user.may("admin")):
            raise UnknownNameError(f"There is no token {token_id!r}.")
        accounts.revoke_token(token_id)
        return _token(accounts.token(token_id) or token)
