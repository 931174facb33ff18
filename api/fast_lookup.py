"""The busiest request, answered before the framework: ``GET /api/v1/lookup?lon=&lat=``.

A hotline system asks "which grid is this point in" thousands of times a second.  The route
(``api.routers.lookup``) answers it through eight middlewares and FastAPI's dependency
resolution: ~300 µs a request here, ten times the lookup itself.  This outermost middleware
answers the common case itself — an anonymous GET with exactly ``lon`` and ``lat`` (and
optionally ``crs=wgs84``), plain decimal numbers within ±180° / ±90° — from the same index
(``LookupService.index``), with the same JSON and the same headers; anything else (a key or
a session, other parameters, another CRS, ``as_of``, text that is not a plain number, an
answer large enough to be compressed) goes on to the route unchanged, so every rule and
error stays where it is defined.

Per boundary version the anonymous answer of each grid is rendered once (redacted as for an
anonymous caller) around its point: the request only writes its point in.  A point outside
every grid likewise, per nearest grid and covering region: the request writes its distance
and point in.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from typing import Any

import numpy as np
from starlette.types import ASGIApp, Receive, Scope, Send

from api.compression import MINIMUM_SIZE
from api.cors import HEADERS as CORS_HEADERS
from api.deps import services
from api.security_headers import EVERY_ANSWER
from gis.access.privacy import redact

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


def _dumps(content: Any) -> str:
    """JSON as ``JSONResponse`` renders it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class FastLookup:
    """ASGI middleware: anonymous single-point lookups in WGS84, answered directly."""

    def __init__(self, app: ASGIApp, root: Any) -> None:
        self.app = app
        self.root = root  # the FastAPI app, whose state holds the services
        self.rendered: dict[tuple[int | None, int, int | None], tuple[bytes, ...]] = {}
        """Per (version, grid, None) for a covered point, (version, nearest grid, covering
        region or -1) for one outside every grid: the answer's parts around what varies."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "GET"
            and (found := _QUERY.fullmatch(scope["query_string"]))
            and not any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])
        ):
            lon = float(found["lon"] or found["lon2"])
            lat = float(found["lat"] or found["lat2"])
            body = None
            # a failure here comes before anything is sent: the route meets it again (the
            # database away while an index builds…) and answers it as every error (503 …)
            with suppress(Exception):
                if abs(lon) <= 180 and abs(lat) <= 90:
                    body = await self._answer(lon, lat)
            if body is not None:
                await _send_json(send, body)
                return
        await self.app(scope, receive, send)

    async def _answer(self, lon: float, lat: float) -> bytes | None:
        """The answer's body for the point; None when the route must answer."""
        index = await services(self.root).lookup.index()
        if index.cells is None:  # no grids, or PostGIS while the index is built: the route
            return None  # answers (off the event loop)
        x, y = np.array([lon]), np.array([lat])
        # the covering grid as ``GridIndex.locate`` finds it first, else the nearest
        grid = index.cells.covering_point(lon, lat)
        key: tuple[int | None, int, int | None] = (index.version, grid, None)
        varies = [_dumps({"lon": round(lon, 9), "lat": round(lat, 9)}).encode()]
        if grid < 0:
            nearest, metres = index.nearest_point(lon, lat)
            key = (index.version, nearest, index.area(lon, lat))
            varies.insert(0, _dumps(round(metres, 2)).encode())
        parts = self.rendered.get(key)
        if parts is None:
            parts = _render(index, x, y)
            if len(self.rendered) >= MAX_RENDERED:
                self.rendered.clear()
            self.rendered[key] = parts
        body = b"".join(part for pair in zip(parts, [*varies, b""], strict=True) for part in pair)
        return body if len(body) < MINIMUM_SIZE else None  # else the route's is compressed


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


def _render(index: Any, x: np.ndarray, y: np.ndarray) -> tuple[bytes, ...]:
    """The anonymous answer for a point, split where what varies goes: outside every grid
    the distance, then the point — the same for every point of a grid, or with the same
    nearest grid and covering region (the index's own answer, so the route's)."""
    (answer,) = index.answers(x, y)
    answer = {**redact(answer, None), "point": _POINT}
    if answer["nearest"] is not None:
        answer["nearest"] = {**answer["nearest"], "distance_m": _DISTANCE}
    marks = f"{re.escape(_dumps(_DISTANCE))}|{re.escape(_dumps(_POINT))}"
    return tuple(part.encode() for part in re.split(marks, _dumps(answer)))
