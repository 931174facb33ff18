"""Tiles answered before the framework: ``GET /tiles/{layer}/{z}/{x}/{y}.mvt``.

A map asks for dozens of tiles a view, most of them cached: then the tile is ready in memory
and the route's eight middlewares and FastAPI's routing cost more than the rest (issue 16's
goal is ≥ 10 000 cached tiles/s on two cores).  This outer middleware answers the plain case
itself — a GET of a tile URL with no query string — through the same service
(``TileService.tile``) and the same HTTP manners (``tiles.http.tile_response``), with the
headers the middlewares would add (CORS: tiles are open to other origins; the headers of every
answer).  Anything else (``as_of``, ``cache=off``, another method) goes on to the route, and so
does a request the service refuses (an unknown layer, a tile outside the pyramid, the
database away): nothing has been sent then, and the route answers it as every error is
answered.
"""

from __future__ import annotations

import re
from contextlib import suppress
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.cors import HEADERS as CORS_HEADERS
from api.deps import services
from api.security_headers import EVERY_ANSWER
from tiles import http

_PATH = re.compile(r"/tiles/([a-z_]{1,40})/(\d{1,2})/(\d{1,10})/(\d{1,10})\.mvt")


class FastTiles:
    """ASGI middleware: tiles without a query string, answered directly."""

    def __init__(self, app: ASGIApp, root: Any) -> None:
        self.app = app
        self.root = root  # the FastAPI app, whose state holds the services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope["query_string"]
            and (found := _PATH.fullmatch(scope["path"]))
        ):
            response = None
            with suppress(Exception):  # the route meets it again and answers it
                service = services(self.root).tiles
                answer = await service.tile(*found.groups())
                response = http.tile_response(
                    answer, Headers(scope=scope), service.settings.tile_max_age_s
                )
            if response is not None:
                response.raw_headers += [*CORS_HEADERS, *EVERY_ANSWER]
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
