"""The busiest request, answered before the framework: ``GET /api/v1/lookup?lon=&lat=``.

A hotline system asks "which grid is this point in" thousands of times a second.  The route
(``api.routers.lookup``) answers it through eight middlewares and FastAPI's dependency
resolution: ~300 µs a request here, ten times the lookup itself.  This outermost middleware
answers the common case itself — a GET with exactly ``lon`` and ``lat`` (and optionally
``crs=wgs84``), plain decimal numbers within ±180° / ±90°, anonymous or with one
``Authorization: Bearer <key>`` whose principal this process holds (``gis.access.auth.
KeyCache``: read once, then again once a minute off the request path, voided at once by a
revocation, rotation or expiry) — from the same index (``LookupService.index``), with the
same JSON and the same headers; anything else (a session cookie, a key not known here or
refused, other parameters, another CRS, ``as_of``, text that is not a plain number, an answer
large enough to be compressed) goes on to the route unchanged, so every rule and error (401
for a bad key) stays where it is defined.  The single lookup has no throttle (``api.
throttle`` limits the expensive families only), keyed or not.

Per boundary version and role the answer of each grid is rendered once (redacted as for that
role, as the route does) around its point: the request only writes its point in.  A point
outside every grid likewise, per nearest grid and covering region: the request writes its
distance and point in.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import numpy as np
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.compression import MINIMUM_SIZE
from api.cors import HEADERS as CORS_HEADERS
from api.deps import services
from api.security_headers import EVERY_ANSWER
from gis.access.auth import KeyCache, key_hash
from gis.access.privacy import redact
from gis.query.lookup_answers import render_answers

PATH = "/api/v1/lookup"
_NUMBER = rb"-?\d{1,3}(?:\.\d{1,17})?"
_QUERY = re.compile(
    rb"(?:lon=(?P<lon>" + _NUMBER + rb")&lat=(?P<lat>" + _NUMBER + rb")"
    rb"|lat=(?P<lat2>" + _NUMBER + rb")&lon=(?P<lon2>" + _NUMBER + rb"))(?:&crs=wgs84)?"
)
MAX_RENDERED = 100_000
"""Grids whose rendered answer is kept (per process); beyond it the cache starts again."""
_POINT = "\x00point\x00"
_DISTANCE = "\x00distance\x00"
_ANONYMOUS = "anonymous"
"""The caller of a request without a key (the fast path's own word: no role, no key)."""
_REFUSED = None


def _dumps(content: Any) -> str:
    """JSON as ``JSONResponse`` renders it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


_POINT_JSON, _DISTANCE_JSON = _dumps(_POINT), _dumps(_DISTANCE)
"""The placeholders as an answer's JSON writes them (replaced in each template)."""


Rendered = tuple[int | None, int, int | None, str | None]


class FastLookup:
    """ASGI middleware: single-point lookups in WGS84, anonymous or by a known key,
    answered directly."""

    def __init__(self, app: ASGIApp, root: Any) -> None:
        self.app = app
        self.root = root  # the FastAPI app, whose state holds the services
        self.rendered: dict[Rendered, bytes] = {}
        """Per (version, grid, None, role) for a covered point, (version, nearest grid,
        covering region or -1, role) for one outside every grid: the answer as a template
        of ``%`` formatting, what varies left as ``%r``."""
        self.keys: KeyCache | None = None
        self._reads: set[asyncio.Task[Any]] = set()  # keys read again in the background

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "GET"
            and (found := _QUERY.fullmatch(scope["query_string"]))
        ):
            lon, written_lon = _coordinate(found["lon"] or found["lon2"])
            lat, written_lat = _coordinate(found["lat"] or found["lat2"])
            body = None
            # a failure here comes before anything is sent: the route meets it again (the
            # database away while an index builds…) and answers it as every error (503 …)
            try:
                role = await self._role(scope["headers"])
                if role is not _REFUSED and abs(lon) <= 180 and abs(lat) <= 90:
                    body = await self._answer(
                        lon, lat, None if role == _ANONYMOUS else role, (written_lon, written_lat)
                    )
            except Exception:  # the route meets it again and answers it
                body = None
            if body is not None:
                await _send_json(send, body)
                return
        await self.app(scope, receive, send)

    async def _role(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """The caller's role, :data:`_ANONYMOUS` without a key; None (:data:`_REFUSED`) when
        the route must see the request: a cookie (a session, ``api.deps``), more than one
        ``Authorization``, another scheme, a key this process does not hold as usable."""
        sent = [(name, value) for name, value in headers if name in (b"authorization", b"cookie")]
        if not sent:
            return _ANONYMOUS
        if len(sent) > 1 or sent[0][0] == b"cookie":
            return _REFUSED
        scheme, key = get_authorization_scheme_param(sent[0][1].decode("latin-1"))
        if scheme.lower() != "bearer" or not key:
            return _REFUSED
        if self.keys is None:
            self.keys = KeyCache(services(self.root).engine)
        digest = key_hash(key)
        principal = self.keys.cached(digest)
        if principal is None:  # first use here, or voided: read now (refused: the route)
            principal = await run_in_threadpool(self.keys.check, digest)
        elif self.keys.due(digest):  # its last use written, off the request path
            read = asyncio.create_task(run_in_threadpool(self.keys.check, digest))
            self._reads.add(read)
            read.add_done_callback(_finished(self._reads))
        return principal.role if principal is not None else _REFUSED

    async def _answer(
        self, lon: float, lat: float, role: str | None, written: tuple[float, float]
    ) -> bytes | None:
        """The answer's body for the point as ``role`` (None: anonymous) sees it, the point
        ``written`` (:func:`_coordinate`); None when the route must answer."""
        index = await services(self.root).lookup.index()
        if index.cells is None:  # no grids, or PostGIS while the index is built: the route
            return None  # answers (off the event loop)
        # the covering grid as ``GridIndex.locate`` finds it first, else the nearest; the
        # numbers as JSON writes them (``float.__repr__``)
        grid = index.cells.covering_point(lon, lat)
        varies: tuple[float, ...] = written
        key: Rendered = (index.version, grid, None, role)
        outside = None
        if grid < 0:
            outside = nearest, metres, area = index.outside_point(lon, lat)
            key = (index.version, nearest, area, role)
            varies = (round(metres, 2), *varies)
        template = self.rendered.get(key)
        if template is None:
            template = _render(index, lon, lat, role, grid, outside)
            if len(self.rendered) >= MAX_RENDERED:
                self.rendered.clear()
            self.rendered[key] = template
        body = template % varies
        return body if len(body) < MINIMUM_SIZE else None  # else the route's is compressed


def _coordinate(text: bytes) -> tuple[float, float]:
    """A coordinate of the query and its value as the answer writes it, ``round(value, 9)``
    (``gis.query.lookup_answers``): the value itself when the text has at most 9 decimals —
    a decimal of 9 places is its own rounding (the double nearest it is within 1e-13 of it,
    never near a tie) — which saves ``round``'s ~0.35 µs twice a request."""
    value = float(text)
    return value, value if len(text) - text.find(b".") <= 10 else round(value, 9)


def _finished(reads: set[asyncio.Task[Any]]) -> Any:
    """A done-callback: forget a background read of a key (a failure is met again by the
    next read: the entry stays due)."""

    def done(task: asyncio.Task[Any]) -> None:
        reads.discard(task)
        if not task.cancelled():
            task.exception()

    return done


async def _send_json(send: Send, body: bytes) -> None:
    """A 200 JSON answer with the headers the route's answer carries."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                *CORS_HEADERS,  # the lookup is open to other origins (api.cors)
                *EVERY_ANSWER,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _render(
    index: Any,
    lon: float,
    lat: float,
    role: str | None,
    grid: int,
    outside: tuple[int, float, int] | None,
) -> bytes:
    """The answer for a point as ``role`` sees it as a template of ``%`` formatting (its own
    ``%`` doubled): outside every grid ``%r`` for the distance, then ``%r`` twice for the
    point's lon and lat (``%r`` writes a float as ``float.__repr__``, as JSON does) — the
    same for every point of a grid, or with the same nearest grid and covering region (the
    index's own answer, so the route's: its covering ``grid`` or ``outside_point``'s)."""
    found = index.found_point(grid, outside)
    (answer,) = render_answers(index.version, np.array([lon]), np.array([lat]), [found])
    answer = {**redact(answer, role), "point": _POINT}
    if answer["nearest"] is not None:
        answer["nearest"] = {**answer["nearest"], "distance_m": _DISTANCE}
    text = _dumps(answer).replace("%", "%%")
    text = text.replace(_DISTANCE_JSON, "%r").replace(_POINT_JSON, '{"lon":%r,"lat":%r}')
    return text.encode()
