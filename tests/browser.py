"""Real-browser tests: Debian's Chromium driven by Python Playwright, with no internet.

Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (Debian package
``chromium``, installed by ``make bootstrap``; ``GRIDMAP_CHROMIUM`` overrides the path).
Every request a page makes is routed: those to this machine (127.0.0.1, localhost, ::1) go
through, any other is aborted and recorded in ``PageLog.external_requests``, so a test can
assert a page needs nothing from a CDN. The fixtures are in ``browser/conftest.py`` (loaded
by the browser tests alone):

- ``browser`` (module): headless Chromium, a fresh temporary profile;
- ``page_log`` / ``page``: a new context and page per test, guarded, with its ``PageLog``;
- ``watched``: such a page that also records CSP violations (``window.__csp``) and dialogs;
- ``static_server``: a ``StaticSite`` serving a temporary folder on 127.0.0.1;

and in ``conftest.py`` ``app_server``: base URL of the app run by uvicorn
(``support.serve_app``) on the shared demo database.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    Route,
)

CHROMIUM = Path(os.environ.get("GRIDMAP_CHROMIUM", "/usr/bin/chromium"))
"""Debian's Chromium; Playwright's own browsers are never installed."""

LAUNCH_ARGS = [
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers
]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
"""Screenshots (gitignored), kept after the run."""

BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
"""A 1×1 transparent PNG: what tests answer for base-map tiles, which must not leave the machine."""

DRAWN_JS = """() => {
  const map = window[document.querySelector('.folium-map').id];
  const found = {};
  map.eachLayer(l => {
    if (l.feature && l.options && l.options.className) {
      const name = l.options.className.split(' ')[0];
      found[name] = (found[name] || 0) + 1;
    }
  });
  return found;
}"""
"""Drawn GeoJSON features of a Folium page, counted by their first CSS class."""

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class PageLog:
    """What went wrong in a page: each list should stay empty."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    """Requests to any host but this machine (all aborted)."""
    failed_requests: list[str] = field(default_factory=list)
    """Requests to this machine that failed or answered 4xx/5xx."""

    def problems(self) -> dict[str, list[str]]:
        """The non-empty lists, by name: ``assert log.problems() == {}``."""
        names = ("console_errors", "page_errors", "external_requests", "failed_requests")
        return {name: getattr(self, name) for name in names if getattr(self, name)}


def is_local(url: str) -> bool:
    """True for URLs this machine answers (and for data:/blob:/about: URLs)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


def launch(playwright: Playwright) -> Browser:
    """Headless Debian Chromium; Playwright gives it a fresh temporary profile (user-data dir)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run make bootstrap (Debian package chromium)")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )


def guarded_page(browser: Browser, **context_options: Any) -> tuple[BrowserContext, PageLog]:
    """A new context and page whose requests off this machine are aborted and recorded."""
    options = {"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN"}
    context = browser.new_context(service_workers="block", **{**options, **context_options})
    page = context.new_page()
    log = PageLog(page)

    def route(route: Route) -> None:
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            log.external_requests.append(url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location or {}
            url = where.get("url")
            at = f" ({url}:{where.get('lineNumber')})" if url else ""
            log.console_errors.append(message.text + at)

    def failed(request: Request) -> None:
        if is_local(request.url):  # the others are the aborted external requests
            log.failed_requests.append(f"{request.failure} {request.url}")

    def response(response: Response) -> None:
        if response.status >= 400:
            log.failed_requests.append(f"{response.status} {response.url}")

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: log.page_errors.append(f"{error.name}: {error.message}"))
    page.on("requestfailed", failed)
    page.on("response", response)
    return context, log


def screenshot(page: Page, name: str, **options: Any) -> Path:
    """Save a PNG of the page as ``tests/artifacts/<name>.png``; its path. Transitions (a
    popup fading in) are finished first unless ``animations="allow"``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), **{"animations": "disabled", **options})
    return path


def click_map_at(page: Page, lon: float, lat: float) -> None:
    """Centre the page's Folium map on (lon, lat) at zoom 17 and click there once the map has
    settled with a feature under that point (a click on a bare map would open no popup)."""
    x, y = page.evaluate(
        """([lat, lon]) => {
          const map = window[document.querySelector('.folium-map').id];
          map.setView([lat, lon], 17, {animate: false});
          const p = map.latLngToContainerPoint([lat, lon]);
          const box = map.getContainer().getBoundingClientRect();
          return [box.left + p.x, box.top + p.y];
        }""",
        [lat, lon],
    )
    page.wait_for_function(
        "([x, y]) => document.elementFromPoint(x, y)?.matches('path.leaflet-interactive')",
        arg=[x, y],
    )
    page.mouse.click(x, y)


@dataclass
class StaticSite:
    """A folder served over HTTP on 127.0.0.1."""

    root: Path
    base: str

    def publish(self, name: str, content: str | bytes) -> str:
        """Write ``root/name`` (text as UTF-8) and return its URL."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return f"{self.base}/{name}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[StaticSite]:
    """Serve ``root`` on a free port of 127.0.0.1 in a thread, for the duration."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield StaticSite(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def signed_in(
    page: Page, base_url: str, username: str, password: str, next: str = "/workbench"
) -> Page:
    """``page`` signed in as ``username`` through the login form (users from
    ``support.make_user``), on ``next`` (a workbench page by default) once it has loaded."""
    page.goto(f"{base_url}/login?next={next}")
    page.wait_for_load_state("networkidle")  # its icon too: leaving earlier aborts that request
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url(f"{base_url}{next}")
    return page
