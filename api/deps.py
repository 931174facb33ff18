"""Request dependencies: a database connection, paging parameters and the caller.

The caller is identified by ``Authorization: Bearer <key>`` or, for a browser, by the
session cookie a page's ``?key=`` set (``api/sessions.py``).  A bad key is refused (401);
a stale session counts as no session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from gis.access.auth import Principal, auth_required, authenticate, session_principal

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
"""The largest page any list endpoint returns; ask for more with ``offset``."""
MAX_INT = 2**31 - 1
"""Largest offset, id or version number a request may give (PostgreSQL's integer): beyond
it a 422 stated in the OpenAPI document, never a database error."""
SESSION_COOKIE = "gridmap_session"
"""The browser session's cookie (HttpOnly, SameSite=Strict): an opaque token, never a key."""


def get_connection(request: Request) -> Iterator[Connection]:
    """A connection from the app's pool for the duration of the request."""
    with request.app.state.engine.connect() as conn:
        yield conn


@dataclass(frozen=True)
class Page:
    """Paging of a list endpoint."""

    limit: int
    offset: int


def get_page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_INT, description="Items to skip.")] = 0,
) -> Page:
    """Paging parameters, validated (422 ``invalid_parameter`` when out of range)."""
    return Page(limit=limit, offset=offset)


ConnectionDep = Annotated[Connection, Depends(get_connection)]
Id = Annotated[int, Path(ge=1, le=MAX_INT, description="A positive integer id.")]
"""A numeric id in a path: an upload, a key, a version."""
PageDep = Annotated[Page, Depends(get_page)]


bearer = HTTPBearer(auto_error=False, description="An API key from `gridmap keys create`.")
session_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description="A browser session, set by opening a page with `?key=`.",
)


def identify(engine: Engine, authorization: str | None, session: str | None) -> Principal | None:
    """The caller: the Bearer key's principal (401 when the key is bad), else the session's,
    else None (anonymous).  Writes the key's last use when it is stale."""
    scheme, key = get_authorization_scheme_param(authorization)
    if scheme.lower() == "bearer" and key:
        with engine.begin() as conn:
            return authenticate(conn, key)
    if session:
        with engine.begin() as conn:
            return session_principal(conn, session)
    return None


def authorize(
    engine: Engine, authorization: str | None, session: str | None, role: str
) -> Principal:
    """The caller, who must have at least ``role`` (401 ``auth_required`` when anonymous,
    403 ``insufficient_role``)."""
    principal = identify(engine, authorization, session)
    if principal is None:
        raise auth_required()
    principal.require(role)
    return principal


async def get_caller(request: Request) -> Principal | None:
    """The caller, or None for an anonymous one (no database work then); remembered on the
    request for the audit log.  Public routes use it to shape answers; the OpenAPI document
    declares a key only where one is required (:func:`require`)."""
    authorization = request.headers.get("authorization")
    session = request.cookies.get(SESSION_COOKIE)
    principal = None
    if authorization or session:
        engine = request.app.state.engine
        principal = await run_in_threadpool(identify, engine, authorization, session)
    request.state.principal = principal
    return principal


CallerDep = Annotated[Principal | None, Depends(get_caller)]


def role_of(caller: Principal | None) -> str | None:
    """The caller's role, None when anonymous: what ``gis.access.privacy`` shows it."""
    return caller.role if caller else None


def require(role: str) -> Callable[..., Principal]:
    """A dependency: the caller (key or session) must have at least ``role`` (401/403)."""

    def dependency(
        caller: CallerDep,
        _bearer: Annotated[object, Depends(bearer)],  # declared in the OpenAPI document
        _session: Annotated[object, Depends(session_cookie)],
    ) -> Principal:
        if caller is None:
            raise auth_required()
        caller.require(role)
        return caller

    return dependency
