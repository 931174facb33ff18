"""Printed maps: the sheet page ``/maps/print`` and its PDF or PNG, ``/api/v1/print``
(``gis.web.print_page`` says what a sheet holds and how it is printed).

The server prints by opening its own sheet page in headless Chromium, reached over plain
HTTP at the address the request came in on — the socket's, never the ``Host`` header — or,
on a Unix socket, at ``GRIDMAP_PUBLIC_URL`` (TLS belongs to the proxy in front).  One
print at a time per worker (a browser takes a core and ~200 MB): a second one meanwhile is
429 ``print_busy`` with ``Retry-After``.
"""

from __future__ import annotations

import threading
from datetime import date
from typing import Annotated
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator, StringConstraints

from api.deps import ConnectionDep, SettingsDep, by_address, throttle_analysis
from api.pages import templates
from api.text import no_nul
from gis.errors import RateLimited, Unavailable
from gis.store.versions import current_version
from gis.web.print_page import (
    DEFAULT_DPI,
    MAX_DPI,
    MAX_TITLE,
    MAX_VIEW,
    MIN_DPI,
    Format,
    Orientation,
    Paper,
    Sheet,
    check_view,
    file_name,
    render,
)

router = APIRouter(tags=["maps"])

BUSY_RETRY_S = 15
"""What a refused print is told to wait: about one print's time."""
_one_print = threading.BoundedSemaphore(1)

View = Annotated[
    str,
    Query(
        max_length=MAX_VIEW,
        description="The map page to print, a path of this site: /maps, "
        "/maps/region/{code} or /maps/vector, with their own parameters "
        "(basemap, colour_by; as_of for the vector map)",
    ),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE),
    AfterValidator(no_nul),
    Query(description="The sheet's title"),
]
PaperQuery = Annotated[Paper, Query(description="Paper size (ISO 216)")]
OrientationQuery = Annotated[Orientation, Query(description="portrait or landscape")]


def _version(conn: ConnectionDep, view: str) -> int | None:
    """The boundary version the view shows: its ``as_of``, else the current one."""
    as_of = parse_qs(urlsplit(view).query).get("as_of")
    return int(as_of[0]) if as_of else current_version(conn)


@router.get(
    "/maps/print",
    response_class=HTMLResponse,
    summary="A map view on a sheet of paper (the page printed)",
    dependencies=[Depends(by_address("maps"))],
)
def print_sheet(
    request: Request,
    conn: ConnectionDep,
    view: View = "/maps",
    title: Title = "网格地图",
    paper: PaperQuery = "A4",
    orientation: OrientationQuery = "landscape",
) -> Response:
    """The sheet (A4/A3 exactly, CSS ``@page``): the title, the view (as an anonymous reader
    sees it), its legend, scale bar, a north arrow, the date, the boundary version and the
    data source.  Printing it from a browser gives the same page as ``/api/v1/print``."""
    view = check_view(view)
    sheet = Sheet(paper, orientation)
    width, height = sheet.mm
    context = {
        "title": title,
        "view": view,
        "paper": paper,
        "orientation": orientation,
        "width_mm": width,
        "height_mm": height,
        "version": _version(conn, view),
        "printed": f"{date.today():%Y年%-m月%-d日}",
    }
    return templates.TemplateResponse(request, "print.html", context)


@router.get(
    "/api/v1/print",
    summary="Print a map view as PDF or PNG",
    dependencies=[Depends(throttle_analysis)],
    responses={
        200: {"content": {"application/pdf": {}, "image/png": {}}},
        504: {"description": "The print did not finish in time (print_timeout)."},
    },
)
def print_map(
    request: Request,
    conn: ConnectionDep,
    settings: SettingsDep,
    view: View = "/maps",
    title: Title = "网格地图",
    paper: PaperQuery = "A4",
    orientation: OrientationQuery = "landscape",
    format: Annotated[Format, Query(description="pdf (vector, fonts embedded) or png")] = "pdf",
    dpi: Annotated[
        int, Query(ge=MIN_DPI, le=MAX_DPI, description="Resolution of a PNG, dots per inch")
    ] = DEFAULT_DPI,
) -> Response:
    """The sheet of ``/maps/print`` rendered server-side by headless Chromium, as a file to
    download (its name the title).  The map shows no personal data: the printing browser is
    anonymous.  Viewer role; throttled like analyses; one print at a time per worker (429
    ``print_busy``), at most 30 s (504 ``print_timeout``)."""
    view = check_view(view)
    sheet = Sheet(paper, orientation)
    version = _version(conn, view)
    conn.close()  # the print takes seconds: its page reads through its own connections
    path = "/maps/print?" + urlencode(
        {"view": view, "title": title, "paper": paper, "orientation": orientation}
    )
    if not _one_print.acquire(blocking=False):
        raise RateLimited(
            f"正在打印另一张地图，请 {BUSY_RETRY_S} 秒后重试 "
            f"(another map is being printed; retry in {BUSY_RETRY_S} s)",
            code="print_busy",
            retry_after=BUSY_RETRY_S,
        )
    try:
        body = render(_origin(request, settings.public_url), path, sheet, format, dpi)
    finally:
        _one_print.release()
    name = file_name(title, format)
    return Response(
        body,
        media_type="application/pdf" if format == "pdf" else "image/png",
        headers={
            "Content-Disposition": f'attachment; filename="map.{format}"; '
            f"filename*=UTF-8''{quote(name)}",
            "Cache-Control": "no-store",
            "X-Gridmap-Version": str(version or 0),
        },
    )


def _origin(request: Request, public_url: str | None) -> str:
    """Where this server reaches itself: the socket the request came in on, else (a Unix
    socket) the configured public URL; never the Host header, which a client writes."""
    server = request.scope.get("server")
    if server and server[1] is not None:
        host, port = server
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"
    if public_url:
        return public_url.rstrip("/")
    raise Unavailable(
        "服务器无法访问自身地址，不能打印 (the server cannot reach itself to print; set "
        "GRIDMAP_PUBLIC_URL)",
        code="print_failed",
    )
