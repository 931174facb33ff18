"""Everything a route takes from outside its own arguments, defined once: the services the
app built at start-up, the request's database connection, the shared query parameters
(paging, ``as_of``, ``crs``), the caller, and the throttles.

Routes take them as ``Annotated[…, Depends(…)]`` (the ``…Dep`` names below), never from
``request.app.state``: :class:`Services` is built by the app's one start-up hook
(``api.app.create_app``'s lifespan) and read only here.

The caller is identified by ``Authorization: Bearer <key>`` or, for a browser, by the
session cookie a page's ``?key=`` set (``api/sessions.py``).  A bad key is refused (401);
a stale session counts as no session.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import APIKeyCookie, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from api.errors import invalid_parameter
from api.throttle import Family, Throttle
from gis.access.auth import (
    Principal,
    auth_required,
    authenticate,
    csrf_token,
    session_principal,
)
from gis.errors import Forbidden
from gis.query import cursor as cursors
from gis.query.lookup import LookupService
from gis.settings import Settings
from gis.store.replicas import ReadEngines
from gis.store.watch import VersionWatch
from tiles.service import TileService

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
"""The largest page any list endpoint returns; ask for more with the ``next`` link."""
MAX_INT = 2**31 - 1
"""Largest offset, id or version number a request may give (PostgreSQL's integer): beyond
it a 422 stated in the OpenAPI document, never a database error."""
SESSION_COOKIE = "gridmap_session"
"""The browser session's cookie (HttpOnly, SameSite=Strict): an opaque token, never a key."""
CSRF_HEADER = "X-CSRF-Token"
"""The header a session's state-changing request carries its CSRF token in (the page's
``<meta name="csrf-token">``; ``api/static/workbench/workbench.js`` sends it)."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Services:
    """What the app builds once at start-up and every request shares (closed at shutdown)."""

    engine: Engine
    """The SQLAlchemy engine of the primary: writes, and the routes that open their own."""
    reads: ReadEngines
    """A connection per reading request (:func:`get_connection`): a replica's that has the
    current version, else the primary's."""
    watch: VersionWatch
    """The current boundary version, kept fresh by ``LISTEN`` and the versions board."""
    lookup: LookupService
    """Point and address lookups, from in-process indexes of recent versions."""
    tiles: TileService
    """Vector tiles and TileJSON, over asyncio connections, cached."""
    throttle: Throttle
    """The rate and concurrency limits of the expensive endpoints."""


def services(app: Starlette) -> Services:
    """The app's services: for the middleware (``scope["app"]``) and the tile route, which
    reads its parameters itself; routes take the ``…Dep`` below."""
    return app.state.services


def settings_of(app: Starlette) -> Settings:
    """The app's settings (given to ``create_app``, fixed for its life)."""
    return app.state.settings


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return settings_of(request.app)


# Each service is one async dependency on the request, not one on a shared ``Services``
# dependency: async, FastAPI calls it in the event loop with no thread hop, and one level
# is resolved per request instead of two (the lookup route's cost per request is ~250 µs).


async def get_engine(request: Request) -> Engine:
    """The app's engine, for a route that opens its own transaction (a write)."""
    return services(request.app).engine


async def get_lookup(request: Request) -> LookupService:
    """The lookup service."""
    return services(request.app).lookup


async def get_tiles(request: Request) -> TileService:
    """The tile service."""
    return services(request.app).tiles


async def get_throttle(request: Request) -> Throttle:
    """The throttles (the OpenAPI document declares 429 where this is a dependency)."""
    return services(request.app).throttle


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
LookupDep = Annotated[LookupService, Depends(get_lookup)]
TilesDep = Annotated[TileService, Depends(get_tiles)]
ThrottleDep = Annotated[Throttle, Depends(get_throttle)]


async def get_wanted_version(request: Request) -> int | None:
    """The boundary version a read must see: the current one when there are replicas to
    read from (``gis.store.replicas``); None (any) when every read goes to the primary."""
    found = services(request.app)
    return await found.watch.current() if found.reads.replicas else None


def get_connection(
    request: Request, wanted: Annotated[int | None, Depends(get_wanted_version)]
) -> Iterator[Connection]:
    """A connection for the duration of a reading request (the primary's, or a replica's
    that sees everything committed before the request).  Its server going away after the
    answer was read (a failover cuts a standby's sessions) fails only the closing ROLLBACK:
    the connection is dropped and the answer stands."""
    conn = services(request.app).reads.connect(wanted)
    try:
        yield conn
    finally:
        with suppress(DBAPIError):
            conn.close()


@dataclass(frozen=True)
class Page:
    """Paging of a list endpoint."""

    limit: int
    offset: int
    after: Any = None
    """Keyset lists (:func:`get_keyset_page`): the last id of the previous page."""
    keyset: bool = False
    """Whether the list pages by keyset (its ``next`` links carry a cursor)."""


def get_page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_INT,
            description=f"Items to skip, at most {cursors.MAX_OFFSET} (`offset_too_large`); "
            "further on, follow the `next` link.",
        ),
    ] = 0,
) -> Page:
    """Paging parameters, validated (422 ``invalid_parameter`` when out of range, 422
    ``offset_too_large`` above ``MAX_OFFSET``: one request never skips a table's rows)."""
    return Page(limit=limit, offset=cursors.check_offset(offset))


def get_keyset_page(
    page: Annotated[Page, Depends(get_page)],
    cursor: Annotated[
        str | None,
        Query(
            max_length=cursors.MAX_CURSOR_CHARS,
            description="Where the page starts: the `next` link's cursor (not with offset).",
        ),
    ] = None,
) -> Page:
    """Paging of a list ordered by an indexed key: ``cursor`` (a ``next`` link's) or
    ``offset``, not both (422 ``invalid_cursor``, ``invalid_parameter``)."""
    after = None
    if cursor is not None:
        payload = cursors.decode(cursor)
        if not (isinstance(payload, dict) and set(payload) == {"after"}):
            raise cursors.invalid(cursor)
        after = payload["after"]
        if page.offset:
            raise invalid_parameter(
                "offset", "cursor 与 offset 不能同时使用 (give cursor or offset, not both)"
            )
    return Page(limit=page.limit, offset=page.offset, after=after, keyset=True)


ConnectionDep = Annotated[Connection, Depends(get_connection)]
Id = Annotated[int, Path(ge=1, le=MAX_INT, description="A positive integer id.")]
"""A numeric id in a path: an upload, a key, a version."""
KeysetPageDep = Annotated[Page, Depends(get_keyset_page)]

AS_OF = "Boundary version to read (default: the current)."
AsOf = Annotated[int | None, Query(ge=1, le=MAX_INT, description=AS_OF)]
"""``as_of``: read the boundaries as they were at this version number (404 when none)."""
Crs = Annotated[
    str,
    Query(
        description="CRS of the coordinates given: wgs84, cgcs2000, gcj02 (AMap, Tencent), "
        "bd09 (Baidu) or an EPSG code"
    ),
]
"""``crs``: the coordinate reference system of the points a request gives (``gis.geo.crs``)."""


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


def csrf_matches(sent: str, expected: str) -> bool:
    """Whether a request's CSRF token is the expected one (compared in constant time)."""
    return bool(sent) and secrets.compare_digest(sent.encode(), expected.encode())


def csrf_failed() -> Forbidden:
    """403 ``csrf_failed``: a form or request without its page's CSRF token."""
    return Forbidden(
        "请求缺少有效的 CSRF 令牌（页面或表单已过期），请刷新页面后重试 "
        "(the request lacks its page's CSRF token; reload the page and try again)",
        code="csrf_failed",
    )


def check_csrf(request: Request, session: str) -> None:
    """403 ``csrf_failed`` unless the request carries the session's CSRF token in
    :data:`CSRF_HEADER`: a cookie is sent by the browser whatever page asks, the token only
    by gridmap's own pages."""
    if not csrf_matches(request.headers.get(CSRF_HEADER, ""), csrf_token(session)):
        raise csrf_failed()


async def get_caller(request: Request) -> Principal | None:
    """The caller, or None for an anonymous one (no database work then); remembered on the
    request for the audit log.  Public routes use it to shape answers; the OpenAPI document
    declares a key only where one is required (:func:`require`).  A state-changing request
    that a session cookie signs must carry the session's CSRF token (:func:`check_csrf`)."""
    authorization = request.headers.get("authorization")
    session = request.cookies.get(SESSION_COOKIE)
    principal = None
    if authorization or session:
        engine = services(request.app).engine
        principal = await run_in_threadpool(identify, engine, authorization, session)
    scheme, key = get_authorization_scheme_param(authorization)
    by_session = principal is not None and not (scheme.lower() == "bearer" and key)
    if by_session and session and request.method not in SAFE_METHODS:
        check_csrf(request, session)
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


def by_address(family: Family) -> Callable[..., None]:
    """A dependency: the client address spends one request of ``family`` (429 beyond)."""

    def dependency(request: Request, throttle: ThrottleDep) -> None:
        throttle.buckets[family].take(f"address:{request.client.host if request.client else ''}")

    return dependency


def throttle_analysis(
    throttle: ThrottleDep, principal: Annotated[Principal, Depends(require("viewer"))]
) -> Iterator[None]:
    """A dependency of analyses: a viewer key, one request of its rate, one of its slots."""
    caller = f"key:{principal.name}"
    throttle.buckets["analysis"].take(caller)
    yield from throttle.slots.hold(caller)
