"""Which polygons' bounding boxes hold each of many points, without a geometry per polygon.

The cell index (``gis.query.cells``) labels each free run of cells by the polygons whose
bounds hold the run's centre.  An STRtree over one ``shapely.box`` per polygon did that:
at a province's 1 000 000 grids those boxes and their tree are ~470 MB of the index
builder's peak.  Here polygons are packed by position into groups of :data:`GROUP`
(sort-tile: vertical slices by the boxes' centres, then by height within a slice), one
box per group goes into the tree, and a group's members are checked against their own
bounds — the same pairs, ~1/GROUP of the geometries.
"""

from __future__ import annotations

import numpy as np
import shapely

GROUP = 16
"""Polygons under one box of the tree."""
POINTS_AT_ONCE = 32_768
"""Points queried at a time (their candidate pairs: ~GROUP × a few per point)."""


class BoxTree:
    """The bounds of ``n`` polygons (``bounds``: n × 4, x0 y0 x1 y1; NaN for an empty one)
    and a tree of their groups."""

    def __init__(self, bounds: np.ndarray) -> None:
        self.bounds = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
        n = len(self.bounds)
        cx = (self.bounds[:, 0] + self.bounds[:, 2]) / 2
        cy = (self.bounds[:, 1] + self.bounds[:, 3]) / 2
        groups = -(-n // GROUP)
        per_slice = GROUP * max(1, -(-groups // max(1, int(np.ceil(np.sqrt(groups))))))
        by_x = np.argsort(cx, kind="stable")
        order = by_x[np.lexsort((cy[by_x], np.arange(n) // per_slice))]
        members = np.full(groups * GROUP, -1, dtype=np.int64)
        members[:n] = order
        self.members = members.reshape(groups, GROUP)
        """Each group's polygons (-1 pads the last one)."""
        starts = np.arange(0, n, GROUP)
        packed = self.bounds[order]
        with np.errstate(invalid="ignore"):
            low = np.fmin.reduceat(packed[:, :2], starts) if n else np.empty((0, 2))
            high = np.fmax.reduceat(packed[:, 2:], starts) if n else np.empty((0, 2))
        self.tree = shapely.STRtree(shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1]))

    def total_bounds(self) -> tuple[float, float, float, float]:
        """The box around every non-empty polygon (``shapely.total_bounds``)."""
        b = self.bounds[~np.isnan(self.bounds).any(axis=1)]
        if not len(b):
            return (np.nan, np.nan, np.nan, np.nan)
        (x0, y0), (x1, y1) = b[:, :2].min(axis=0), b[:, 2:].max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def query(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(point, polygon) pairs where the polygon's bounds hold the point (sides
        included), in point order — what an STRtree of the polygons' boxes answers for
        ``shapely.points(x, y)``."""
        found_point, found_polygon = [], []
        for start in range(0, len(x), POINTS_AT_ONCE):
            px, py = x[start : start + POINTS_AT_ONCE], y[start : start + POINTS_AT_ONCE]
            point, group = self.tree.query(shapely.points(px, py))
            polygon = self.members[group]
            point = np.repeat(point, GROUP).reshape(polygon.shape)
            b = self.bounds[polygon]
            qx, qy = px[point], py[point]
            hold = (
                (polygon >= 0)
                & (b[..., 0] <= qx)
                & (qx <= b[..., 2])
                & (b[..., 1] <= qy)
                & (qy <= b[..., 3])
            )
            found_point.append(point[hold] + start)
            found_polygon.append(polygon[hold])
        if not found_point:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(found_point), np.concatenate(found_polygon)
