"""Security headers: a Content-Security-Policy on every HTML page, as defence in depth.

User text is escaped wherever a page shows it (tests/browser/test_xss.py); should an escape ever be
missed, the policy keeps the browser from running it: scripts only from gridmap itself or
carrying the response's nonce (``request.state.csp_nonce``, fresh for each request, put by
the page's renderer on the inline scripts it wrote), no inline event handlers or
``javascript:`` URLs, no plug-ins, no ``<base>``, framed only by gridmap's own pages.  Every
answer also says ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``
(a page's URL never leaves the site in a ``Referer``).
"""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gis.settings import Settings
from gis.web.page import basemap_hosts

EVERY_ANSWER = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
"""The headers every answer carries (raw ASGI form)."""


def content_security_policy(nonce: str, img_hosts: list[str], *, eval_: bool = False) -> str:
    """The policy of an HTML page whose own inline scripts carry ``nonce`` (``eval_``: the
    page's scripts compile strings, see ``allow_eval``)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'", *(["'unsafe-eval'"] if eval_ else [])],
        # Leaflet, Folium's markers and MapLibre position everything with style attributes,
        # Swagger UI and ReDoc inject <style> elements: styles cannot be held to a nonce
        "style-src": ["'self'", "'unsafe-inline'"],
        # the base maps a map page offers (OSM, Tianditu, AMap) load their tiles as images
        "img-src": ["'self'", "data:", "blob:", *img_hosts],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],  # MapLibre GL JS starts its workers from a blob
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def allow_eval(request: Request) -> None:
    """Let this page's scripts compile strings (``'unsafe-eval'``): the Folium map pages'
    measuring control (leaflet-measure) builds its HTML with lodash templates, which compile
    with ``new Function``.  Inline scripts and event handlers stay forbidden."""
    request.state.csp_eval = True


class SecurityHeaders:
    """ASGI middleware: a nonce for each request, the headers on each answer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.img_hosts = basemap_hosts(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in EVERY_ANSWER:
                    headers.setdefault(name.decode(), value.decode())
                if headers.get("content-type", "").startswith("text/html"):
                    eval_ = bool(scope["state"].get("csp_eval"))
                    policy = content_security_policy(nonce, self.img_hosts, eval_=eval_)
                    headers["Content-Security-Policy"] = policy
            await send(message)

        await self.app(scope, receive, send_with_headers)
