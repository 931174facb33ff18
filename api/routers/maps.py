"""Map pages for planners and GIS staff (zh-CN, no network needed).

A city or region page inlines its regions as GeoJSON in a Folium page while they are few
(``gis.web.page_data.INLINE_MAX_REGIONS``); above that the same address answers the MapLibre
page drawing them from gridmap's vector tiles, opened on the region (WebGL draws 100 000
polygons a frame, where Leaflet's SVG or canvas would redraw them on every pan)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from folium import Map
from sqlalchemy import Connection

from api.deps import CallerDep, ConnectionDep, Id, SettingsDep, by_address, require, role_of
from api.pages import templates
from api.security_headers import allow_eval
from api.text import Code
from gis.access.auth import Principal
from gis.settings import Settings
from gis.store.versions import current_version
from gis.web import page, page_data, region_page, upload_page
from gis.web.styles import HIGHLIGHT
from tiles.viewer import MAPLIBRE_CSS, MAPLIBRE_JS, viewer_config

router = APIRouter(tags=["maps"])

BasemapQuery = Annotated[
    page.Basemap | None,
    Query(
        pattern=r"^[a-z][a-z0-9_-]{0,39}$",
        description="An office base map (GET /api/v1/basemaps; default: the first, else none), "
        "none, osm, tianditu (needs GRIDMAP_TIANDITU_KEY) or amap",
    ),
]
ColourQuery = Annotated[
    page.ColourBy, Query(description="Grid colours: households against the band, or coverage")
]


def _page(request: Request, settings: Settings, m: Map) -> HTMLResponse:
    allow_eval(request)  # the measuring control compiles its templates
    nonce = request.state.csp_nonce
    return HTMLResponse(page.page_html(m, settings, inline=False, nonce=nonce))


def _region_page(
    request: Request,
    settings: Settings,
    conn: Connection,
    region: str | None,
    options: page.MapOptions,
) -> HTMLResponse:
    """The Folium page of ``region`` (None: every top-level region) when it fits inline, else
    the vector-tile page opened on it (its grids' details fetched per click, by role)."""
    tops = region_page.page_tops(conn, region)
    if page_data.fits_inline(conn, tops):
        return _page(request, settings, region_page.region_map(conn, settings, region, options))
    view = page_data.focus(conn, tops)
    config = viewer_config(
        settings, bounds=view["bounds"], version=current_version(conn), as_of=None
    )
    config |= {
        "regions": view["regions"],
        "basemap": options.basemap,
        "colourBy": options.colour_by,
        "highlight": HIGHLIGHT,
        "gridMinZoom": page_data.VECTOR_GRID_MIN_ZOOM,
    }
    context = {"config": config, "maplibre_js": MAPLIBRE_JS, "maplibre_css": MAPLIBRE_CSS}
    return templates.TemplateResponse(request, "vector.html", context)


@router.get(
    "/maps",
    response_class=HTMLResponse,
    summary="Map of the whole city",
    dependencies=[Depends(by_address("maps"))],
)
def city_map(
    request: Request,
    settings: SettingsDep,
    conn: ConnectionDep,
    caller: CallerDep,
    basemap: BasemapQuery = None,
    colour_by: ColourQuery = "households",
) -> HTMLResponse:
    """Every region, centre and camera on one page (grid workers as the reader's role may
    see them: none for anonymous readers, masked for viewers)."""
    options = page.map_options(conn, basemap, colour_by=colour_by, role=role_of(caller))
    return _region_page(request, settings, conn, None, options)


@router.get(
    "/maps/region/{code}",
    response_class=HTMLResponse,
    summary="Map of a region",
    dependencies=[Depends(by_address("maps"))],
)
def region_map(
    request: Request,
    settings: SettingsDep,
    conn: ConnectionDep,
    caller: CallerDep,
    code: Code,
    basemap: BasemapQuery = None,
    colour_by: ColourQuery = "households",
) -> HTMLResponse:
    """A county, street, community or grid with everything below it; one with nothing below
    it is shown with its parent and neighbours."""
    options = page.map_options(conn, basemap, colour_by=colour_by, role=role_of(caller))
    return _region_page(request, settings, conn, code, options)


@router.get("/maps/uploads/{upload_id}", response_class=HTMLResponse, summary="Upload review")
def upload_map(
    request: Request,
    settings: SettingsDep,
    conn: ConnectionDep,
    upload_id: Id,
    _viewer: Annotated[Principal, Depends(require("viewer"))],
    basemap: BasemapQuery = None,
) -> HTMLResponse:
    """An upload for review: the file's regions coloured by what it does to each (added,
    modified, unchanged), the regions it removes and its validation problems, over the stored
    regions around them (viewer: ``Authorization: Bearer``, or the session a browser tab
    gets by opening the page once with ``?key=``)."""
    options = page.map_options(conn, basemap)
    return _page(request, settings, upload_page.upload_map(conn, settings, upload_id, options))


@router.get(page.POINT_URL, summary="Where a WGS84 point is drawn on a base map")
def drawn_point(
    lon: Annotated[float, Query(ge=-180, le=180, description="WGS84 longitude")],
    lat: Annotated[float, Query(ge=-90, le=90, description="WGS84 latitude")],
    basemap: BasemapQuery = "none",
) -> JSONResponse:
    """``{"lon", "lat", "crs"}``: where a map page over ``basemap`` draws the WGS84 point — shifted
    to GCJ-02 on AMap, as it is otherwise.  The address box of a page (served, or exported
    and opened from ``file://``) asks it where to mark the point it looked up."""
    x, y, crs = page.drawn_point(lon, lat, basemap or "none")
    return JSONResponse({"lon": x, "lat": y, "crs": crs})
