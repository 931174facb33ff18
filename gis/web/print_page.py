"""Printed maps (打印地图): one of gridmap's map views on a sheet of paper, as PDF or PNG.

The sheet is a page of its own (``api/templates/print.html``, ``api/static/print.js``): the
title, the view in a frame (its own base map, colours and Leaflet/MapLibre scale bar; its
controls hidden), the view's legend moved beside it (so the legend stays the one the view
draws from ``gis.web.styles``), a north arrow, the date, the boundary version and the data
source; CSS ``@page`` makes it exactly A4 or A3.  The page sets ``body[data-ready]`` once the
view is drawn (tiles and features), or ``data-failed`` with the reason.

:func:`render` prints it with headless Chromium (Debian's ``/usr/bin/chromium``, driven by
Playwright, imported only when a print is made): the browser may fetch nothing but the
server's own origin, and the whole print must finish within a time limit.  The browser is
anonymous — no cookie, no key — so the print shows personal data (grid workers' names and
phones) as an anonymous reader sees it: not at all (``gis.access.privacy``).  Carrying the
requester's role would mean handing a headless browser a session of theirs; a printed map is
what gets pasted into reports, so it shows none.
"""

from __future__ import annotations

import base64
import re
import struct
import time
import zlib
from dataclasses import dataclass
from typing import Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit

from gis.errors import GridmapError, InvalidInput, RenderTimedOut, Unavailable
from gis.web.page import ColourBy

Paper = Literal["A4", "A3"]
Orientation = Literal["portrait", "landscape"]
Format = Literal["pdf", "png"]

PAPER_MM = {"A4": (210, 297), "A3": (297, 420)}
"""ISO 216 sheet sizes, short side × long side, millimetres."""
CSS_DPI = 96
"""CSS pixels per inch: the sheet laid out at this, a PNG scaled from it."""
MIN_DPI, MAX_DPI, DEFAULT_DPI = 72, 300, 150
"""PNG resolutions offered (300 dpi A3: 4 961 × 3 508 px)."""
MAX_TITLE = 80
"""Longest title taken: one line of the sheet's heading at A4 portrait."""
MAX_VIEW = 300
"""Longest view path taken."""
TIMEOUT_S = 30.0
"""A print's time limit, browser start to file (504 ``print_timeout`` beyond)."""
CHROMIUM = "/usr/bin/chromium"
"""Debian's Chromium (``scripts/bootstrap.sh``); Playwright's own browsers are never used."""
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]

_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,64}")
_FOLIUM = {"basemap": _TOKEN, "colour_by": re.compile("|".join(get_args(ColourBy)))}
VIEWS: dict[re.Pattern[str], dict[str, re.Pattern[str]]] = {
    re.compile(r"/maps"): _FOLIUM,
    re.compile(rf"/maps/region/{_TOKEN.pattern}"): _FOLIUM,
    re.compile(r"/maps/vector"): {"as_of": re.compile(r"[1-9][0-9]{0,8}")},
}
"""The map pages a print may show — path, and the query parameters each takes with the form
of their values (plain tokens: the page itself checks them, e.g. that a base map exists).
Pages an anonymous reader cannot open (an upload's review) are not among them: the printing
browser is anonymous."""


def _invalid_view(view: str, problem: str) -> InvalidInput:
    return InvalidInput(
        f"不能打印这个地图地址: {problem} (view must be one of gridmap's map pages, e.g. /maps, "
        f"/maps/region/130227001, /maps/vector)",
        code="invalid_view",
        details={"view": view[:MAX_VIEW], "problem": problem},
    )


def check_view(view: str) -> str:
    """``view`` as a path of one of :data:`VIEWS` with its query rebuilt, or 422
    ``invalid_view``: no scheme, host, fragment or unknown parameter — the printing browser
    opens only gridmap's own map pages."""
    if len(view) > MAX_VIEW:
        raise _invalid_view(view, f"地址过长 (longer than {MAX_VIEW} characters)")
    if any(c in view for c in "\\\x00\r\n\t ") or view.startswith("//"):
        raise _invalid_view(view, "地址含不允许的字符 (not a plain path)")
    parts = urlsplit(view)
    if parts.scheme or parts.netloc or parts.fragment or not parts.path.startswith("/"):
        raise _invalid_view(view, "只能是本站地图的路径 (a path on this site, no scheme or host)")
    params = next((p for route, p in VIEWS.items() if route.fullmatch(parts.path)), None)
    if params is None:
        raise _invalid_view(view, f"不是地图页面: {parts.path} (not a map page)")
    query = parse_qsl(parts.query, keep_blank_values=True)
    for name, value in query:
        if name not in params or not params[name].fullmatch(value):
            raise _invalid_view(view, f"参数不对: {name}={value} (parameter not taken)")
    if len({name for name, _ in query}) != len(query):
        raise _invalid_view(view, "参数重复 (a parameter given twice)")
    return parts.path + (f"?{urlencode(query)}" if query else "")


@dataclass(frozen=True)
class Sheet:
    """A sheet of paper: its size in millimetres and CSS pixels."""

    paper: Paper
    orientation: Orientation

    @property
    def mm(self) -> tuple[int, int]:
        """Width and height, millimetres."""
        short, long = PAPER_MM[self.paper]
        return (long, short) if self.orientation == "landscape" else (short, long)

    @property
    def css_px(self) -> tuple[float, float]:
        """Width and height in CSS pixels (96 per inch)."""
        return tuple(v / 25.4 * CSS_DPI for v in self.mm)  # type: ignore[return-value]

    def png_px(self, dpi: int) -> tuple[int, int]:
        """Width and height of the PNG at ``dpi``."""
        return tuple(round(v / 25.4 * dpi) for v in self.mm)  # type: ignore[return-value]


def file_name(title: str, fmt: Format) -> str:
    """The download's name: the title without characters a file system refuses."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f\x7f]+', "_", title).strip(" ._") or "地图"
    return f"{stem[:MAX_TITLE]}.{fmt}"


def with_dpi(png: bytes, dpi: int) -> bytes:
    """``png`` saying its resolution (a ``pHYs`` chunk after the header), so a word processor
    pastes it at the paper's size."""
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    end_of_header = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, CRC
    return png[:end_of_header] + chunk + png[end_of_header:]


def render(
    base: str, path: str, sheet: Sheet, fmt: Format, dpi: int, timeout_s: float = TIMEOUT_S
) -> bytes:
    """The print page at ``base + path`` as a PDF (the sheet's page size, fonts embedded —
    Chromium embeds the subsets it uses) or a PNG at ``dpi``.  The browser fetches nothing
    but from ``base``'s origin; 422 ``invalid_view`` when the page says the view failed (its
    ``data-failed``), 504 ``print_timeout`` beyond ``timeout_s``, 503 ``print_failed`` when
    the browser cannot start or crashes."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    deadline = time.monotonic() + timeout_s
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))

    def left_ms() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise PlaywrightTimeout("print deadline")
        return left * 1000

    width, height = sheet.css_px
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=LAUNCH_ARGS, timeout=left_ms()
            )
            try:
                context = browser.new_context(
                    viewport={"width": int(width + 1), "height": int(height + 1)},
                    # the only raster, a WebGL map (the vector map), drawn at 192 dpi
                    device_scale_factor=2,
                    locale="zh-CN",
                    service_workers="block",
                    accept_downloads=False,
                )
                context.route(
                    "**/*",
                    lambda route: (
                        route.continue_()
                        if _same_origin(route.request.url, origin)
                        else route.abort("blockedbyclient")
                    ),
                )
                page = context.new_page()
                page.set_default_timeout(left_ms())
                page.goto(base + path, timeout=left_ms())
                page.wait_for_selector(
                    "body[data-ready], body[data-failed]", state="attached", timeout=left_ms()
                )
                failed = page.get_attribute("body", "data-failed")
                if failed is not None:
                    view = dict(parse_qsl(urlsplit(path).query)).get("view", path)
                    raise InvalidInput(
                        f"要打印的地图未能打开: {failed} (the map page to print did not open)",
                        code="invalid_view",
                        details={"view": view, "problem": failed},
                    )
                page.set_default_timeout(left_ms())
                if fmt == "pdf":
                    return page.pdf(prefer_css_page_size=True, print_background=True)
                # Chromium's own call: Playwright's screenshot rounds the clip to whole CSS
                # pixels (A3 at 300 dpi would lose 2 px); this one draws the sheet at the scale
                clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": dpi / CSS_DPI}
                shot = context.new_cdp_session(page).send(
                    "Page.captureScreenshot", {"format": "png", "clip": clip}
                )
                return with_dpi(base64.b64decode(shot["data"]), dpi)
            finally:
                browser.close()
    except GridmapError:
        raise
    except PlaywrightTimeout as error:
        raise RenderTimedOut(
            f"打印超时（{timeout_s:.0f} 秒内未完成），请缩小范围或稍后重试 "
            f"(the print did not finish within {timeout_s:.0f} s; retry later)",
            code="print_timeout",
        ) from error
    except PlaywrightError as error:  # the browser could not start or crashed
        raise Unavailable(
            "打印失败：浏览器未能完成，请稍后重试 (the print's browser failed; retry shortly)",
            code="print_failed",
            details={"reason": str(error).splitlines()[0][:200]},
        ) from error


def _same_origin(url: str, origin: str) -> bool:
    """True for ``origin``'s URLs (and data:/blob:/about: ones, which fetch nothing)."""
    if url.split(":", 1)[0] in ("data", "blob", "about"):
        return True
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin
