"""Absolute links come from the configured public URL, never from a client's Host header.

TileJSON, OGC API pages, the start page and the docs write absolute URLs, and some of these
answers are publicly cacheable: a Host header a client made up must not end up in them.
This middleware (outermost) replaces the request's Host before anything reads it — with the
host of ``GRIDMAP_PUBLIC_URL`` (and its scheme and path prefix) when it is set, else with the
address the connection actually reached (the socket's, as the ASGI server reports it), which
is right for a server used where it runs.  Behind a reverse proxy set the public URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send


class PublicURL:
    """ASGI middleware: the request's scheme, Host and root path as the public URL says."""

    def __init__(self, app: ASGIApp, public_url: str | None) -> None:
        self.app = app
        parts = urlsplit(public_url) if public_url else None
        self.scheme = parts.scheme if parts else None
        self.host = parts.netloc.encode("latin-1") if parts else None
        self.prefix = parts.path.rstrip("/") if parts else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            host = self.host or _socket_host(scope)
            if host is not None:
                scope["headers"] = [
                    (name, value) for name, value in scope["headers"] if name != b"host"
                ] + [(b"host", host)]
            if self.scheme:
                scope["scheme"] = self.scheme
            if self.prefix:
                scope["root_path"] = self.prefix
        await self.app(scope, receive, send)


def _socket_host(scope: Scope) -> bytes | None:
    server = scope.get("server")
    if not server or server[1] is None:
        return None
    host, port = server
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(scope.get("scheme", ""))
    return (host if port == default else f"{host}:{port}").encode("latin-1")
