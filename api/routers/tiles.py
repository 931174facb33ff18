"""Vector tiles (Mapbox Vector Tile), TileJSON, the layer catalogue and a MapLibre page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from api.deps import AS_OF, MAX_INT, AsOf, TilesDep, services
from api.errors import invalid_parameters
from api.pages import templates
from tiles import http
from tiles.layers import LAYERS, MEDIA_TYPE
from tiles.viewer import MAPLIBRE_CSS, MAPLIBRE_JS, viewer_config

router = APIRouter(tags=["tiles"])


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


TILE_PARAMETERS = [
    *(
        {"name": name, "in": "path", "required": True, "schema": schema}
        for name, schema in (
            ("layer", {"type": "string", "enum": list(LAYERS)}),
            ("z", {"type": "integer", "minimum": 0}),
            ("x", {"type": "integer", "minimum": 0}),
            ("y", {"type": "integer", "minimum": 0}),
        )
    ),
    {
        "name": "as_of",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_INT},
        "description": AS_OF,
    },
    {
        "name": "cache",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["on", "off"], "default": "on"},
        "description": "off: make the tile afresh and leave the tile cache alone.",
    },
]


def _tile_options(request: Request) -> tuple[int | None, bool]:
    """``as_of`` and whether to use the cache, from a tile request's query (422
    ``invalid_parameter`` as FastAPI's own validation would say it)."""
    query = request.query_params
    as_of, cache = query.get("as_of"), query.get("cache", "on")
    problems = []
    if as_of is not None and not (
        as_of.isascii() and as_of.isdigit() and 1 <= int(as_of) <= MAX_INT
    ):
        problems.append(
            {
                "parameter": "as_of",
                "in": "query",
                "problem": f"不是 1 到 {MAX_INT} 的整数 (not an integer from 1 to {MAX_INT})",
            }
        )
    if cache not in ("on", "off"):
        problems.append(
            {"parameter": "cache", "in": "query", "problem": "应为 on 或 off (on or off)"}
        )
    if problems:
        raise invalid_parameters(problems)
    return (None if as_of is None else int(as_of)), cache == "on"


@router.get(
    "/tiles/{layer}/{z}/{x}/{y}.mvt",
    summary="A vector tile",
    response_class=Response,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "The tile (gzipped if accepted)."},
        204: {"description": "Nothing in this tile."},
        304: {"description": "Not modified (If-None-Match)."},
        400: {"description": "No such tile: z above the deepest zoom, x or y beyond 2^z."},
    },
    openapi_extra={"parameters": TILE_PARAMETERS},
)
async def get_tile(request: Request) -> Response:
    """Tile z/x/y (XYZ, EPSG:3857, extent 4096) of a layer: grids, communities, streets,
    counties, labels (of ``as_of`` or the current boundary version), centres, centre_areas,
    cameras, camera_sectors.  400 ``invalid_tile``, 404 ``layer_not_found`` / ``version_not_found``.

    The busiest route: its parameters are read here, not by FastAPI's validation, which
    costs more than the rest of a cached tile (documented in ``TILE_PARAMETERS``)."""
    service = services(request.app).tiles
    as_of, use_cache = _tile_options(request)
    path = request.path_params
    answer = await service.tile(
        path["layer"], path["z"], path["x"], path["y"], as_of=as_of, use_cache=use_cache
    )
    return http.tile_response(answer, request.headers, service.settings.tile_max_age_s)


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0 of a layer")
async def get_tilejson(
    layer: str, request: Request, service: TilesDep, as_of: AsOf = None
) -> JSONResponse:
    """The layer's TileJSON: tile URL template, zooms, bounds and centre of its data, fields."""
    content = await service.tilejson(layer, _base(request), as_of)
    return http.json_response(
        content, immutable=as_of is not None, max_age=service.settings.tile_max_age_s
    )


@router.get("/tiles", summary="The tile layers")
async def list_tile_layers(request: Request, service: TilesDep) -> JSONResponse:
    """Every tile layer with its TileJSON and tile URL template."""
    content = service.catalogue(_base(request))
    return http.json_response(content, immutable=False, max_age=service.settings.tile_max_age_s)


@router.get("/maps/vector", response_class=HTMLResponse, summary="MapLibre map of the tiles")
async def vector_map(request: Request, service: TilesDep, as_of: AsOf = None) -> HTMLResponse:
    """Every tile layer in MapLibre GL JS, no base map (zh-CN)."""
    _, version, box = await service.bounds("grids", as_of)
    if box is None:
        _, _, box = await service.bounds("counties", as_of)
    bounds = list(box) if box is not None else [73.5, 18.0, 135.1, 53.6]  # China
    config = viewer_config(service.settings, bounds=bounds, version=version, as_of=as_of)
    context = {"config": config, "maplibre_js": MAPLIBRE_JS, "maplibre_css": MAPLIBRE_CSS}
    return templates.TemplateResponse(request, "vector.html", context)
