"""Office base maps (``gridmap basemap add``): their tiles, TileJSON and the list pages
choose from.

A tile URL carries the file's hash (``?v=``): asked with the current hash, the answer is
kept a year (``immutable``); without it, ``tile_max_age_s`` and an ETag.  A tile the file
does not hold is 204, an unknown base map 404 — never 500.
"""

from __future__ import annotations

import gzip
import sqlite3
import time
import zlib
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.responses import Response

from api.deps import EngineDep, SettingsDep
from gis.errors import NotFound
from gis.store.basemaps import Basemap, list_basemaps
from gis.web.page import BASEMAP_NAMES, online_choices
from tiles import http
from tiles.basemaps import MEDIA_TYPES, lookup, read_tile

router = APIRouter(tags=["basemaps"])

REGISTRY_TTL_S = 5.0
"""How long a worker trusts what it read of the registry before serving a tile: a tile
costs no database query, and a removed or replaced base map is gone within seconds."""


def _registered(request: Request, engine: Engine, name: str) -> Basemap:
    """The base map ``name`` as this app read it at most ``REGISTRY_TTL_S`` ago."""
    state = request.app.state
    if not hasattr(state, "basemaps"):
        state.basemaps = {}
    registry: dict[str, tuple[float, Basemap]] = state.basemaps
    now = time.monotonic()
    cached = registry.get(name)
    if cached is None or now - cached[0] > REGISTRY_TTL_S:
        cached = registry[name] = (now, lookup(engine, name))
    return cached[1]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("/api/v1/basemaps", summary="The base maps pages offer")
def basemaps(request: Request, engine: EngineDep, settings: SettingsDep) -> JSONResponse:
    """``basemaps``: every office base map (name, title, format, tile type, raster or not,
    zooms, bounds, attribution, tile URL template, TileJSON), the first one a page's
    default; ``online``: the internet base maps pages may offer (Tianditu when its key is
    set, OpenStreetMap, AMap — useless on an intranet)."""
    with engine.connect() as conn:
        office = list_basemaps(conn)
    base = _base(request)
    return JSONResponse(
        {
            "basemaps": [b.describe(base) for b in office],
            "online": online_choices(settings),
            "none": BASEMAP_NAMES["none"],
        },
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/basemaps/{name}.json", summary="TileJSON 3.0 of an office base map")
def basemap_tilejson(name: str, request: Request, engine: EngineDep) -> JSONResponse:
    """The base map's TileJSON: tile URL, zooms, bounds, centre, attribution (and the
    vector layers of a vector one).  404 ``basemap_not_found``."""
    b = lookup(engine, name)
    west, south, east, north = b.bounds
    content = {
        "tilejson": "3.0.0",
        "name": b.title,
        "scheme": "xyz",
        "tiles": [b.tile_url(_base(request))],
        "minzoom": b.min_zoom,
        "maxzoom": b.max_zoom,
        "bounds": b.bounds,
        "center": [(west + east) / 2, (south + north) / 2, b.min_zoom],
        "attribution": b.attribution,
        "format": b.tile_type,
        "vector_layers": [{"id": layer, "fields": {}} for layer in b.vector_layers],
    }
    return JSONResponse(content, headers={"Cache-Control": "no-cache"})


@router.get(
    "/basemaps/{name}/{z}/{x}/{y}",
    summary="A tile of an office base map",
    response_class=Response,
    responses={
        200: {"content": {t: {} for t in MEDIA_TYPES.values()}, "description": "The tile."},
        204: {"description": "The file holds no such tile."},
        304: {"description": "Not modified (If-None-Match)."},
    },
)
def basemap_tile(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    name: str,
    z: Annotated[int, Path(ge=0, le=30)],
    x: Annotated[int, Path(ge=0)],
    y: Annotated[int, Path(ge=0)],
    v: Annotated[str | None, Query(max_length=64, description="The file's hash")] = None,
) -> Response:
    """Tile z/x/y (XYZ) as the file holds it, with its media type; a gzipped vector tile
    with ``Content-Encoding: gzip`` (unzipped for a client that does not accept gzip)."""
    b = _registered(request, engine, name)
    current = v is not None and b.sha256.startswith(v) and len(v) >= 16
    headers = {"Cache-Control": http.cache_control(current, settings.tile_max_age_s)}
    try:
        data = read_tile(settings, b, z, x, y)
        gzipped = b.tile_type == "pbf" and data is not None and data[:2] == b"\x1f\x8b"
        if gzipped and not http.accepts_gzip(request.headers.get("accept-encoding")):
            data, gzipped = gzip.decompress(data), False
    except (OSError, EOFError, sqlite3.Error, zlib.error):
        raise NotFound(
            f"底图 {name} 的文件在本服务器上缺失或损坏 (base map {name!r}: its file is missing "
            "or broken on this server; add it again)",
            code="basemap_file_unreadable",
        ) from None
    if not data:
        return Response(status_code=204, headers=headers)
    digest = f"{b.sha256[:16]}-{z}-{x}-{y}"
    headers["ETag"] = f'"{digest}-gzip"' if gzipped else f'"{digest}"'
    if b.tile_type == "pbf":
        headers["Vary"] = "Accept-Encoding"
    if http.etag_matches(request.headers.get("if-none-match"), digest):
        return Response(status_code=304, headers=headers)
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return Response(bytes(data), media_type=MEDIA_TYPES[b.tile_type], headers=headers)
