"""gzip for the large answers: map pages, GeoJSON, OGC feature pages, reports, scripts.

A city's ``/maps`` page is ~1.4 MB of HTML and ~0.3 MB gzipped; a page of 1 000 OGC features
or a coverage report compress as well.  Starlette's ``GZipMiddleware`` does it for every answer
of at least ``MINIMUM_SIZE`` bytes whose client accepts gzip — except under ``/tiles`` (tiles
are gzipped once, when made: ``tiles.http``) and the lookup (short answers on the busiest
route, where the wrapping would only cost time).
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

UNCOMPRESSED = ("/tiles", "/api/v1/lookup")
MINIMUM_SIZE = 1024
LEVEL = 6
"""zlib's default: most of level 9's saving (within a few per cent) at a third of its time."""


class CompressLarge:
    """ASGI middleware: ``GZipMiddleware`` for every path but ``skip`` and below."""

    def __init__(self, app: ASGIApp, skip: tuple[str, ...] = UNCOMPRESSED) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=MINIMUM_SIZE, compresslevel=LEVEL)
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.skip):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)
