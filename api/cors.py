"""Cross-origin reads of the public read-only services: vector tiles, OGC API Features and
the point/address lookup.

Maps and feature clients on other origins (a MapLibre page, OpenLayers, a browser-based
QGIS-like client) read ``/tiles/…`` and ``/ogc/…``; the address box of an exported map page,
opened from ``file://``, asks ``GET /api/v1/lookup`` (that path only: not the batch lookup
below it) and, on an AMap page, ``GET /maps/point`` where to mark the point.  Every answer
there — errors too, so a page on another origin sees ``404 layer_not_found`` rather than an
opaque CORS failure — carries ``Access-Control-Allow-Origin: *`` (all but a 500 from an
unexpected failure, which Starlette answers outside the app's middleware); preflight requests
(``OPTIONS`` with ``Access-Control-Request-Method``) are answered for GET and HEAD.  Nothing
else of the API is opened to other origins.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC_PREFIXES = ("/tiles", "/ogc")
PUBLIC_PATHS = ("/api/v1/lookup", "/maps/point")
"""Single read-only paths opened to other origins (nothing below them)."""
EXPOSED = "ETag, X-Boundary-Version, X-Tile-Cache"
HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", EXPOSED.encode()),
]
PREFLIGHT_MAX_AGE = 86400


class PublicCORS:
    """ASGI middleware: CORS headers on every answer under ``prefixes`` and at ``paths``."""

    def __init__(
        self,
        app: ASGIApp,
        prefixes: tuple[str, ...] = PUBLIC_PREFIXES,
        paths: tuple[str, ...] = PUBLIC_PATHS,
    ) -> None:
        self.app = app
        self.roots = frozenset(prefixes) | frozenset(paths)
        self.below = tuple(p + "/" for p in prefixes)

    def public(self, path: str) -> bool:
        """True for a prefix itself, the paths below it (not ``/tilesx``) and ``paths``."""
        return path.startswith(self.below) or path in self.roots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.public(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method"):
            await _preflight(scope, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_cors)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _preflight(scope: Scope, send: Send) -> None:
    """204 allowing GET and HEAD with whatever request headers were asked for."""
    asked = _header(scope, b"access-control-request-headers")
    headers = [
        *HEADERS,
        (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
        (b"access-control-max-age", str(PREFLIGHT_MAX_AGE).encode()),
        (b"vary", b"Access-Control-Request-Headers"),
    ]
    if asked:
        headers.append((b"access-control-allow-headers", asked))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
