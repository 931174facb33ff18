"""The vector tile layers and the PostGIS queries that build their tiles.

Each tile is made by one SQL statement: ``ST_TileEnvelope(z, x, y)`` in EPSG:3857; rows found
through the GiST index on ``geom`` (``geom && ST_Transform(envelope with a margin, 4326)``);
polygons simplified per zoom (``ST_Simplify``, Douglas–Peucker, tolerance half a display pixel
of a 512-px tile) — boundaries at low zooms read that shape as prepared when their version was
committed (``gis.store.generalised``, which also says which levels a zoom shows: a boundary
layer's tile below its level's zoom is empty without a query); ``ST_AsMVTGeom`` (extent
4096, buffer 64, clipped); ``ST_AsMVT`` with only the attributes a map needs, at most
``tile_max_features`` features per tile.

Service areas and camera sectors are built in PostGIS too, the same shapes as
``gis.geo.geodesy.circle_polygons`` / ``sector_polygons``: their vertices are ``ST_Project`` on
the WGS84 spheroid (GeographicLib's direct geodesic, exact to well under a millimetre), 64
per circle and at most 2° apart along a sector's arc.  The straight edges between vertices
cut inside the true geodesic circle by the sagitta r·(1 − cos(step/2)): 1.2 m for a
1 000 m circle, 0.36 m for 300 m, 0.015 m for a 100 m camera range at 2° — about the
simplification tolerance at zoom 15 (1.2 m), i.e. under a screen pixel up to zoom 16.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from gis.catalogue import CAMERAS, CENTRES, GRIDS, REGION_LAYERS
from gis.catalogue.schema import (
    SERVICE_RADIUS_SQL,
    Field,
    largest_default_radius_m,
    radius_params,
)
from gis.catalogue.schema import Layer as CatalogueLayer
from gis.errors import GridmapError, NotFound
from gis.settings import Settings
from gis.store.generalised import LABEL_ZOOM, LEVEL_ZOOMS, prepared_zooms, tolerance_m
from gis.store.models import LEVELS
from gis.store.versions import valid_at

EXTENT = 4096
"""Tile coordinates per tile side (the MVT default)."""
BUFFER = 64
"""Tile coordinates drawn beyond each tile edge, so strokes do not break at the seams."""
MARGIN = 2 * BUFFER / EXTENT
"""Rows are searched this fraction of a tile beyond it (more than the buffer)."""
CIRCLE_VERTICES = 64
SECTOR_STEP_DEG = 2.0
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


class InvalidTile(GridmapError):
    """A tile address outside the pyramid (HTTP 400)."""

    code = "invalid_tile"


__all__ = ["tolerance_m"]  # the tiles' tolerance, defined with the prepared shapes


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
class Layer:
    """One tile layer: where its rows come from and what its features carry (fields of
    the ``gis.catalogue`` layer it draws).

    ``rows(area)`` is a SELECT of the layer's rows ``t`` with their ``shape`` in EPSG:4326
    and the ``fields``; ``area`` is an SQL expression of a lon/lat box the rows must touch
    (index friendly), None for all rows.
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
    from_zoom: int = 0
    """Centres and cameras: the first zoom that shows them (:data:`FACILITY_ZOOMS`)."""

    @property
    def min_zoom(self) -> int:
        """The first zoom at which the layer's tiles hold anything (``LEVEL_ZOOMS``)."""
        if self.label_points:
            return min(z.labels_from for z in LEVEL_ZOOMS.values())
        return LEVEL_ZOOMS[self.level].shapes_from if self.level else self.from_zoom

    def zoom_params(self, z: int) -> dict[str, Any] | None:
        """Bind parameters of the tile's zoom ``z``: the levels a labels tile names, which
        prepared shapes to read (``shape_zoom``), whether to clip polygons to the tile before
        simplifying them (``clip``: above the prepared zooms, where a tile is a sliver of a
        county); None when the layer shows nothing at ``z``."""
        if z < self.min_zoom:
            return None
        if self.label_points:
            return {"shape_zoom": LABEL_ZOOM}
        if self.level is None:  # centres and cameras
            return {}
        return {"shape_zoom": z, "clip": z not in prepared_zooms(self.level)}

    def __post_init__(self) -> None:
        personal = [f.name for f in self.fields if f.personal]
        if personal:  # a tile is one public, cached answer for every caller
            raise ValueError(f"tile layer {self.name} may not carry personal fields {personal}")

    def rows(self, area: str | None, settings: Settings) -> str:
        columns = ", ".join(f"{f.expression} AS {f.name}" for f in self.fields)
        if self.feature_id:
            columns = f"t.{self.feature_id} AS {self.feature_id}, {columns}"
        if self.versioned:  # a SELECT a level, its name written in: the level's own spatial
            # index (migration 0011) serves it in any plan; labels gated by their zoom
            # a tile's label points are found from the polygons as the statement needs them
            # (``tile_sql``: most are prepared), the layer's bounds from the points
            shape = "ST_PointOnSurface(t.geom)" if self.label_points and not area else "t.geom"
            return " UNION ALL ".join(
                f"SELECT {columns}, {shape} AS shape, t.id AS region_id FROM regions t "
                f"WHERE {valid_at('t', '%(version)s')} AND t.level = '{level}'"
                + ("" if area is None else f" AND t.geom && {area}")
                + (f" AND %(z)s >= {zooms.labels_from}" if self.label_points and area else "")
                for level, zooms in LEVEL_ZOOMS.items()
                if level == self.level or self.label_points
            )
        if self.geometry == "point":
            where = "" if area is None else f" WHERE t.geom && {area}"
            return f"SELECT {columns}, t.geom AS shape FROM {self.table} t{where}"
        if self.table == CENTRES.table:  # service areas
            reach = (
                "(SELECT greatest(max(radius_m), "
                f"{largest_default_radius_m(settings)!r}) FROM centres)"
            )
            ring = _ring("radius.m", arc=False)
            lateral = f"CROSS JOIN LATERAL (SELECT {SERVICE_RADIUS_SQL} AS m) radius "
            online = ""
        else:  # camera sectors
            reach = "(SELECT max(range_m) FROM cameras WHERE status = 'online')"
            ring = _ring("t.range_m", arc=True)
            lateral = (
                "CROSS JOIN LATERAL (SELECT greatest(1, ceil(t.fov_deg / "
                f"{SECTOR_STEP_DEG!r}))::int AS n, t.fov_deg >= 360 AS full) arc "
            )
            online = "t.status = 'online'"
        if area is None:
            where, widened = online, ""
        else:
            where = " AND ".join(filter(None, (online, "t.geom && widened.box")))
            widened = f"{_widened(area, reach)} widened, "
        return (
            f"SELECT {columns}, ST_MakePolygon(ST_AddPoint(ring.line, ST_StartPoint(ring.line)))"
            f" AS shape FROM {widened}{self.table} t {lateral}"
            f"CROSS JOIN LATERAL ({ring}) ring" + (f" WHERE {where}" if where else "")
        )

    def params(self, settings: Settings) -> dict[str, Any]:
        """Bind parameters the layer's rows need besides the tile's."""
        out: dict[str, Any] = {}
        if self.table == CENTRES.table:  # the service radius
            out.update(radius_params(settings))
        return out

    def tile_sql(self, settings: Settings) -> str:
        """The statement that makes one tile, with psycopg's named placeholders (``%(z)s`` …):
        its parameters are ``tiles.service.tile_params``."""
        fields = ", ".join(f.name for f in self.fields)
        ident = f"rows.{self.feature_id}, " if self.feature_id else ""
        shape = "ST_Transform(rows.shape, 3857)"
        if self.label_points:
            shape = "ST_Transform(ST_PointOnSurface(rows.shape), 3857)"
        if self.versioned and self.geometry == "polygon":  # above the prepared zooms: clipped
            shape = (
                "ST_Transform(CASE WHEN %(clip)s THEN ST_ClipByBox2D(rows.shape, "
                "box2d(tile.area)) ELSE rows.shape END, 3857)"
            )
        if self.geometry == "polygon":
            shape = f"ST_Simplify({shape}, %(tolerance)s, true)"
        if self.versioned:  # the same shape or label point, if prepared (one probe a row:
            # never a join the planner might hash over the whole table)
            shape = (
                "coalesce((SELECT p.geom FROM region_shapes p WHERE p.region_id = rows.region_id "
                f"AND p.zoom = %(shape_zoom)s), {shape})"
            )
        fid = f", '{self.feature_id}'" if self.feature_id else ""
        return (
            "WITH tile AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env, "
            "ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, "
            f"margin => {MARGIN!r}), 4326) AS area), "
            f"rows AS ({self.rows('(SELECT area FROM tile)', settings)}), "
            f"features AS (SELECT {ident}{fields}, "
            f"ST_AsMVTGeom({shape}, tile.env, {EXTENT}, {BUFFER}, true) AS geom "
            "FROM tile, rows) "
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
        return {f.name: f.tile_type for f in self.fields}


def _ring(radius: str, *, arc: bool) -> str:
    """SELECT of ``line``: the ``ST_Project`` vertices around ``t.geom`` of a 64-gon circle of
    ``radius`` metres, or of the camera sector of lateral ``arc`` (n segments from azimuth +
    fov/2 back to azimuth − fov/2, then the apex unless the field of view is full)."""
    if arc:
        azimuth = "t.azimuth_deg + t.fov_deg / 2 - k * t.fov_deg / arc.n"
        series = "generate_series(0, CASE WHEN arc.full THEN arc.n - 1 ELSE arc.n END) k"
        apex = " UNION ALL SELECT arc.n + 1, t.geom WHERE NOT arc.full"
    else:
        azimuth = f"-k * {360.0 / CIRCLE_VERTICES!r}"
        series = f"generate_series(0, {CIRCLE_VERTICES - 1}) k"
        apex = ""
    vertices = (
        f"SELECT k, ST_Project(t.geom::geography, {radius}, radians({azimuth}))::geometry AS p "
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


def _fields(layer: CatalogueLayer, *names: str) -> tuple[Field, ...]:
    return tuple(layer.field(name) for name in names)


_REGION = ("code", "name", "parent_code")
_CENTRE = (
    *_fields(CENTRES, "name", "level"),
    replace(CENTRES.field("service_radius_m"), name="radius_m"),
)
"""A centre's name, level and service radius (its own or its level's default), which the
tiles call ``radius_m``."""
_DEVICE = CAMERAS.field("device_id")
_VIEW = _fields(CAMERAS, "azimuth_deg", "fov_deg")
"""A camera's direction and field of view (the cameras and camera_sectors layers)."""


FACILITY_ZOOMS = {"centres": 8, "centre_areas": 10, "cameras": 10, "camera_sectors": 12}
"""The first zoom of each centre and camera layer.  A province holds 50 000 centres and
500 000 cameras: below these zooms a tile would hold tens of thousands of them (a z6 tile of
camera sectors took 17 s to build; centres' and cameras' tiles passed 500 KB) and draw them as
a smear.  From here a shape is big enough to read (MapLibre's zoom: ≈ 60 000 / 2^z metres a
pixel at 40° N): a service area of 300–1 000 m is 10–34 px across at zoom 10, a camera's
50–150 m sector 3–10 px long at zoom 12; centres from 8 and cameras from 10 are a few
thousand points a tile at a province's density."""


def _boundary(region: CatalogueLayer, *extra: str) -> Layer:
    assert region.level is not None
    return Layer(
        name=region.name,
        title=region.short_title,
        description=f"The {region.level} boundaries of a boundary version (EPSG:3857 tiles).",
        geometry="polygon",
        fields=_fields(region, *_REGION, *extra),
        versioned=True,
        table=region.table,
        order="code",
        level=region.level,
    )


LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        _boundary(GRIDS, "households"),
        *(_boundary(REGION_LAYERS[level]) for level in ("community", "street", "county")),
        Layer(
            name="labels",
            title="区划名称",
            description="A label point inside every county, street, community and grid "
            "(ST_PointOnSurface) with its name and level, for maps that write the names "
            "once a region rather than once a tile.",
            geometry="point",
            fields=_fields(GRIDS, *_REGION, "level"),
            versioned=True,
            table=GRIDS.table,
            order=f"array_position(ARRAY{list(LEVELS)!r}, level), code",
            label_points=True,
        ),
        Layer(
            name=CENTRES.name,
            from_zoom=FACILITY_ZOOMS["centres"],
            title=CENTRES.short_title,
            description="Party-service centres (points).",
            geometry="point",
            fields=_CENTRE,
            versioned=False,
            table=CENTRES.table,
            order="id",
            feature_id="id",
        ),
        Layer(
            name="centre_areas",
            from_zoom=FACILITY_ZOOMS["centre_areas"],
            title="服务范围",
            description="Service areas of the centres: geodesic circles of their service radius "
            "(their own, or their level's default).",
            geometry="polygon",
            fields=_CENTRE,
            versioned=False,
            table=CENTRES.table,
            order="id",
            feature_id="id",
        ),
        Layer(
            name=CAMERAS.name,
            from_zoom=FACILITY_ZOOMS["cameras"],
            title=CAMERAS.short_title,
            description="Cameras (points) with their status and direction.",
            geometry="point",
            fields=(_DEVICE, CAMERAS.field("status"), *_VIEW),
            versioned=False,
            table=CAMERAS.table,
            order="id",
            feature_id="id",
        ),
        Layer(
            name="camera_sectors",
            from_zoom=FACILITY_ZOOMS["camera_sectors"],
            title="摄像机视域",
            description="Fields of view of the online cameras: geodesic sectors of their range.",
            geometry="polygon",
            fields=(_DEVICE, *_VIEW, CAMERAS.field("range_m")),
            versioned=False,
            table=CAMERAS.table,
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
