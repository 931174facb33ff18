"""Geometries as gridmap stores them: the storage grid, the stored form (snapped, multi,
counter-clockwise), the form a binary COPY writes (EWKB and area), and the SQL that compares
geometries at storage precision."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

import numpy as np
import shapely

from gis.geo.geodesy import geodesic_area_m2
from gis.store.models import STORAGE_SRID

GEOMETRY_COPY_TYPE = "bytea"
"""The type to dump :func:`for_copy`'s bytes as in a binary COPY into a geometry column:
bytea's binary form is the bytes themselves, which geometry's receive function reads."""

STORAGE_GRID_DEG = 1e-7
"""Storage precision: every written geometry has its coordinates snapped to this grid of
degrees (≈1.1 cm north–south, ≈0.85 cm east–west at 40°N) by :func:`stored_form`, which
keeps polygons valid.  Float noise of a reprojection or a file format's round trip is far
below it, so a stored geometry that is exported and read back snaps to exactly the same
vertices; a real edit (a vertex moved by a metre) does not.  Finer grids would let noise
through, coarser ones would start to move survey data."""

STORAGE_SHIFT_M = STORAGE_GRID_DEG * 111_320 * math.sqrt(2) / 2
"""The farthest snapping to the storage grid moves a point: half a cell's diagonal (≈0.8 cm,
at most, on the equator)."""

STORED_FORM_SQL = f"ST_ForcePolygonCCW(ST_Multi(ST_ReducePrecision({{}}, {STORAGE_GRID_DEG!r})))"
"""SQL of a geometry (format it in) at storage precision, as PostGIS snaps it: what
:func:`geometry_differs` compares rows written before :func:`stored_form` with."""


def stored_form(geometries: np.ndarray) -> np.ndarray:
    """Polygonal ``geometries`` (None stays None) as stored: MultiPolygons whose vertices are
    rounded to :data:`STORAGE_GRID_DEG`, outer rings counter-clockwise (RFC 7946).

    Rounding each vertex is vectorised and leaves a polygon's vertices where they are (to
    the grid); the few polygons it would make invalid (an edge within a cell of a vertex)
    are snap-rounded instead, as ``ST_ReducePrecision`` does — ten times slower, but always
    valid."""
    geometries = np.asarray(geometries, dtype=object)
    snapped = shapely.set_precision(geometries, STORAGE_GRID_DEG, mode="pointwise")
    broken = ~shapely.is_valid(snapped) & ~shapely.is_missing(snapped)
    if broken.any():
        snapped[broken] = shapely.set_precision(geometries[broken], STORAGE_GRID_DEG)
    single = shapely.get_type_id(snapped) == shapely.GeometryType.POLYGON
    if single.any():
        polygons = snapped[single]
        snapped[single] = shapely.multipolygons(polygons, indices=np.arange(len(polygons)))
    return shapely.orient_polygons(snapped)


@dataclass
class CopyGeometries:
    """Geometries in :func:`stored_form` as a binary ``COPY … FROM STDIN`` writes them
    (:func:`for_copy`): EWKB, and — for a commit — each one's area on the ellipsoid."""

    ewkb: list[bytes | None]
    area_m2: list[float] | None = None

    def extend(self, more: CopyGeometries) -> None:
        """Append ``more`` (measured both, or neither)."""
        self.ewkb += more.ewkb
        if self.area_m2 is not None and more.area_m2 is not None:
            self.area_m2 += more.area_m2
        elif self.area_m2 is not None or more.area_m2 is not None:
            raise ValueError("cannot join measured and unmeasured geometries")


_MULTIPOLYGON = int(shapely.GeometryType.MULTIPOLYGON)
_WKB_MULTIPOLYGON = b"\x01" + struct.pack("<I", _MULTIPOLYGON)
_EWKB_MULTIPOLYGON = b"\x01" + struct.pack("<II", 0x20000000 | _MULTIPOLYGON, STORAGE_SRID)
"""Little-endian WKB's header of a 2-D MultiPolygon, and EWKB's (the SRID flag and the SRID)."""


def for_copy(geometries: np.ndarray, measure: bool = True) -> CopyGeometries:
    """Geometries in stored form (2-D MultiPolygons in EPSG:4326, or None) for a geometry
    column's binary COPY (:data:`GEOMETRY_COPY_TYPE`): EWKB, read by PostGIS's receive
    function as it is — half the bytes of hex EWKB in text COPY, no hex made in Python or
    parsed in PostgreSQL.  ``measure``: their areas too (``geodesic_area_m2``, what
    ``regions.area_m2`` holds) — one numpy pass here instead of ``ST_Area(geom::geography)``
    in the INSERT, which took ~35 µs a grid on the server (70 % of inserting 100 000
    grids).  In two steps, :func:`wkb_for_copy` and :func:`as_ewkb`, for a caller that makes
    the first in threads."""
    wkb, areas = wkb_for_copy(geometries, measure)
    return CopyGeometries(as_ewkb(wkb), areas)


def wkb_for_copy(
    geometries: np.ndarray, measure: bool
) -> tuple[list[bytes | None], list[float] | None]:
    """:func:`for_copy`'s first step: little-endian WKB (checked to be stored form) and, when
    ``measure``, the areas."""
    geometries = np.asarray(geometries, dtype=object)
    wkb = shapely.to_wkb(geometries, byte_order=1).tolist()
    if not all(w is None or w.startswith(_WKB_MULTIPOLYGON) for w in wkb):
        raise ValueError("for_copy takes geometries in stored form (2-D MultiPolygons)")
    return wkb, geodesic_area_m2(geometries).tolist() if measure else None


def as_ewkb(wkb: list[bytes | None]) -> list[bytes | None]:
    """:func:`for_copy`'s second step: each WKB's header swapped for EWKB's (the SRID flag
    and the SRID; setting the SRID on each geometry instead copied every polygon).  Made by
    the thread that keeps them: 1 000 000 EWKB made in worker threads stayed in their malloc
    arenas among freed polygons (an upload's peak 4 062 MiB, made here 3 970 MiB)."""
    return [None if w is None else _EWKB_MULTIPOLYGON + w[5:] for w in wkb]


def geometry_differs(old: str, new: str) -> str:
    """SQL: the geometries of rows aliased ``old`` and ``new`` differ at storage precision,
    up to vertex order, ring start and orientation.  Both sides are snapped only when they
    are not already equal as they are: rows written before geometries were snapped, and
    restored historical rows, are then judged at storage precision too."""
    return (
        f"NOT (ST_OrderingEquals(ST_Normalize({old}.geom), ST_Normalize({new}.geom)) OR "
        f"ST_OrderingEquals(ST_Normalize({STORED_FORM_SQL.format(old + '.geom')}), "
        f"ST_Normalize({STORED_FORM_SQL.format(new + '.geom')})))"
    )
