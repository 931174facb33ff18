"""A uniform cell index over polygons: exact point-in-polygon tests only near edges.

The bounding box of the polygons is cut into square cells.  A cell that some polygon edge
passes through (or within a hair of) is *mixed*: it keeps the list of polygons whose edges
touch it, and points in it are tested exactly with GEOS.  Every other cell lies wholly
inside one polygon or outside all of them, so its answer is stored once: a run of such
cells along a row is labelled by testing the centre of its first cell.  Answers equal
``covers`` (a point on a boundary is covered); with several covering polygons the lowest
index wins, so callers order polygons by code.
"""

from __future__ import annotations

import numpy as np
import shapely

CELLS_PER_POLYGON = 64
MIN_CELLS = 1 << 20
MAX_CELLS = 8 << 20


def _lowest(point: np.ndarray, polygon: np.ndarray, n: int) -> np.ndarray:
    """Per point (0…n-1) the lowest polygon index among the hits, or -1."""
    found = np.full(n, -1, dtype=np.int64)
    if len(point):
        order = np.lexsort((polygon, point))
        point, polygon = point[order], polygon[order]
        first = np.ones(len(point), dtype=bool)
        first[1:] = point[1:] != point[:-1]
        found[point[first]] = polygon[first]
    return found


def _ranges(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand [start, start + count) ranges: (owner of each element, the element)."""
    owner = np.repeat(np.arange(len(start)), count)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    return owner, start[owner] + offset


class CellIndex:
    """Cells over ``polygons`` (an array of prepared shapely polygons/multipolygons)."""

    def __init__(self, polygons: np.ndarray, tree: shapely.STRtree) -> None:
        self.polygons = polygons
        n = max(len(polygons), 1)
        x0, y0, x1, y1 = shapely.total_bounds(polygons) if len(polygons) else (0, 0, 1, 1)
        target = min(MAX_CELLS, max(MIN_CELLS, CELLS_PER_POLYGON * n))
        size = float(np.sqrt(max((x1 - x0) * (y1 - y0), 1e-12) / target))
        self.size = size
        self.x0, self.y0 = x0 - size, y0 - size
        self.nx = int(np.ceil((x1 - x0) / size)) + 3
        self.ny = int(np.ceil((y1 - y0) / size)) + 3
        mixed_cell, mixed_polygon = self._edge_cells(polygons, x0, y0, x1, y1)
        labels = np.full(self.nx * self.ny, -1, dtype=np.int32)
        starts = np.flatnonzero(np.r_[True, mixed_cell[1:] != mixed_cell[:-1]])
        labels[mixed_cell[starts]] = -2 - np.arange(len(starts), dtype=np.int32)
        self.candidate_start = np.append(starts, len(mixed_polygon)).astype(np.int64)
        self.candidates = mixed_polygon.astype(np.int32)
        # the other cells: a run of them along a row lies in one face; test one centre per run
        free = labels == -1
        first = free.copy()
        first[1:] &= ~free[:-1]
        first[:: self.nx] = free[:: self.nx]
        runs = np.flatnonzero(first)
        cx = self.x0 + (runs % self.nx + 0.5) * size
        cy = self.y0 + (runs // self.nx + 0.5) * size
        point, polygon = tree.query(shapely.points(cx, cy))
        hit = shapely.intersects_xy(polygons[polygon], cx[point], cy[point])
        label = _lowest(point[hit], polygon[hit], len(runs))
        labels[free] = label[(np.cumsum(first) - 1)[free]]
        self.labels = labels

    def _edge_cells(
        self, polygons: np.ndarray, x0: float, y0: float, x1: float, y1: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (cell, polygon) pairs for every cell an edge passes within eps of."""
        n = max(len(polygons), 1)
        parts, part_of = shapely.get_parts(polygons, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        same = ring_of[1:] == ring_of[:-1]
        a, b = coords[:-1][same], coords[1:][same]
        owner = part_of[ring_part][ring_of[:-1][same]]
        eps = 1e-9 + 1e-12 * max(abs(x0), abs(x1), abs(y0), abs(y1))
        size = self.size
        # the columns each edge spans, then the rows it spans within each column
        left = np.minimum(a[:, 0], b[:, 0]) - eps
        right = np.maximum(a[:, 0], b[:, 0]) + eps
        col0 = ((left - self.x0) / size).astype(np.int64)
        ncol = ((right - self.x0) / size).astype(np.int64) - col0 + 1
        edge, col = _ranges(col0, ncol)
        dx = b[edge, 0] - a[edge, 0]
        vertical = dx == 0
        safe = np.where(vertical, 1.0, dx)
        lo = self.x0 + col * size
        ta = np.clip((np.maximum(left[edge], lo) - a[edge, 0]) / safe, 0, 1)
        tb = np.clip((np.minimum(right[edge], lo + size) - a[edge, 0]) / safe, 0, 1)
        ta[vertical], tb[vertical] = 0.0, 1.0
        ya = a[edge, 1] + ta * (b[edge, 1] - a[edge, 1])
        yb = a[edge, 1] + tb * (b[edge, 1] - a[edge, 1])
        row0 = ((np.minimum(ya, yb) - eps - self.y0) / size).astype(np.int64)
        nrow = ((np.maximum(ya, yb) + eps - self.y0) / size).astype(np.int64) - row0 + 1
        piece, row = _ranges(row0, nrow)
        key = np.sort((row * self.nx + col[piece]) * n + owner[edge[piece]])
        key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
        return key // n, key % n

    def covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """For each point the lowest index of a polygon covering it, or -1."""
        fx = (lon - self.x0) / self.size
        fy = (lat - self.y0) / self.size
        inside = np.flatnonzero((fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny))
        label = self.labels[fy[inside].astype(np.int64) * self.nx + fx[inside].astype(np.int64)]
        found = np.full(len(lon), -1, dtype=np.int64)
        found[inside] = np.maximum(label, -1)
        mixed = label <= -2
        where = inside[mixed]
        slot = -2 - label[mixed]
        start = self.candidate_start[slot]
        count = self.candidate_start[slot + 1] - start
        point, candidate = _ranges(start, count)
        candidate = self.candidates[candidate]
        order = np.argsort(candidate, kind="stable")  # GEOS tests in memory order
        point, candidate = point[order], candidate[order]
        p = where[point]
        hit = shapely.intersects_xy(self.polygons[candidate], lon[p], lat[p])
        found[where] = _lowest(point[hit], candidate[hit], len(where))
        return found

    def covering_point(self, x: float, y: float) -> int:
        """``covering`` for a single point, without the cost of arrays."""
        fx = (x - self.x0) / self.size
        fy = (y - self.y0) / self.size
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return -1
        label = int(self.labels[int(fy) * self.nx + int(fx)])
        if label >= -1:
            return label
        start, end = self.candidate_start[-2 - label : -label]
        candidates = self.candidates[start:end]
        hit = candidates[shapely.intersects_xy(self.polygons[candidates], x, y)]
        return int(hit.min()) if len(hit) else -1
