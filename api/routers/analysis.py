"""Analyses for planners: coverage (by radius and by walking), grid standards, siting of new
centres and drafts of new grids."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import CallerDep, ConnectionDep, SettingsDep, role_of, throttle_analysis
from api.responses import GeoJSONResponse
from api.text import Code, LongText
from gis.access.privacy import redact
from gis.analysis import paging, standards
from gis.analysis import report as analysis
from gis.division.divide import Targets
from gis.division.drafts import draft_division
from gis.errors import InvalidInput
from gis.network import coverage as walking_analysis
from gis.store.models import CENTRE_LEVELS

router = APIRouter(
    prefix="/api/v1/analysis",
    tags=["analysis"],
    dependencies=[Depends(throttle_analysis)],
    responses={413: {"description": "The region or problem is too large: the limit in details."}},
)
MAX_RADIUS_M = 5000.0
"""Largest service radius or camera range of a siting request (a 15-minute walk is ~1 km)."""

Region = Annotated[Code, Query(description="Code of a county, street, community or grid")]
Limit = Annotated[
    int,
    Query(ge=1, le=paging.MAX_LIMIT, description="Grids listed on a page (in code order)"),
]
Cursor = Annotated[
    str | None,
    Query(
        max_length=200,
        description="The previous page's page.next_cursor (none: the first page)",
    ),
]


@router.get("/coverage", summary="Coverage by centres or cameras")
def coverage(
    settings: SettingsDep,
    conn: ConnectionDep,
    region: Region,
    layer: Literal["centres", "cameras"] = "centres",
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Households, population and buildings the centres (service radius) or online cameras
    (sectors) cover, per grid and in total; the uncovered buildings; blind-spot polygons with
    their area in m²; grids no centre (camera) reaches; redundant centres; for cameras the
    density per km² and per 1 000 households and, when roads are imported, the share of
    road length they see.  Distances and areas are geodesic (WGS84).

    Paged by grid: ``grids``, ``blind_spots``, ``grids_without_facility`` and ``uncovered``
    list the ``limit`` grids after ``cursor`` (code order) and what lies in them; ``totals``,
    ``facilities`` and ``redundant_centres`` are of the whole region; ``page.next_cursor``
    asks for the next page (none on the last)."""
    page = paging.GridPage(limit, cursor)
    return analysis.coverage(conn, region, layer, settings, page)


WALKING_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"description": "No roads are stored: no walking network (no_road_network)."},
    503: {"description": "The database is unreachable, or has no pgRouting (network_unavailable)."},
}


@router.get(
    "/walking", summary="Coverage by walking to centres (life circles)", responses=WALKING_ERRORS
)
def walking(
    settings: SettingsDep,
    conn: ConnectionDep,
    region: Region,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Households within walking distance of a party-service centre — along the roads, each
    centre its service distance (its radius, else its level's: GB 50180's 300 / 500 / 1 000 m)
    — beside those within the same distance in a straight line, in total and per grid;
    ``radius_only_households``: what the circles claim and the roads do not reach.  The
    buildings walking leaves uncovered are listed with their walk to the nearest centre
    (metres, null when more than twice the longest service distance).  Paged by grid as the
    coverage."""
    page = paging.GridPage(limit, cursor)
    return walking_analysis.walking_coverage(conn, region, settings, page)


@router.get(
    "/walking/areas",
    response_class=GeoJSONResponse,
    summary="Service areas of centres by walking (isochrones)",
    responses=WALKING_ERRORS,
)
def walking_areas(settings: SettingsDep, conn: ConnectionDep, region: Region) -> GeoJSONResponse:
    """Each centre's service area by walking as a GeoJSON feature (EPSG:4326): the roads
    reached within its service distance, widened by ``band_m`` each side; null geometry when
    the centre's own walk to a road is longer than its distance."""
    return GeoJSONResponse(walking_analysis.walking_areas(conn, region, settings))


class DivideRequest(BaseModel):
    """Draw the grids of a community anew (网格划分)."""

    region: Code = Field(description="Code of the community")
    target_households: int = Field(Targets.target, ge=1, le=100_000)
    min_households: int = Field(Targets.low, ge=1, le=100_000)
    max_households: int = Field(Targets.high, ge=1, le=100_000)
    barriers: Literal["roads", "none"] = Field(
        "roads",
        description="Follow the stored roads, rivers and railways (street blocks), or cut by "
        "buildings only",
    )
    keep_codes: bool = Field(
        True, description="A draft that mostly matches a current grid (IoU ≥ 0.5) keeps its code"
    )


@router.post(
    "/divide",
    response_class=GeoJSONResponse,
    summary="Draft grids of a community (automatic division)",
    responses={404: {"description": "No such region (region_not_found)."}},
)
def divide(settings: SettingsDep, conn: ConnectionDep, body: DivideRequest) -> GeoJSONResponse:
    """Draft grids partitioning the community exactly (no gaps, no overlaps at storage
    precision), each one piece, no building split between grids, households within
    ``[min_households, max_households]`` wherever the buildings allow (the ``report`` names
    any grid that cannot, and why), boundaries along the stored roads where they can.  Per
    grid: households, population (estimated from the community's registered population per
    household), buildings, area (m²), compactness (Polsby–Popper), share of its boundary on
    roads, deviation from the target; overall the same in ``report``.  Upload the answer as
    a boundary file to adopt it (its properties are the upload's ``code``, ``name``,
    ``parent_code``); nothing is written here."""
    if not body.min_households <= body.target_households <= body.max_households:
        raise InvalidInput(
            "户数须满足 最小值 ≤ 目标值 ≤ 最大值 (households must satisfy min ≤ target ≤ max)",
            code="invalid_parameter",
            details={"min": body.min_households, "target": body.target_households},
        )
    targets = Targets(body.target_households, body.min_households, body.max_households)
    found = draft_division(
        conn, body.region, targets, settings, barriers=body.barriers, keep=body.keep_codes
    )
    return GeoJSONResponse(found)


@router.get("/grid-standards", summary="Grids that miss the standards")
def grid_standards(
    settings: SettingsDep,
    conn: ConnectionDep,
    caller: CallerDep,
    region: Region,
    limit: Limit = paging.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Grids outside the household band (settings, default 150–500), without a grid worker
    or party branch, with no centre in reach or no camera; counts per community (workers
    masked for viewers: ``gis.access.privacy``).  ``grids`` paged as the coverage's."""
    found = standards.grid_standards(conn, region, settings, paging.GridPage(limit, cursor))
    return redact(found, role_of(caller))


class Candidate(BaseModel):
    """A candidate site."""

    lon: float
    lat: float


class SitingRequest(BaseModel):
    """Where to put ``k`` new centres (or cameras)."""

    region: Code
    k: int = Field(ge=1, le=50, description="How many new sites")
    layer: Literal["centres", "cameras"] = "centres"
    level: Literal[CENTRE_LEVELS] = Field(
        "station", description="Level of the new centres (their default radius)"
    )
    radius_m: float | None = Field(
        None,
        gt=0,
        le=MAX_RADIUS_M,
        description="Service radius of a new centre, or a new camera's range (m)",
    )
    candidates: list[Candidate] | None = Field(
        None, max_length=100_000, description="Candidate sites (default: the buildings)"
    )
    crs: LongText = Field("wgs84", description="CRS of the candidates")
    distance: Literal["radius", "walking"] = Field(
        "radius",
        description="Reach in a straight line, or walked along the roads (centres only; "
        "409 no_road_network without roads)",
    )


@router.post(
    "/siting",
    summary="Where would new centres help most",
    responses={404: {"description": "No such region (region_not_found)."}},
)
def siting(settings: SettingsDep, conn: ConnectionDep, body: SitingRequest) -> dict[str, Any]:
    """Maximal covering: ``k`` sites among the candidates that cover the most households the
    existing centres (or online cameras) leave out; existing ones stay.  Solved by CBC within
    the time bound of the settings (``siting_time_limit_s``); ``optimal: false`` when it
    stopped early, 413 ``siting_too_large`` for too big a problem."""
    return analysis.siting(
        conn,
        body.region,
        k=body.k,
        layer=body.layer,
        level=body.level,
        radius_m=body.radius_m,
        candidates=[(c.lon, c.lat) for c in body.candidates] if body.candidates else None,
        crs=body.crs,
        walking=body.distance == "walking",
        settings=settings,
    )
