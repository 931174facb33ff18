"""The vector tile layers and the PostGIS queries that build their tiles.

Each tile is made by one SQL statement: ``ST_TileEnvelope(z, x, y)`` in EPSG:3857; rows found
through the GiST index on ``geom`` (``geom && ST_Transform(envelope with a margin, 4326)``);
polygons simplified per zoom (``ST_SimplifyPreserveTopology``, tolerance half a display pixel
of a 512-px tile); ``ST_AsMVTGeom`` (extent 4096, buffer 64, clipped); ``ST_AsMVT`` with only
the attributes a map needs, at most ``tile_max_features`` features per tile.

Service areas and camera sectors are built in PostGIS too, the same shapes as
``gis.geo.geodesy.circle_polygons`` / ``sector_polygons``: their vertices are ``ST_Project`` on
the WGS84 spheroid (GeographicLib's direct geodesic, exact to well under a millimetre), 64
per circle and at most 2° apart along a sector's arc.  The straight edges between vertices
cut inside the true geodesic circle by the sagitta r·(1 − cos(step/2)): 1.2 m for a
1 000 m circle, 0.36 m for 300 m, 0.015 m for a 100 m camera range at 2° — about the
simplification tolerance at zoom 15 (1.2 m), i.e. under a screen pixel up to zoom 16.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from gis.access.privacy import PERSONAL_FIELDS
from gis.errors import GridmapError, NotFound
from gis.settings import Settings

EXTENT = 4096
"""Tile coordinates per tile side (the MVT default)."""
BUFFER = 64
"""Tile coordinates drawn beyond each tile edge, so strokes do not break at the seams."""
MARGIN = 2 * BUFFER / EXTENT
"""Rows are searched this fraction of a tile beyond it (more than the buffer)."""
DISPLAY_PIXELS = 512
"""A tile's width on screen in MapLibre: the simplification tolerance is half a pixel of it."""
WORLD_M = 2 * 20037508.342789244
"""Width of the EPSG:3857 world in its metres."""
CIRCLE_VERTICES = 64
SECTOR_STEP_DEG = 2.0
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


class InvalidTile(GridmapError):
    """A tile address outside the pyramid (HTTP 400)."""

    code = "invalid_tile"


def tolerance_m(z: int) -> float:
    """Simplification tolerance at zoom ``z``, in EPSG:3857 metres (half a display pixel)."""
    return WORLD_M / 2**z / DISPLAY_PIXELS / 2


def parse_tile(z: str, x: str, y: str, max_zoom: int) -> tuple[int, int, int]:
    """A tile address from its URL parts: 0 ≤ z ≤ ``max_zoom``, 0 ≤ x, y < 2^z."""
    parts = (z, x, y)
    if all(p.isascii() and p.isdigit() and len(p) <= 10 for p in parts):
        zi, xi, yi = map(int, parts)
        if zi <= max_zoom and xi < 2**zi and yi < 2**zi:
            return zi, xi, yi
    raise InvalidTile(
        f"瓦片 {z}/{x}/{y} 不存在 (no such tile: z must be 0–{max_zoom}, x and y below 2^z)",
        details={"z": z, "x": x, "y": y, "max_zoom": max_zoom},
    )


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) of a tile."""
    n = 2**z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360 - 180, lat(y + 1), (x + 1) / n * 360 - 180, lat(y)


@dataclass(frozen=True)
class Field:
    """An attribute of a layer's features: its SQL, name, TileJSON type and meaning."""

    sql: str
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Layer:
    """One tile layer: where its rows come from and what its features carry.

    ``rows(area)`` is a SELECT of the layer's rows with their ``shape`` in EPSG:4326 and the
    ``fields``; ``area`` is an SQL expression of a lon/lat box the rows must touch (index
    friendly), None for all rows.
    """

    name: str
    title: str
    description: str
    geometry: str  # "polygon" or "point"
    fields: tuple[Field, ...]
    versioned: bool
    """Boundary layers: regions of a version, cached by version number."""
    table: str
    order: str
    level: str | None = None
    """The regions' level (boundary layers; None: every level)."""
    feature_id: str | None = None
    """Column used as the MVT feature id (integers), if any."""
    label_points: bool = False
    """Boundary layers: a point inside each region (``ST_PointOnSurface``) for its label,
    instead of its polygon — one label a region, in the one tile that holds the point."""

    def __post_init__(self) -> None:
        personal = [f.name for f in self.fields if f.name in PERSONAL_FIELDS]
        if personal:  # a tile is one public, cached answer for every caller
            raise ValueError(f"tile layer {self.name} may not carry personal fields {personal}")

    def rows(self, area: str | None, settings: Settings) -> str:
        columns = ", ".join(f"{f.sql} AS {f.name}" for f in self.fields)
        if self.feature_id:
            columns = f"c.{self.feature_id} AS {self.feature_id}, {columns}"
        if self.versioned:
            shape = "ST_PointOnSurface(r.geom)" if self.label_points else "r.geom"
            return (
                f"SELECT {columns}, {shape} AS shape FROM regions r "
                "WHERE r.valid_from <= %(version)s "
                "AND (r.valid_to IS NULL OR r.valid_to > %(version)s)"
                + ("" if self.level is None else " AND r.level = %(level)s")
                + ("" if area is None else f" AND r.geom && {area}")
            )
        if self.geometry == "point":
            where = "" if area is None else f" WHERE c.geom && {area}"
            return f"SELECT {columns}, c.geom AS shape FROM {self.table} c{where}"
        if self.table == "centres":  # service areas
            reach = (
                "(SELECT greatest(max(radius_m), "
                f"{max(settings.centre_radius_m.values(), default=0.0)!r}) FROM centres)"
            )
            ring = _ring("radius.m", arc=False)
            lateral = f"CROSS JOIN LATERAL (SELECT {RADIUS_SQL} AS m) radius "
            online = ""
        else:  # camera sectors
            reach = "(SELECT max(range_m) FROM cameras WHERE status = 'online')"
            ring = _ring("c.range_m", arc=True)
            lateral = (
                "CROSS JOIN LATERAL (SELECT greatest(1, ceil(c.fov_deg / "
                f"{SECTOR_STEP_DEG!r}))::int AS n, c.fov_deg >= 360 AS full) arc "
            )
            online = "c.status = 'online'"
        if area is None:
            where, widened = online, ""
        else:
            where = " AND ".join(filter(None, (online, "c.geom && widened.box")))
            widened = f"{_widened(area, reach)} widened, "
        return (
            f"SELECT {columns}, ST_MakePolygon(ST_AddPoint(ring.line, ST_StartPoint(ring.line)))"
            f" AS shape FROM {widened}{self.table} c {lateral}"
            f"CROSS JOIN LATERAL ({ring}) ring" + (f" WHERE {where}" if where else "")
        )

    def params(self, settings: Settings) -> dict[str, Any]:
        """Bind parameters the layer's rows need besides the tile's."""
        out: dict[str, Any] = {}
        if self.level:
            out["level"] = self.level
        if self.name in ("centres", "centre_areas"):
            out["radius_defaults"] = json.dumps(settings.centre_radius_m)
        return out

    def tile_sql(self, settings: Settings) -> str:
        """The statement that makes one tile, with psycopg's named placeholders (``%(z)s`` …):
        its parameters are ``tiles.service.tile_params``."""
        fields = ", ".join(f.name for f in self.fields)
        ident = f"rows.{self.feature_id}, " if self.feature_id else ""
        shape = "ST_Transform(rows.shape, 3857)"
        if self.geometry == "polygon":
            shape = f"ST_SimplifyPreserveTopology({shape}, %(tolerance)s)"
        fid = f", '{self.feature_id}'" if self.feature_id else ""
        return (
            "WITH tile AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env, "
            "ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, "
            f"margin => {MARGIN!r}), 4326) AS area), "
            f"rows AS ({self.rows('(SELECT area FROM tile)', settings)}), "
            f"features AS (SELECT {ident}{fields}, "
            f"ST_AsMVTGeom({shape}, tile.env, {EXTENT}, {BUFFER}, true) AS geom "
            "FROM rows, tile) "
            f"SELECT ST_AsMVT(f, '{self.name}', {EXTENT}, 'geom'{fid}) FROM "
            f"(SELECT * FROM features WHERE geom IS NOT NULL ORDER BY {self.order} "
            "LIMIT %(limit)s) f"
        )

    def bounds_sql(self, settings: Settings) -> str:
        """West, south, east, north of all the layer's shapes (NULLs when there are none)."""
        return (
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(shape) AS e FROM ({self.rows(None, settings)}) rows) extent"
        )

    def tilejson_fields(self) -> dict[str, str]:
        return {f.name: f.type for f in self.fields}


RADIUS_SQL = "coalesce(c.radius_m, (CAST(%(radius_defaults)s AS jsonb) ->> c.level)::float8)"
"""A centre's service radius: its own, or its level's default from the settings."""


def _ring(radius: str, *, arc: bool) -> str:
    """SELECT of ``line``: the ``ST_Project`` vertices around ``c.geom`` of a 64-gon circle of
    ``radius`` metres, or of the camera sector of lateral ``arc`` (n segments from azimuth +
    fov/2 back to azimuth − fov/2, then the apex unless the field of view is full)."""
    if arc:
        azimuth = "c.azimuth_deg + c.fov_deg / 2 - k * c.fov_deg / arc.n"
        series = "generate_series(0, CASE WHEN arc.full THEN arc.n - 1 ELSE arc.n END) k"
        apex = " UNION ALL SELECT arc.n + 1, c.geom WHERE NOT arc.full"
    else:
        azimuth = f"-k * {360.0 / CIRCLE_VERTICES!r}"
        series = f"generate_series(0, {CIRCLE_VERTICES - 1}) k"
        apex = ""
    vertices = (
        f"SELECT k, ST_Project(c.geom::geography, {radius}, radians({azimuth}))::geometry AS p "
        f"FROM {series}{apex}"
    )
    return f"SELECT ST_MakeLine(v.p ORDER BY v.k) AS line FROM ({vertices}) v"


def _widened(area: str, reach_m: str) -> str:
    """A one-row subquery of ``box``: ``area`` widened by ``reach_m`` metres each way
    (conservatively, in degrees: ≥ 110 574 m per degree of latitude, ≥ 111 319 m·cos φ per
    degree of longitude; +10 % and 1 m)."""
    lat = "(q.r / 110574.0)"
    poleward = f"least(89.0, greatest(abs(ST_YMin(q.a)), abs(ST_YMax(q.a))) + {lat})"
    lon = f"(q.r / (111319.49 * cos(radians({poleward}))))"
    return (
        f"(SELECT ST_Expand(q.a, {lon}, {lat}) AS box FROM "
        f"(SELECT {area} AS a, coalesce({reach_m}, 0) * 1.1 + 1 AS r) q)"
    )


_REGION = (
    Field("r.code", "code", "String", "区划/网格编码 region code"),
    Field("r.name", "name", "String", "名称 name"),
    Field("r.parent_code", "parent_code", "String", "上级编码 parent code"),
)
_DEVICE = Field("c.device_id", "device_id", "String", "国标编码 GB/T 28181 device ID")
_VIEW = (
    Field("c.azimuth_deg", "azimuth_deg", "Number", "方位角 degrees from north"),
    Field("c.fov_deg", "fov_deg", "Number", "视场角 field of view, degrees"),
)
"""A camera's direction and field of view (the cameras and camera_sectors layers)."""
_CENTRE = (
    Field("c.name", "name", "String", "名称 name"),
    Field("c.level", "level", "String", "centre (党群服务中心), station (站) or home (之家)"),
    Field(RADIUS_SQL, "radius_m", "Number", "服务半径 service radius, metres"),
)


def _boundary(name: str, level: str, title: str, extra: tuple[Field, ...] = ()) -> Layer:
    return Layer(
        name=name,
        title=title,
        description=f"The {level} boundaries of a boundary version (EPSG:3857 tiles).",
        geometry="polygon",
        fields=_REGION + extra,
        versioned=True,
        table="regions",
        order="code",
        level=level,
    )


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        _boundary(
            "grids",
            "grid",
            "网格",
            (Field("r.households", "households", "Number", "户数 households"),),
        ),
        _boundary("communities", "community", "社区/村"),
        _boundary("streets", "street", "街道/乡镇"),
        _boundary("counties", "county", "县/区"),
        Layer(
            name="labels",
            title="区划名称",
            description="A label point inside every county, street, community and grid "
            "(ST_PointOnSurface) with its name and level, for maps that write the names "
            "once a region rather than once a tile.",
            geometry="point",
            fields=(
                *_REGION,
                Field("r.level", "level", "String", "county, street, community, grid"),
            ),
            versioned=True,
            table="regions",
            order="array_position(ARRAY['county', 'street', 'community', 'grid'], level), code",
            label_points=True,
        ),
        Layer(
            name="centres",
            title="党群服务中心/站/之家",
            description="Party-service centres (points).",
            geometry="point",
            fields=_CENTRE,
            versioned=False,
            table="centres",
            order="id",
            feature_id="id",
        ),
        Layer(
            name="centre_areas",
            title="服务范围",
            description="Service areas of the centres: geodesic circles of their service radius "
            "(their own, or their level's default).",
            geometry="polygon",
            fields=_CENTRE,
            versioned=False,
            table="centres",
            order="id",
            feature_id="id",
        ),
        Layer(
            name="cameras",
            title="摄像机",
            description="Cameras (points) with their status and direction.",
            geometry="point",
            fields=(_DEVICE, Field("c.status", "status", "String", "online or offline"), *_VIEW),
            versioned=False,
            table="cameras",
            order="id",
            feature_id="id",
        ),
        Layer(
            name="camera_sectors",
            title="摄像机视域",
            description="Fields of view of the online cameras: geodesic sectors of their range.",
            geometry="polygon",
            fields=(
                _DEVICE,
                *_VIEW,
                Field("c.range_m", "range_m", "Number", "可视距离 range, metres"),
            ),
            versioned=False,
            table="cameras",
            order="id",
            feature_id="id",
        ),
    )
}


def get_layer(name: str) -> Layer:
    """The layer called ``name`` (404 ``layer_not_found`` otherwise)."""
    layer = LAYERS.get(name)
    if layer is None:
        raise NotFound(
            f"图层 {name} 不存在 (no such tile layer; one of {', '.join(LAYERS)})",
            code="layer_not_found",
            details={"layer": name, "layers": list(LAYERS)},
        )
    return layer
