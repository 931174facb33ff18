"""Bounds on the distance from a point to boxes of lon/lat, for the nearest-grid search of
``gis.query.lookup_index`` (``GridIndex.nearest_point``): lower bounds that never exceed the
geodesic distance on the WGS 84 ellipsoid (so no grid that close is missed); and the
gnomonic projection its measurement (``GridIndex._local``) works in."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

METRES_PER_DEGREE = (111_320.0, 110_574.0)
"""Metres per degree of longitude at the equator and of latitude at least (the longest edge
of the grids near a far point, ``GridIndex._closest``; :class:`PlanarGaps`)."""


WGS84_A, WGS84_E2 = 6_378_137.0, 0.00669437999014
"""The WGS 84 ellipsoid: semi-major axis (m) and first eccentricity squared."""

PATH_METRES_PER_DEGREE = 111_700.0
"""More than the metres a degree of latitude spans anywhere on the WGS 84 ellipsoid (at
most 111 694), and than a degree of longitude divided by cos(latitude) (at most 111 695):
a path along a meridian and a parallel is no longer than this many metres a degree."""

NEAR_DEG = 0.2
"""Points this close to the grids' box (~20 km) are searched with :class:`PlanarGaps`."""

ELLIPSOID_DEG = 0.2
"""Degrees added to the highest latitude a great circle between two points reaches, for
the ellipsoid's geodesic (whose vertex lies within ~0.1° of the sphere's)."""


class PlanarGaps:
    """Metres from a point to boxes of lon/lat near it (:class:`gis.query.cells.Gaps`): each
    box's degrees to its nearest and farthest point scaled by the fewest metres a degree
    spans on a path between them — 0.99 × :data:`METRES_PER_DEGREE` of latitude, and of
    longitude 0.99 × ``METRES_PER_DEGREE[0]`` × cos of the highest latitude such a path
    reaches: the box's or the point's, raised by a great circle's bulge over their
    longitudes apart (``tan φ' = tan φ / cos(Δλ/2)``) and :data:`ELLIPSOID_DEG`.  A path
    is no shorter than the hypotenuse of its metres east-west and north-south, so these
    are lower bounds; scaled at each box's own latitude, not the most poleward grid's
    (beside a town 10° farther north every bound was 12 % short, and a far point measured
    up to 6× the grids).  The upper values, scaled the same, may fall short of the metres
    to a box's farthest point: they only steer ``CellIndex.closest`` to some close cells,
    whose grids' measured distance then bounds the search.  Cheaper than
    :class:`ChordGaps`."""

    def __init__(self, x: float, y: float) -> None:
        self.x, self.y, self.per_y = x, y, METRES_PER_DEGREE[1] * 0.99

    def __call__(
        self, left: np.ndarray, low: np.ndarray, side: float
    ) -> tuple[np.ndarray, np.ndarray]:
        west, south = left - self.x, low - self.y
        apart = np.minimum(np.maximum(np.abs(west), np.abs(west + side)), 179.0)
        high = np.radians(np.minimum(np.maximum(np.abs(low), np.abs(low + side)), 89.9))
        high = np.maximum(high, math.radians(min(abs(self.y), 89.9)))
        reached = np.degrees(np.arctan(np.tan(high) / np.cos(np.radians(apart) / 2)))
        reached = np.minimum(reached + ELLIPSOID_DEG, 90.0)
        per_x = METRES_PER_DEGREE[0] * 0.99 * np.cos(np.radians(reached))
        near_x = np.maximum(np.maximum(west, -west - side), 0) * per_x
        near_y = np.maximum(np.maximum(south, -south - side), 0) * self.per_y
        far_x = np.maximum(np.abs(west), np.abs(west + side)) * per_x
        far_y = np.maximum(np.abs(south), np.abs(south + side)) * self.per_y
        return np.hypot(near_x, near_y), np.hypot(far_x, far_y)


class ChordGaps:
    """Metres from a point to boxes of lon/lat (:class:`gis.query.cells.Gaps`): the chord
    (the straight line through the earth, on the WGS 84 ellipsoid) to the box's centre,
    less and plus the box's radius (the length of a path from the centre to a corner
    along a meridian and the parallel nearer the equator).  No path
    on the surface is shorter than its chord, so the lower bound never exceeds the geodesic
    distance to any point of the box — near or a continent away (the chord is 0.1 % short
    of the geodesic at 1 000 km)."""

    def __init__(self, x: float, y: float) -> None:
        self.point = ecef_point(x, y)[:, None]

    def __call__(
        self, left: np.ndarray, low: np.ndarray, side: float
    ) -> tuple[np.ndarray, np.ndarray]:
        centre = ecef(left + side / 2, low + side / 2)
        chord = np.sqrt(((centre - self.point) ** 2).sum(axis=0))
        high = low + side
        lowest = np.where((low <= 0) & (high >= 0), 0.0, np.minimum(np.abs(low), np.abs(high)))
        radius = side / 2 * (np.cos(np.radians(lowest)) + 1) * PATH_METRES_PER_DEGREE
        return chord - radius, chord + radius


def ecef(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Earth-centred coordinates (3 × n metres) of points on the WGS 84 ellipsoid."""
    return np.stack(_ecef(lon, lat, np))


def ecef_point(lon: float, lat: float) -> np.ndarray:
    """:func:`ecef` of one point (3 metres) in plain floats: numpy's dozen calls on arrays
    of one cost ~35 µs, a tenth of a near point's first request."""
    return np.array(_ecef(lon, lat, math))


def _ecef(lon: Any, lat: Any, m: Any) -> tuple[Any, Any, Any]:
    """The formula, with ``m``'s functions (numpy's on arrays, math's on floats)."""
    lam, phi = m.radians(lon), m.radians(lat)
    sin_phi, cos_phi = m.sin(phi), m.cos(phi)
    normal = WGS84_A / m.sqrt(1 - WGS84_E2 * sin_phi * sin_phi)
    return (
        normal * cos_phi * m.cos(lam),
        normal * cos_phi * m.sin(lam),
        normal * (1 - WGS84_E2) * sin_phi,
    )
