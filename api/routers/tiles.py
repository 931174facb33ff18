"""Vector tiles (Mapbox Vector Tile), TileJSON, the layer catalogue and a MapLibre page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from tiles import http
from tiles.layers import MEDIA_TYPE
from tiles.service import TileService
from tiles.viewer import viewer_html


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs inside the app's lifespan: its engine and version watch exist."""
    app.state.tiles = TileService(app.state.engine, app.state.watch, app.state.settings)
    yield


router = APIRouter(tags=["tiles"], lifespan=lifespan)

AsOf = Annotated[
    int | None,
    Query(ge=1, description="Boundary version to draw (boundary layers); default the current."),
]
CacheQuery = Annotated[
    Literal["on", "off"],
    Query(description="off: make the tile afresh and leave the tile cache alone."),
]


def _service(request: Request) -> TileService:
    return request.app.state.tiles


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="A vector tile",
    response_class=Response,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "The tile (gzipped if accepted)."},
        204: {"description": "Nothing in this tile."},
        304: {"description": "Not modified (If-None-Match)."},
    },
)
async def get_tile(
    layer: str,
    z: str,
    x: str,
    y: str,
    request: Request,
    as_of: AsOf = None,
    cache: CacheQuery = "on",
) -> Response:
    """Tile z/x/y (XYZ, EPSG:3857, extent 4096) of a layer: grids, communities, streets,
    counties (of ``as_of`` or the current boundary version), centres, centre_areas, cameras,
    camera_sectors.  400 ``invalid_tile``, 404 ``layer_not_found`` / ``version_not_found``."""
    service = _service(request)
    answer = await service.tile(layer, z, x, y, as_of=as_of, use_cache=cache == "on")
    return http.tile_response(answer, request.headers, service.settings.tile_max_age_s)


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0 of a layer")
async def get_tilejson(layer: str, request: Request, as_of: AsOf = None) -> JSONResponse:
    """The layer's TileJSON: tile URL template, zooms, bounds and centre of its data, fields."""
    service = _service(request)
    content = await service.tilejson(layer, _base(request), as_of)
    return http.json_response(
        content, immutable=as_of is not None, max_age=service.settings.tile_max_age_s
    )


@router.get("/tiles", summary="The tile layers")
async def list_tile_layers(request: Request) -> JSONResponse:
    """Every tile layer with its TileJSON and tile URL template."""
    service = _service(request)
    content = service.catalogue(_base(request))
    return http.json_response(content, immutable=False, max_age=service.settings.tile_max_age_s)


@router.get("/maps/vector", response_class=HTMLResponse, summary="MapLibre map of the tiles")
async def vector_map(request: Request, as_of: AsOf = None) -> HTMLResponse:
    """Every tile layer in MapLibre GL JS, no base map (zh-CN)."""
    service = _service(request)
    _, version, box = await service.bounds("grids", as_of)
    if box is None:
        _, _, box = await service.bounds("counties", as_of)
    bounds = list(box) if box is not None else [73.5, 18.0, 135.1, 53.6]  # China
    return HTMLResponse(viewer_html(service.settings, bounds=bounds, version=version, as_of=as_of))
