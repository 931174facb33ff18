"""Seeded random streams and the local frame the demo city is drawn in.

Shapes are computed in a local equirectangular kilometre frame around the county town
(118.318°E, 40.150°N) and converted back to lon/lat; every output coordinate lies on the
1e-7° grid (7 decimals).  Each purpose draws from its own stream (base seed 130227), so a
change in one part leaves the others as they are.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

SEED = 130227
GRID_SIZE = 1e-7  # snap-rounding grid in degrees; coordinates are written with 7 decimals
INSET_DEG = 2e-5  # points keep about 2 m from grid edges, so 7-decimal rounding stays inside
URBAN_CENTER = (118.318, 40.150)  # approximate centre of the real county town (lon, lat)

_LON0, _LAT0 = URBAN_CENTER
KM_PER_DEG_LAT = 111.2
KM_PER_DEG_LON = KM_PER_DEG_LAT * math.cos(math.radians(_LAT0))
_SCALE = np.array([KM_PER_DEG_LON, KM_PER_DEG_LAT])
_ORIGIN = np.array([_LON0, _LAT0])


def rng(key: str) -> np.random.Generator:
    """The seeded stream of one purpose (``key``)."""
    return np.random.default_rng([SEED, zlib.crc32(key.encode())])


def to_km(geom: Any) -> Any:
    """``geom`` (lon/lat) in the local kilometre frame."""
    return shapely.transform(geom, lambda c: (c - _ORIGIN) * _SCALE)


def to_deg(geom: Any) -> Any:
    """``geom`` (local kilometre frame) in lon/lat."""
    return shapely.transform(geom, lambda c: c / _SCALE + _ORIGIN)


def as_multi(geom: Any) -> MultiPolygon:
    """The non-empty polygons of ``geom`` as one MultiPolygon."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    return MultiPolygon(parts)


def sample(domain: Any, n: int, stream: np.random.Generator) -> np.ndarray:
    """``n`` uniform random points (x, y rows) inside ``domain``."""
    minx, miny, maxx, maxy = domain.bounds
    shapely.prepare(domain)
    points = np.empty((0, 2))
    while len(points) < n:
        cand = stream.uniform([minx, miny], [maxx, maxy], size=(4 * n, 2))
        points = np.vstack([points, cand[shapely.contains_xy(domain, cand[:, 0], cand[:, 1])]])
    return points[:n]


def rounded(point: Sequence[float]) -> tuple[float, float]:
    """``point`` (lon, lat) rounded to the 7 decimals it is written with."""
    return float(f"{point[0]:.7f}"), float(f"{point[1]:.7f}")


def offset(point: Sequence[float], east_m: float, north_m: float) -> np.ndarray:
    """``point`` (lon, lat) moved by metres east and north (local frame)."""
    return np.array(
        [
            point[0] + east_m / 1000.0 / KM_PER_DEG_LON,
            point[1] + north_m / 1000.0 / KM_PER_DEG_LAT,
        ]
    )


def metres(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """East and north metres from ``a`` to ``b`` (lon, lat; local frame)."""
    return (
        (b[0] - a[0]) * KM_PER_DEG_LON * 1000.0,
        (b[1] - a[1]) * KM_PER_DEG_LAT * 1000.0,
    )


def bearing(east_m: float, north_m: float) -> float:
    """Compass bearing in degrees (0 = north, clockwise) of a metre offset."""
    return math.degrees(math.atan2(east_m, north_m)) % 360.0
