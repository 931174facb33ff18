"""Signing in and out of the workbench, and the users API for admins.

- ``GET /login``: the zh-CN form.  Before anyone is signed in there is no session to tie a
  CSRF token to, so the form is protected by a double-submit cookie: the page sets a random
  :data:`LOGIN_CSRF_COOKIE` (HttpOnly, SameSite=Strict) and puts the same value in a hidden
  field; a POST whose field differs is refused (403 ``csrf_failed``).  Another site can
  neither read the cookie nor make the browser send it.
- ``POST /login``: a right username and password start a session (the session cookie of
  ``api/sessions.py``) and go on to ``next`` — a path of this site only, else the start
  page; a wrong one shows the form again with the same message for an unknown name and a
  wrong password (401).  Failed sign-ins per address and username are throttled (429).
  A browser already signed in as a user is sent on to ``next`` at once.
- ``POST /logout``: the form carries the session's CSRF token; the session ends.
- Sign-ins and sign-outs are in the audit log (who, from where), in their own transaction.
- ``/api/v1/users``: list, create and change users (role, scope, disabled, password), like
  ``gridmap users``.  Passwords go in, never out: answers and the audit log hold neither a
  password nor its hash.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from api.deps import (
    SESSION_COOKIE,
    CallerDep,
    ConnectionDep,
    EngineDep,
    Id,
    ThrottleDep,
    csrf_failed,
    csrf_matches,
    require,
)
from api.pages import templates
from api.schemas import UserAnswer, UserList
from api.sessions import set_session_cookie
from api.text import Code, ShortText
from gis.access import audit, auth, users
from gis.access.auth import Principal
from gis.errors import InvalidInput, Unauthorized

router = APIRouter(tags=["users"])
Admin = Annotated[Principal, Depends(require("admin"))]
NO_STORE = {"Cache-Control": "no-store"}
LOGIN_CSRF_COOKIE = "gridmap_login_csrf"
"""The login form's double-submit CSRF cookie (the session's token does not exist yet)."""
START = "/workbench"
"""Where a sign-in goes when ``next`` is missing or not a path of this site."""
MAX_NEXT = 2000

Password = Annotated[str, Field(max_length=users.MAX_PASSWORD)]


def safe_next(target: str | None) -> str:
    """``target`` if it is a path of this site (one leading "/", no scheme, host,
    backslash or control character), else :data:`START`: a sign-in link cannot send the
    browser to another site."""
    if (
        not target
        or len(target) > MAX_NEXT
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return START
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else ""


def _audit(conn: Connection, principal: Principal, address: str, action: str) -> None:
    """A sign-in or sign-out in the audit log (who, from where; never a password)."""
    audit.record(
        conn,
        actor=principal.name,
        key_id=principal.key_id,
        address=address,
        action=action,
        target=f"user {principal.user_id}" if principal.user_id else f"key {principal.key_id}",
        status=303,
    )


def _login_page(request: Request, target: str, message: str = "", status: int = 200) -> Response:
    """The form with a fresh double-submit token (cookie and hidden field)."""
    token = secrets.token_urlsafe(32)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": token, "next": target, "message": message},
        status_code=status,
        headers=NO_STORE,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_form(
    request: Request,
    caller: CallerDep,
    next: Annotated[str | None, Query(max_length=MAX_NEXT)] = None,
) -> Response:
    """The sign-in form (zh-CN); ``next``: where to go once signed in — at once for a
    browser already signed in as a user."""
    if caller is not None and caller.user_id is not None:
        return RedirectResponse(safe_next(next), status_code=303, headers=NO_STORE)
    return _login_page(request, safe_next(next))


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
def login(
    request: Request,
    engine: EngineDep,
    throttle: ThrottleDep,
    username: Annotated[str, Form(max_length=users.MAX_USERNAME * 4)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD * 4)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=MAX_NEXT)] = START,
) -> Response:
    """Sign in: a session and a 303 to ``next``, or the form again with the message (401)."""
    if not csrf_matches(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise csrf_failed()
    target = safe_next(next)
    client = _address(request)
    bucket = throttle.buckets["login"]
    caller = f"{client}\n{username.strip()}"
    bucket.take(caller, spend=0)
    try:
        with engine.begin() as conn:
            principal = users.verify_login(conn, username, password)
            token = auth.start_session(conn, principal)
            _audit(conn, principal, client, "POST /login")
    except Unauthorized as error:
        bucket.take(caller)
        return _login_page(request, target, error.message, status=401)
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    set_session_cookie(response, token, request.scope)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", response_class=HTMLResponse, include_in_schema=False)
def logout(
    request: Request,
    engine: EngineDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Sign out: the form's token must be the session's (403 ``csrf_failed``); the
    session ends, its cookie is cleared, and the browser goes to the sign-in form."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        if not csrf_matches(csrf_token, auth.csrf_token(session)):
            raise csrf_failed()
        with engine.begin() as conn:
            principal = auth.session_principal(conn, session)
            auth.end_session(conn, session)
            if principal is not None:
                _audit(conn, principal, _address(request), "POST /logout")
    response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --------------------------------------------------------------------------- users API


class NewUser(BaseModel):
    """A user to create."""

    username: ShortText = Field(description=f"1–{users.MAX_USERNAME} characters, unique")
    password: Password = Field(description=f"At least {users.MIN_PASSWORD} characters")
    role: Literal["viewer", "editor", "admin"]
    scope: Code | None = Field(
        default=None, description="Code of a current county, street or community; none: all"
    )


class UserChange(BaseModel):
    """What to change about a user; members left out stay as they are."""

    role: Literal["viewer", "editor", "admin"] | None = None
    scope: Code | None = Field(default=None, description="A region code; null: everywhere")
    disabled: bool | None = Field(default=None, description="true ends the user's sessions")
    password: Password | None = Field(default=None, description="A new password")


def _shown(info: users.UserInfo) -> dict[str, Any]:
    """A user as JSON (times ISO 8601): never a password or hash."""
    shown = {
        k: v.isoformat() if hasattr(v, "isoformat") else v
        for k, v in dataclasses.asdict(info).items()
    }
    shown["status"] = info.status
    return shown


@router.get("/api/v1/users", response_model=UserList, summary="List users (admin)")
def list_users(conn: ConnectionDep, _admin: Admin) -> JSONResponse:
    """Every user, oldest first: id, username, role, scope, status, created, disabled."""
    return JSONResponse({"users": [_shown(u) for u in users.list_users(conn)]}, headers=NO_STORE)


@router.post(
    "/api/v1/users", status_code=201, response_model=UserAnswer, summary="Create a user (admin)"
)
def create_user(engine: EngineDep, body: NewUser, _admin: Admin) -> JSONResponse:
    """A new user who signs in at ``/login``; 409 ``user_exists`` when the name is taken,
    422 for a short password (``invalid_password``) or a scope that is not a current
    county, street or community (``invalid_scope``)."""
    with engine.begin() as conn:
        info = users.create_user(conn, body.username, body.password, body.role, body.scope)
    return JSONResponse(_shown(info), status_code=201, headers=NO_STORE)


@router.patch("/api/v1/users/{user_id}", response_model=UserAnswer, summary="Change a user (admin)")
def change_user(engine: EngineDep, user_id: Id, body: UserChange, admin: Admin) -> JSONResponse:
    """Change a user's role, scope (null: everywhere), password or disabled state, all in
    one transaction.  Disabling or a new password ends their sessions at once.  An admin
    cannot disable or demote their own account (422 ``own_account``): the office would be
    left without one."""
    if admin.user_id == user_id and (body.disabled or body.role not in (None, "admin")):
        raise InvalidInput(
            "不能停用自己的账号或降低自己的角色 (you cannot disable or demote your own account)",
            code="own_account",
        )
    with engine.begin() as conn:
        info = users.get_user(conn, user_id)
        if body.role is not None or "scope" in body.model_fields_set:
            scope = body.scope if "scope" in body.model_fields_set else info.scope
            info = users.set_role_scope(conn, user_id, body.role or info.role, scope)
        if body.password is not None:
            info = users.set_password(conn, user_id, body.password)
        if body.disabled is not None:
            info = users.disable_user(conn, user_id, disabled=body.disabled)
    return JSONResponse(_shown(info), headers=NO_STORE)
