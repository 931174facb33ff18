"""The few grids that can be nearest to any point of a block of cells, kept per worker: a
point outside every grid measures only those (``GridIndex.nearest_point``).

A block is a square of the cell index's frame, ``size × SPLIT^k`` degrees a side: first the
largest no more than a sixteenth of the point's distance from the grids' box (a cell near
it); a block whose list holds more than :data:`FEW` grids is split into SPLIT × SPLIT (r
bounds how many a list holds); one whose grids have more than :data:`MAX_EDGES` edges that
can be nearest sends its points straight to the widest blocks no wider than would keep that
few, as measured at its centre (at least one level down: the levels between are skipped,
each would cost a measure of the list); down to :data:`FINEST`.  A block's list is made from
its outer block's, which holds every grid that can be nearest to its points.  (Long lists go
down a level at a time: jumping by the gap to the seventh grid made blocks too fine to share
30 km out — first points 3.1 → 9.5 ms, demo + county.)

For a block's centre c, with r no less than the geodesic metres from c to any point of the
block (a path along a meridian and a parallel: ``side × PATH_METRES_PER_DEGREE``), the list
holds every grid g with ``d(c, g) − r ≤ min_h d(c, h) + r`` (+ a slack for the measurement).
By the triangle inequality a point p of the block has ``d(p, g) ≥ d(c, g) − r`` and
``d(p, h) ≤ d(c, h) + r``: no grid outside the list is as near to p as the nearest in it,
ties included, so the answer stays the full search's.  Blocks whose list would reach beyond
``LOCAL_M`` get none (those points take the full search).

A block that is not split also keeps the few outline edges that can be nearest to any of its
points (:func:`_edges`, the same argument for edges), and a point in it is measured on those
alone in plain Python (:func:`_measure_edges`: the gnomonic projection,
the nearest point of each edge, ``Geod.inv``, as ``GridIndex._local`` does with numpy): on a
handful of edges numpy's cost is its calls (~120–260 µs a point, 20–30 µs here, beside
100 000 grids).

A block's list is made at its **second** point, not its first: the first is answered by the
full search (~1 ms at 10 km beside 100 000 grids), while making the lists down to a block
that keeps few edges costs ~9 ms there — a point alone in its block (as points far outside
mostly are) would pay that for a list no other point uses.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import numpy as np

from gis.geo.geodesy import GEOD
from gis.query.cells import CellIndex
from gis.query.lookup_gaps import (
    PATH_METRES_PER_DEGREE,
    gnomonic,
    gnomonic_inverse,
    nearest_on_edges,
)

MAX_BLOCKS = 100_000
"""Blocks whose list a worker keeps (a list and its edges: ~0.5 KB); beyond it the lists
start again (bounded memory)."""

MAX_EDGES = 16
"""A block keeps its edges for the plain-Python measure up to this many; with more it is
split where a finer block can keep fewer, else (and at the finest level) its points are
measured with numpy."""

Outlines = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""``GridIndex._outlines``: the grids' vertices, whether each starts an edge, each edge's grid."""

SPLIT = 4
"""A block too coarse for a short list is split into SPLIT × SPLIT."""

FEW = 6
"""A list longer than this is split (unless the block is at the finest level)."""

FINEST = -6
"""The finest level: a cell's side / SPLIT^6."""

FAR_SHARE = 16.0
"""A block's side is at most this share of the point's distance from the grids' box."""


def _slack(metres: float) -> float:
    """Metres allowed for the measurement's rounding (well above float error)."""
    return 0.01 + 1e-7 * metres


Entry = tuple[np.ndarray | None, int | None, array | None]
"""A block's list (None: the full search), the level its points look at next if it is split
(its list then only serves to make those blocks'; None: not split), and its edges
(:func:`_edges`; None: too many, or split)."""


class NearLists:
    """Per block, the grids that can be nearest to its points (None: take the full search).

    A block's list is made for the second point in it by ``search`` (the full nearest-grid
    search's candidates at the block's centre within a reach; with reach 0 some close grids)
    and ``measure`` (metres from a point to each grid's outline); its edges from
    ``outlines``."""

    def __init__(
        self,
        cells: CellIndex,
        box: tuple[float, float, float, float],
        search: Callable[[float, float, float], np.ndarray],
        measure: Callable[[float, float, np.ndarray], np.ndarray],
        outlines: Outlines,
        band: float,
    ) -> None:
        self.cells, self.box, self.band = cells, box, band
        self.search, self.measure, self.outlines = search, measure, outlines
        self.lists: dict[tuple[int, int, int], Entry] = {}
        """Per (level, row, col) of a block: its :data:`Entry`."""
        self.seen: set[tuple[int, int, int]] = set()
        """Blocks (of the level a point looks at first) one point has fallen in, no list made."""

    def candidates(self, x: float, y: float) -> np.ndarray | None:
        """The grids (sorted indices) that can be nearest to the point, or None."""
        return self._block(x, y)[0]

    def nearest(self, x: float, y: float) -> tuple[int, float] | None:
        """The nearest grid to the point and the geodesic metres to its outline, as
        ``GridIndex.nearest_point`` answers (the lowest index on a tie); None: the point's
        block has no list (the full search answers)."""
        key = self._first(x, y)
        if key not in self.lists and key not in self.seen:  # a first point: the full search
            if len(self.seen) >= MAX_BLOCKS:
                self.seen.clear()
            self.seen.add(key)
            return None
        self.seen.discard(key)
        listed, _, edges = self._block(x, y, key[0])
        if listed is None:
            return None
        if edges is not None:
            return _measure_edges(edges, x, y)
        metres = self.measure(x, y, listed)
        best = np.lexsort((listed, metres))[0]
        return int(listed[best]), float(metres[best])

    def _first(self, x: float, y: float) -> tuple[int, int, int]:
        """The block a point looks at first: the largest with a side no more than
        1/:data:`FAR_SHARE` of the point's distance from the grids' box (at least a cell)."""
        x0, y0, x1, y1 = self.box
        away = max(x0 - x, x - x1, y0 - y, y - y1, 0.0)
        k = 0
        while self.cells.size * SPLIT ** (k + 1) * FAR_SHARE <= away:
            k += 1
        side = self.cells.size * float(SPLIT) ** k
        return k, math.floor((y - self.cells.y0) / side), math.floor((x - self.cells.x0) / side)

    def _block(self, x: float, y: float, k: int | None = None) -> Entry:
        """The entry of the point's block, made (with its outer blocks', from level ``k``
        of :meth:`_first` down) if missing."""
        k = self._first(x, y)[0] if k is None else k
        outer: np.ndarray | None = None
        while True:
            side = self.cells.size * float(SPLIT) ** k
            row = math.floor((y - self.cells.y0) / side)
            col = math.floor((x - self.cells.x0) / side)
            if (known := self.lists.get((k, row, col))) is None:
                if len(self.lists) >= MAX_BLOCKS:
                    self.lists.clear()
                    self.seen.clear()
                found = self._list(side, row, col, outer)
                edges, below = None, None
                if found is not None and len(found) > FEW:
                    below = k - 1
                elif found is not None:
                    cx, cy = self.cells.x0 + (col + 0.5) * side, self.cells.y0 + (row + 0.5) * side
                    edges, needed = self._edges(cx, cy, side, found)
                    finest = self.cells.size * float(SPLIT) ** FINEST
                    below = self._below(k, needed) if edges is None and needed >= finest else None
                known = found, below if k > FINEST else None, edges
                self.lists[(k, row, col)] = known
            outer, below, _ = known
            if below is None:
                return known
            k = below

    def _below(self, k: int, needed: float) -> int:
        """The level a block of level ``k`` whose edges are too many sends its points to:
        the widest blocks no wider than ``needed`` degrees (the levels between would each
        cost a measure of the list), at least one level down, no finer than :data:`FINEST`
        (``needed`` is at least the finest side here)."""
        return max(min(k - 1, math.floor(math.log(needed / self.cells.size, SPLIT))), FINEST)

    def _edges(
        self, cx: float, cy: float, side: float, grids: np.ndarray
    ) -> tuple[array | None, float]:
        """The edges of ``grids``' outlines that can be nearest to a point of the block of
        ``side`` degrees around (cx, cy), packed for :func:`_measure_edges` (None beyond
        :data:`MAX_EDGES`), and the side of a block around the centre that would keep no
        more than that: as for the grids of a list, each edge measured from the centre
        (``GridIndex._local``'s measure, per edge) and those within the least + 2r kept.  A
        far point beside a long straight outline has many edges nearly as near: no block
        of the finest level makes them few, and numpy measures them."""
        coords, same, owner = self.outlines(grids)
        gap, _ = nearest_on_edges(gnomonic(coords, cx, cy), same)
        lon, lat = gnomonic_inverse(gap, cx, cy)
        metres = np.asarray(GEOD.inv(np.full(len(lon), cx), np.full(len(lon), cy), lon, lat)[2])
        least, r = float(metres.min()), side * PATH_METRES_PER_DEGREE
        keep = metres <= least + 2 * r + 2 * _slack(least + 2 * r)
        if keep.sum() > MAX_EDGES:
            enough = float(np.partition(metres, MAX_EDGES)[MAX_EDGES])  # the first left out
            return None, (enough - least - 2 * _slack(enough)) / 2 / PATH_METRES_PER_DEGREE
        start = np.flatnonzero(same)[keep]
        a, b = coords[start], coords[start + 1]
        lat_a, lat_b = np.radians(a[:, 1]), np.radians(b[:, 1])
        packed = np.column_stack(
            [
                grids[owner[keep]].astype(float),
                *(a[:, 0], np.sin(lat_a), np.cos(lat_a)),
                *(b[:, 0], np.sin(lat_b), np.cos(lat_b)),
            ]
        )
        return array("d", packed.ravel().tolist()), side

    def _list(self, side: float, row: int, col: int, outer: np.ndarray | None) -> np.ndarray | None:
        """The list of one block (see the module's docstring).  ``outer``: the list of the
        block it is a part of, if any — it holds the nearest grid of every point of this one
        (the centre's too), so this one's is the grids of it within reach."""
        cx, cy = self.cells.x0 + (col + 0.5) * side, self.cells.y0 + (row + 0.5) * side
        if not -180 <= cx <= 180 or not -90 <= cy <= 90:
            return None
        r = side * PATH_METRES_PER_DEGREE
        grids = self.search(cx, cy, 0.0) if outer is None else outer
        metres = self.measure(cx, cy, grids)
        least = float(metres.min())
        reach = least + 2 * r + 2 * _slack(least + 2 * r)
        if reach > self.band:
            return None
        if outer is None:
            grids = self.search(cx, cy, reach)
            metres = self.measure(cx, cy, grids)
        return grids[metres <= reach]


def _projected(
    lon: float, sin_lat: float, cos_lat: float, x: float, s0: float, c0: float
) -> tuple[float, float]:
    """:func:`gnomonic` of one vertex (lon in degrees, its latitude's sine and cosine)
    centred on longitude ``x`` and the latitude whose sine and cosine are s0, c0."""
    d = math.radians(lon - x)
    cos_d = math.cos(d)
    cos_c = s0 * sin_lat + c0 * cos_lat * cos_d
    return cos_lat * math.sin(d) / cos_c, (c0 * sin_lat - s0 * cos_lat * cos_d) / cos_c


def _measure_edges(edges: array, x: float, y: float) -> tuple[int, float]:
    """The nearest grid and its geodesic metres over a block's packed ``edges``, in plain
    Python, by ``GridIndex._local``'s rule: per grid the point of its edges nearest on the
    sphere (first edge on a tie), measured by ``Geod.inv``; the least metres, the lowest
    grid on a tie.  An edge starting where the one before ended (the edges of an outline
    come in order) reuses that vertex's projection."""
    lat0 = math.radians(y)
    s0, c0 = math.sin(lat0), math.cos(lat0)
    best: dict[int, tuple[float, float, float]] = {}
    end_lon = end_sin = math.nan
    bx = by = 0.0
    for i in range(0, len(edges), 7):
        g, lon_a, sin_a, cos_a, lon_b, sin_b, cos_b = edges[i : i + 7]
        if lon_a == end_lon and sin_a == end_sin:
            ax, ay = bx, by
        else:
            ax, ay = _projected(lon_a, sin_a, cos_a, x, s0, c0)
        bx, by = _projected(lon_b, sin_b, cos_b, x, s0, c0)
        end_lon, end_sin = lon_b, sin_b
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = min(max(-(ax * dx + ay * dy) / (length if length > 0 else 1.0), 0.0), 1.0)
        gx, gy = ax + t * dx, ay + t * dy
        near = gx * gx + gy * gy
        grid = int(g)
        if grid not in best or near < best[grid][0]:
            best[grid] = (near, gx, gy)
    found = (-1, math.inf)
    for grid, (_, px, py) in sorted(best.items()):
        rho = math.hypot(px, py)
        c = math.atan(rho)
        sin_c, cos_c = math.sin(c), math.cos(c)
        lat = math.asin(cos_c * s0 + py * sin_c * c0 / (rho if rho > 0 else 1.0))
        lon = x + math.degrees(math.atan2(px * sin_c, rho * c0 * cos_c - py * s0 * sin_c))
        metres = GEOD.inv(x, y, lon, math.degrees(lat))[2]
        if metres < found[1]:
            found = (grid, metres)
    return found
