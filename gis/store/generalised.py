"""Generalised boundaries, prepared when a version is committed, for the low-zoom tiles.

**Which levels appear at which zooms** (the one rule: the tile layers, their TileJSON and the
MapLibre page read it from here): a clerk sees counties at every zoom, streets from zoom 8,
communities from 9 and grids from 12 (:data:`LEVEL_ZOOMS`) — about where a typical region of
the level (a 0.2 km² grid, a 4 km² community) is 8 pixels wide; below its zoom a level's tiles
are empty — a province's grids would be specks there, and drawing them would mean 1 000 000
polygons a tile.  Names (the ``labels`` layer) come later: counties' from 8, streets'
10, communities' 12, grids' 14.

**What is prepared**: for every county, street and community row a version writes, for each
zoom from its level's first zoom up to :data:`PREPARED_TO`, its polygon in EPSG:3857 simplified
at that zoom's tolerance (half a display pixel, :func:`tolerance_m`), and its label point
(:data:`LABEL_ZOOM`), with exactly the expressions the tile statement would otherwise evaluate
per request — ``ST_Simplify(ST_Transform(geom, 3857), tolerance, true)``,
``ST_Transform(ST_PointOnSurface(geom), 3857)`` — so a tile is the same bytes whether its rows
were prepared or not, and a row missing here (written behind the commit path) only costs time.
Rows of ``regions`` never change once written (a new version writes new rows), so the prepared
shapes are keyed by the row's id: an upload prepares only the rows it writes (of a community's
grids: none; of the parents it changed: theirs), and a restore or an ``as_of`` read finds each
old row's shapes where they were.

Each polygon is simplified on its own (PostGIS 3.3 has no ``ST_CoverageSimplify``): shared
edges of neighbours may part or cross by at most the tolerance, half a pixel at the zoom it is
drawn at — not visible. Douglas–Peucker (``ST_Simplify``, small polygons kept), not
``ST_SimplifyPreserveTopology``: that keeps a ring from crossing itself, which ``ST_AsMVTGeom``
repairs anyway, at 3–5 times the cost (a province's counties, streets and communities: 47 s of
preparing at 100 000 grids, measured by bench/tiles_province.py, against ~10 s). Grids, and
every level above :data:`PREPARED_TO`, are simplified per request, clipped to the tile first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.store.arrays import Texts
from gis.store.models import LEVELS

DISPLAY_PIXELS = 512
"""A tile's width on screen in MapLibre: the simplification tolerance is half a pixel of it."""
WORLD_M = 2 * 20037508.342789244
"""Width of the EPSG:3857 world in its metres."""


@dataclass(frozen=True)
class LevelZooms:
    """The zooms at which a level's regions are drawn."""

    shapes_from: int
    """Its boundary layer's tiles hold its regions from this zoom on (empty below)."""
    labels_from: int
    """The ``labels`` layer holds its regions' names from this zoom on."""
    prepared: bool = True
    """Whether its shapes (up to :data:`PREPARED_TO`) and label points are prepared."""


LEVEL_ZOOMS: dict[str, LevelZooms] = {
    "county": LevelZooms(shapes_from=0, labels_from=8),
    "street": LevelZooms(shapes_from=8, labels_from=10),
    "community": LevelZooms(shapes_from=9, labels_from=12),
    "grid": LevelZooms(shapes_from=12, labels_from=14, prepared=False),
}
"""Grids are not prepared: a grid of ~100 vertices costs ~50 µs to simplify in a request, and
a z12 tile holds a few hundred of them — preparing a province's 1 000 000 grids at two zooms
would cost more than the rest of their upload (~1 ms a grid, measured by
bench/tiles_province.py) and twice their storage."""
assert set(LEVEL_ZOOMS) == set(LEVELS)

PREPARED_TO = 13
"""The deepest zoom with prepared shapes: from 14 a tile (≤ 2.4 km wide) holds a few hundred
grids of a dense city, simplified per request at the cost of the tile's other work (and the
large regions it cuts through are clipped to it first)."""
LABEL_ZOOM = -1
"""The ``zoom`` under which a row's label point is prepared: ``ST_PointOnSurface`` in EPSG:3857
(every tile the region's box meets would otherwise compute it from the whole polygon)."""


def tolerance_m(z: int) -> float:
    """Simplification tolerance at zoom ``z``, in EPSG:3857 metres (half a display pixel)."""
    return WORLD_M / 2**z / DISPLAY_PIXELS / 2


def prepared_zooms(level: str) -> range:
    """The zooms at which ``level``'s shapes are prepared (may be empty)."""
    zooms = LEVEL_ZOOMS[level]
    return range(zooms.shapes_from, PREPARED_TO + 1 if zooms.prepared else zooms.shapes_from)


_ZOOMS = [
    (level, z)
    for level in LEVELS
    if LEVEL_ZOOMS[level].prepared
    for z in (LABEL_ZOOM, *prepared_zooms(level))
]

_PREPARE = (
    "INSERT INTO region_shapes (region_id, zoom, geom) "
    "SELECT r.id, z.zoom, CASE WHEN z.tolerance IS NULL "
    "  THEN ST_Transform(ST_PointOnSurface(r.geom), 3857) "
    "  ELSE ST_Simplify(m.geom, z.tolerance, true) END "
    "FROM regions r "
    "CROSS JOIN LATERAL (SELECT ST_Transform(r.geom, 3857) AS geom) m "
    "JOIN unnest(CAST(:levels AS text[]), CAST(:zooms AS int[]), "
    "            CAST(:tolerances AS float8[])) AS z(level, zoom, tolerance) "
    "  ON z.level = r.level "
    "WHERE r.level = ANY(:prepared) AND {} ON CONFLICT DO NOTHING"
)
_RULE = {
    "prepared": sorted({level for level, _ in _ZOOMS}),
    "levels": [level for level, _ in _ZOOMS],
    "zooms": [z for _, z in _ZOOMS],
    "tolerances": [None if z == LABEL_ZOOM else tolerance_m(z) for _, z in _ZOOMS],
}


def prepare_shapes(conn: Connection, number: int, codes: Sequence[str]) -> None:
    """Prepare the shapes of the rows version ``number`` wrote for regions ``codes`` (in the
    committing transaction; the rows found through the (code, valid_from) index)."""
    if codes:
        where = "r.valid_from = :n AND r.code = ANY(:codes)"
        conn.execute(text(_PREPARE.format(where)), {"n": number, "codes": Texts(codes), **_RULE})


def prepare_missing(conn: Connection) -> None:
    """Prepare the shapes of every row that has none (rows written before migration 0011, or
    behind the commit path, such as a test's or benchmark's bulk insert)."""
    where = "NOT EXISTS (SELECT 1 FROM region_shapes s WHERE s.region_id = r.id)"
    conn.execute(text(_PREPARE.format(where)), _RULE)
