"""Dashboard pages for administration (admins: users and API tokens) and the signed-in user's
own account (change my password).

Every form carries the session's CSRF token. Nothing is cached: the session and its user are
looked up on every request, so a disabled or removed user is signed out on their next click.
An admin cannot remove, disable or demote the last active admin.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from csmetrics.errors import UserInputError
from csmetrics.server.deps import Site
from csmetrics.server.signin import change_own_password
from csmetrics.store.accounts import ROLES, Accounts, NewPassword
from csmetrics.web import sessions
from csmetrics.web.pages import _nav, _secure, _session, form_session, templates

router = APIRouter(include_in_schema=False)

USER_ACTIONS = ("role", "disable", "enable", "password", "remove")


def _forbidden(request: Request, session: sessions.Session, what: str) -> Response:
    site: Site = request.app.state.site
    with site.reading() as ws:
        company = ws.settings.workspace.name
    return templates.TemplateResponse(request, "forbidden.html", {
        "page": "", "title": "Not allowed", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(),
        "reason": f"{what} needs the admin role; {session.user.username} is a "
                  f"{session.user.role}.",
    }, status_code=403)


def _admin_page(request: Request, session: sessions.Session, message: str = "",
                error: str = "", new_token: str = "") -> Response:
    site: Site = request.app.state.site
    with site.reading() as ws:
        company = ws.settings.workspace.name
        accounts = Accounts(ws.app)
        users, tokens = accounts.users(), accounts.tokens()
    response = templates.TemplateResponse(request, "admin.html", {
        "page": "admin", "title": "Admin", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "users": users, "tokens": tokens,
        "roles": ROLES, "message": message, "error": error, "new_token": new_token,
    })
    response.headers["Cache-Control"] = "no-store"  # a new token's secret is on the page
    return response


def _back(path: str, message: str = "", error: str = "") -> Response:
    query = f"?error={quote(error)}" if error else f"?message={quote(message)}"
    return RedirectResponse(path + query, status_code=303)


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request, message: str = "", error: str = "") -> Response:
    """Users (role, disabled, added) with their forms, and every API token (admins only)."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    if not session.user.may("admin"):
        return _forbidden(request, session, "The Admin page")
    return _admin_page(request, session, message, error)


def _admin_form(request: Request, csrf: str
                ) -> tuple[sessions.Session, None] | tuple[None, Response]:
    session, refusal = form_session(request, csrf)
    if refusal is not None:
        return None, refusal
    assert session is not None
    if not session.user.may("admin"):
        return None, _forbidden(request, session, "Managing users and tokens")
    return session, None


@router.post("/admin/users")
def add_user(request: Request, csrf: Annotated[str, Form()], username: Annotated[str, Form()],
             password: Annotated[str, Form()], role: Annotated[str, Form()] = "viewer"
             ) -> Response:
    """Add a user with a role and an initial password."""
    session, refusal = _admin_form(request, csrf)
    if refusal is not None:
        return refusal
    site: Site = request.app.state.site
    try:
        secret = NewPassword.of(password)  # the slow hash, before the writer lock
        with site.writing() as ws:
            user = Accounts(ws.app).add_user(username.strip(), secret, role)
    except UserInputError as exc:
        return _back("/admin", error=str(exc))
    return _back("/admin", f"Added {user.username} ({user.role}).")


@router.post("/admin/users/{username}/{action}")
def user_action(request: Request, username: str, action: str, csrf: Annotated[str, Form()],
                role: Annotated[str, Form()] = "", password: Annotated[str, Form()] = ""
                ) -> Response:
    """Change a user's role, disable or enable them, reset their password, or remove them."""
    session, refusal = _admin_form(request, csrf)
    if refusal is not None:
        return refusal
    if action not in USER_ACTIONS:
        return Response(f"No user action {action!r}.", status_code=404)
    site: Site = request.app.state.site
    try:
        secret = NewPassword.of(password) if action == "password" else None
        with site.writing() as ws:
            accounts = Accounts(ws.app)
            if action == "role":
                accounts.set_role(username, role, keep_admin=True)
                said = f"{username}'s role is now {role}."
            elif action in ("disable", "enable"):
                accounts.set_disabled(username, action == "disable", keep_admin=True)
                said = f"{username} is {action}d."
            elif secret is not None:
                accounts.set_password(username, secret)
                said = f"Set a new password for {username}; their sessions ended."
            else:
                accounts.remove_user(username, keep_admin=True)
                said = f"Removed {username} with their tokens and sessions."
    except UserInputError as exc:
        return _back("/admin", error=str(exc))
    return _back("/admin", said)


@router.post("/admin/tokens", response_class=HTMLResponse)
def create_token(request: Request, csrf: Annotated[str, Form()],
                 username: Annotated[str, Form()], name: Annotated[str, Form()]) -> Response:
    """Create an API token; the page shows its secret this once."""
    session, refusal = _admin_form(request, csrf)
    if refusal is not None:
        return refusal
    assert session is not None
    site: Site = request.app.state.site
    try:
        with site.writing() as ws:
            token = Accounts(ws.app).create_token(username, name.strip())
    except UserInputError as exc:
        return _admin_page(request, session, error=str(exc))
    return _admin_page(request, session, f"Created a token for {username}. Copy it now: it is "
                       "not shown again.", new_token=token)


@router.post("/admin/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, csrf: Annotated[str, Form()]) -> Response:
    """Revoke a token; it is refused from the next request on."""
    session, refusal = _admin_form(request, csrf)
    if refusal is not None:
        return refusal
    site: Site = request.app.state.site
    try:
        with site.writing() as ws:
            Accounts(ws.app).revoke_token(token_id)
    except UserInputError as exc:
        return _back("/admin", error=str(exc))
    return _back("/admin", f"Revoked token {token_id}.")


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, message: str = "", error: str = "") -> Response:
    """The signed-in user's account: who they are, and a form to change their password."""
    session = _session(request)
    if session is None:
        return RedirectResponse("/login", status_code=303)
    site: Site = request.app.state.site
    with site.reading() as ws:
        company = ws.settings.workspace.name
    return templates.TemplateResponse(request, "account.html", {
        "page": "account", "title": "Account", "company": company, "user": session.user,
        "csrf": session.csrf, "pages": _nav(), "message": message, "error": error,
    })


@router.post("/account/password")
def change_password(request: Request, csrf: Annotated[str, Form()],
                    current: Annotated[str, Form()], new: Annotated[str, Form()],
                    confirm: Annotated[str, Form()]) -> Response:
    """Change my password (the current one is required); every other session of mine ends,
    this browser stays signed in."""
    session, refusal = form_session(request, csrf)
    if refusal is not None:
        return refusal
    assert session is not None
    if new != confirm:
        return _back("/account", error="The new password and its confirmation differ.")
    site: Site = request.app.state.site
    try:
        change_own_password(site, session.user.username, current, new)
        with site.signing_in() as ws:
            session_id = sessions.start(ws.app, session.user, ws.clock.now())
    except UserInputError as exc:
        return _back("/account", error=str(exc))
    response = _back("/account", "Your password is changed; other sessions are signed out.")
    response.set_cookie(sessions.COOKIE, session_id, httponly=True, samesite="strict",
                        secure=_secure(request), max_age=int(sessions.LIFETIME.total_seconds()))
    return response
