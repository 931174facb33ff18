"""Map pages for planners and GIS staff (zh-CN, no network needed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import CallerDep, ConnectionDep, Id, by_address, require, role_of
from api.security_headers import allow_eval
from api.text import Code
from gis.access.auth import Principal
from gis.web import maps

router = APIRouter(tags=["maps"])

BasemapQuery = Annotated[
    maps.Basemap,
    Query(description="none (default), osm, tianditu (needs GRIDMAP_TIANDITU_KEY) or amap"),
]
ColourQuery = Annotated[
    maps.ColourBy, Query(description="Grid colours: households against the band, or coverage")
]


def _page(request: Request, m: maps.folium.Map) -> HTMLResponse:
    allow_eval(request)  # the measuring control compiles its templates
    settings, nonce = request.app.state.settings, request.state.csp_nonce
    return HTMLResponse(maps.page_html(m, settings, inline=False, nonce=nonce))


@router.get(
    "/maps",
    response_class=HTMLResponse,
    summary="Map of the whole city",
    dependencies=[Depends(by_address("maps"))],
)
def city_map(
    request: Request,
    conn: ConnectionDep,
    caller: CallerDep,
    basemap: BasemapQuery = "none",
    colour_by: ColourQuery = "households",
) -> HTMLResponse:
    """Every region, centre and camera on one page (grid workers as the reader's role may
    see them: none for anonymous readers, masked for viewers)."""
    options = maps.MapOptions(basemap=basemap, colour_by=colour_by, role=role_of(caller))
    return _page(request, maps.region_map(conn, request.app.state.settings, None, options))


@router.get(
    "/maps/region/{code}",
    response_class=HTMLResponse,
    summary="Map of a region",
    dependencies=[Depends(by_address("maps"))],
)
def region_map(
    request: Request,
    conn: ConnectionDep,
    caller: CallerDep,
    code: Code,
    basemap: BasemapQuery = "none",
    colour_by: ColourQuery = "households",
) -> HTMLResponse:
    """A county, street, community or grid with everything below it; one with nothing below
    it is shown with its parent and neighbours."""
    options = maps.MapOptions(basemap=basemap, colour_by=colour_by, role=role_of(caller))
    return _page(request, maps.region_map(conn, request.app.state.settings, code, options))


@router.get("/maps/uploads/{upload_id}", response_class=HTMLResponse, summary="Upload review")
def upload_map(
    request: Request,
    conn: ConnectionDep,
    upload_id: Id,
    _viewer: Annotated[Principal, Depends(require("viewer"))],
    basemap: BasemapQuery = "none",
) -> HTMLResponse:
    """An upload for review: the file's regions coloured by what it does to each (added,
    modified, unchanged), the regions it removes and its validation problems, over the stored
    regions around them (viewer: ``Authorization: Bearer``, or the session a browser tab
    gets by opening the page once with ``?key=``)."""
    options = maps.MapOptions(basemap=basemap)
    return _page(request, maps.upload_map(conn, request.app.state.settings, upload_id, options))
