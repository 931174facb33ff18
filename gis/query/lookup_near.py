"""The few grids that can be nearest to any point of a block of cells, kept per worker: a
point outside every grid measures only those (``GridIndex.nearest_point``).

A block is a square of the cell index's frame, ``size × SPLIT^k`` degrees a side: first the
largest no more than a sixteenth of the point's distance from the grids' box (a cell near
it); a block whose list holds more than :data:`FEW` grids is split into SPLIT × SPLIT (r
bounds how many a list holds); one whose grids have more than :data:`FEW_EDGES` edges that
can be nearest (:data:`MAX_EDGES` where the finest blocks cannot keep so few) sends its
points straight to the widest blocks no wider than would keep that few, as measured at its
centre (at least one level down: the levels between are skipped, each would cost a measure
of the list); down to :data:`FINEST`.  A block's list is made from
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
alone by compiled code (:func:`measure_edges`: the gnomonic projection, the nearest point
of each edge, ``geod_inverse``, as ``GridIndex._local`` measures the lists with
:func:`measure_near`): on a handful of edges numpy's cost was its calls (~120–260 µs a
point; plain Python took ~5–10 µs, compiled ~1 µs, beside 100 000 grids).  Where no finer
block keeps few (a far point beside a long straight outline), a block keeps up to
:data:`MOST_EDGES`, still measured compiled (~9 µs for ~120 edges against ~250 µs in numpy,
15 km north of a 0.8°-wide straight side); the edges a worker keeps are bounded
(:data:`MAX_KEPT_EDGES`) as its blocks are.

A block its points are measured on also keeps the region above grids that covers all of it,
when one does or none does (``GridIndex.box_area``): a point outside every grid then needs
no point-in-polygon test per level (3 levels, ~13 µs a point beside 100 000 grids).

A block's list is made at its **second** point, not its first: the first is answered by the
full search (~1 ms at 10 km beside 100 000 grids; 0.2 ms on the coverage's outer edges,
``gis.query.lookup_outer``), while making the lists down to a block that keeps few edges
costs ~9 ms there (2 ms from the outer edges) — a point alone in its block (as points far
outside mostly are) would pay that for a list no other point uses.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable

import numpy as np

from gis.geo.geodesy import proj_geodesic
from gis.query import _near
from gis.query.cell_shapes import ranges
from gis.query.cells import CellIndex
from gis.query.lookup_gaps import PATH_METRES_PER_DEGREE

MAX_BLOCKS = 100_000
"""Blocks whose list a worker keeps (a list and its edges: ~0.5 KB); beyond it the lists
start again (bounded memory)."""

FEW_EDGES = 8
"""A block with more edges than this is split where a finer block (down to the finest
level) keeps no more: each point measures every edge of its block (~1 µs an edge)."""

MAX_EDGES = 16
"""Where no block of the finest level keeps :data:`FEW_EDGES`, a block keeps up to this many,
split where a finer block keeps no more."""

MOST_EDGES = 512
"""Where no block of the finest level keeps :data:`MAX_EDGES` either (a far point beside a long
straight outline: many edges nearly as near), a block keeps up to this many all the same (the
compiled measure: ~9 µs for ~120 edges, numpy's ~250 µs); beyond it a point measures its
block's grids whole (:func:`measure_near`)."""

MAX_KEPT_EDGES = MAX_BLOCKS * MAX_EDGES
"""Edges the blocks of a worker keep (~56 bytes each); beyond it the lists start again."""

Packed = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``GridIndex._packed``: edges packed for :func:`measure_edges` (k × 7 float64) and, per
grid in the order given, the span [lo, hi) of its edges among them (n × 2 int64)."""

Search = Callable[[float, float, float], np.ndarray]
"""Grids close to a point, and with a reach > 0 every grid whose outline may be within it."""

Measure = Callable[[float, float, np.ndarray, float], np.ndarray]
"""Metres from a point to each grid's outline, where it may be within the least + the last
argument (others: inf; :func:`measure_near`)."""

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


Entry = tuple[np.ndarray | None, int | None, array | None, int | None]
"""A block's list (None: the full search), the level its points look at next if it is split
(its list then only serves to make those blocks'; None: not split), its edges
(:func:`_edges`; None: too many, or split), and the region above grids covering every point
of it (``GridIndex.area``'s answer, -1: none; None: it may vary, or split)."""

Near = tuple[int, float, int | None]
"""The nearest grid, the geodesic metres to its outline, and the block's region (see
:data:`Entry`)."""

Box = Callable[[float, float, float, float], int | None]
"""``GridIndex.box_area``: the region above grids covering every point of a box, -1 for
none, None when it may vary within the box."""


class NearLists:
    """Per block, the grids that can be nearest to its points (None: take the full search).

    A block's list is made for the second point in it by ``search`` (the full nearest-grid
    search's candidates at the block's centre within a reach; with reach 0 some close grids)
    and ``measure`` (metres from a point to each grid's outline); its edges from
    ``packed``; its region from ``area``."""

    def __init__(
        self,
        cells: CellIndex,
        box: tuple[float, float, float, float],
        search: Search,
        measure: Measure,
        packed: Packed,
        area: Box,
        band: float,
    ) -> None:
        self.cells, self.box, self.band = cells, box, band
        self.frame = (cells.x0, cells.y0, cells.size, float(SPLIT), FAR_SHARE)
        """The cells' frame and the blocks' rules, for compiled code (``_near.walk``:
        :meth:`_first`, then :meth:`_block` down the entries already made)."""
        self.search, self.measure, self.packed = search, measure, packed
        self.area = area
        self.lists: dict[tuple[int, int, int], Entry] = {}
        """Per (level, row, col) of a block: its :data:`Entry`."""
        self.seen: set[tuple[int, int, int]] = set()
        """Blocks (of the level a point looks at first) one point has fallen in, no list made."""
        self.kept = 0
        """Edges the entries keep."""

    def candidates(self, x: float, y: float) -> np.ndarray | None:
        """The grids (sorted indices) that can be nearest to the point, or None."""
        return self._block(x, y)[0]

    def nearest(self, x: float, y: float) -> Near | None:
        """The nearest grid to the point and the geodesic metres to its outline, as
        ``GridIndex.nearest_point`` answers (the lowest index on a tie), and its block's
        region; None: the point's block has no list (the full search answers)."""
        known = _near.walk(self.lists, x, y, *self.box, *self.frame)
        if known is None:  # a block on the way has no entry yet
            key = self._first(x, y)
            if key not in self.lists and key not in self.seen:  # a first point: the full search
                if len(self.seen) >= MAX_BLOCKS:
                    self.seen.clear()
                self.seen.add(key)
                return None
            self.seen.discard(key)
            known = self._block(x, y, key[0])
        listed, _, edges, area = known
        if listed is None:
            return None
        if edges is not None:
            return (*measure_edges(edges, x, y), area)
        metres = self.measure(x, y, listed, 0.0)
        best = np.lexsort((listed, metres))[0]
        return int(listed[best]), float(metres[best]), area

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
                if len(self.lists) >= MAX_BLOCKS or self.kept >= MAX_KEPT_EDGES:
                    self.lists.clear()
                    self.seen.clear()
                    self.kept = 0
                found = self._list(side, row, col, outer)
                edges, below = None, None
                if found is not None and len(found) > FEW:
                    below = k - 1
                elif found is not None:
                    cx, cy = self.cells.x0 + (col + 0.5) * side, self.cells.y0 + (row + 0.5) * side
                    finest = self.cells.size * float(SPLIT) ** FINEST
                    edges, needed = self._edges(cx, cy, side, found, finest)
                    below = self._below(k, needed) if edges is None and needed >= finest else None
                below = below if k > FINEST else None
                known = found, below, edges, self._area(side, row, col, found, below)
                self.lists[(k, row, col)] = known
                self.kept += len(edges) // 7 if edges is not None else 0
            outer, below, *_ = known
            if below is None:
                return known
            k = below

    def _area(
        self, side: float, row: int, col: int, found: np.ndarray | None, below: int | None
    ) -> int | None:
        """The region covering every point of a block its points are measured on (a hair
        wider: a point's block is found by rounding), else None."""
        if found is None or below is not None:
            return None
        x0, y0 = self.cells.x0 + col * side - 1e-9, self.cells.y0 + row * side - 1e-9
        return self.area(x0, y0, x0 + side + 2e-9, y0 + side + 2e-9)

    def _below(self, k: int, needed: float) -> int:
        """The level a block of level ``k`` whose edges are too many sends its points to:
        the widest blocks no wider than ``needed`` degrees (the levels between would each
        cost a measure of the list), at least one level down, no finer than :data:`FINEST`
        (``needed`` is at least the finest side here)."""
        return max(min(k - 1, math.floor(math.log(needed / self.cells.size, SPLIT))), FINEST)

    def _edges(
        self, cx: float, cy: float, side: float, grids: np.ndarray, finest: float
    ) -> tuple[array | None, float]:
        """The edges of ``grids``' outlines that can be nearest to a point of the block of
        ``side`` degrees around (cx, cy), packed for :func:`measure_edges`, or None and the
        side of a block around the centre that would keep :data:`FEW_EDGES` (if no less
        than ``finest``), else :data:`MAX_EDGES` (else up to :data:`MOST_EDGES` are kept,
        beyond which the list's grids are measured whole): as for the grids of a list, each
        edge measured from the centre (:func:`measure_near`, per edge) and those within the
        least + 2r kept.  A far point beside a long straight outline has many edges nearly
        as near: no block of the finest level makes them few."""
        edges, spans = self.packed(grids)
        r = side * PATH_METRES_PER_DEGREE
        metres = measure_near(edges, spans, cx, cy, self._extra(r), per_edge=True)
        least = float(metres.min())
        keep = metres <= least + 2 * r + 2 * _slack(least + 2 * r)
        kept = int(keep.sum())
        for most in (FEW_EDGES, MAX_EDGES):
            if kept <= most:
                break
            enough = float(np.partition(metres, most)[most])  # the first left out
            needed = (enough - least - 2 * _slack(enough)) / 2 / PATH_METRES_PER_DEGREE
            if needed >= finest or (most == MAX_EDGES and kept > MOST_EDGES):
                return None, needed
        return edges_array(edges, ranges(spans[:, 0], spans[:, 1] - spans[:, 0])[1][keep]), side

    def _extra(self, r: float) -> float:
        """Metres beyond the least a block of reach ``r`` needs measured: its lists take
        the least + 2r + slack, and a list whose least is beyond the band is none."""
        return 2 * r + 2 * _slack(self.band + 2 * r)

    def _list(self, side: float, row: int, col: int, outer: np.ndarray | None) -> np.ndarray | None:
        """The list of one block (see the module's docstring).  ``outer``: the list of the
        block it is a part of, if any — it holds the nearest grid of every point of this one
        (the centre's too), so this one's is the grids of it within reach."""
        cx, cy = self.cells.x0 + (col + 0.5) * side, self.cells.y0 + (row + 0.5) * side
        if not -180 <= cx <= 180 or not -90 <= cy <= 90:
            return None
        r = side * PATH_METRES_PER_DEGREE
        grids = self.search(cx, cy, 0.0) if outer is None else outer
        metres = self.measure(cx, cy, grids, self._extra(r))
        least = float(metres.min())
        reach = least + 2 * r + 2 * _slack(least + 2 * r)
        if reach > self.band:
            return None
        if outer is None:
            grids = self.search(cx, cy, reach)
            metres = self.measure(cx, cy, grids, self._extra(r))
        return grids[metres <= reach]


_near.set_geodesic(*proj_geodesic())

measure_edges: Callable[[array, float, float], tuple[int, float]] = _near.measure_edges
"""``measure_edges(edges, x, y)``: the nearest grid and its geodesic metres over a block's
packed ``edges`` (compiled: ``gis/query/_near.c``), by ``GridIndex._local``'s rule: per grid
the point of its edges nearest on the sphere (first edge on a tie) in the spherical gnomonic
projection centred on the point (great circles are straight lines there), measured by PROJ's
``geod_inverse`` (``Geod.inv``'s; a grid more than 2 % farther on the sphere is not
measured: it cannot be nearer on the ellipsoid); the least metres, the lowest grid on a
tie.  An edge starting where the one
before ended (the edges of an outline come in order) reuses that vertex's projection."""


def pack_edges(grid: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Edges from ``a`` to ``b`` (lon/lat rows) of ``grid`` packed as :func:`measure_edges`
    reads them (k × 7 float64): the grid, then lon, sin lat and cos lat of each end."""
    lat_a, lat_b = np.radians(a[:, 1]), np.radians(b[:, 1])
    ends = (a[:, 0], np.sin(lat_a), np.cos(lat_a), b[:, 0], np.sin(lat_b), np.cos(lat_b))
    return np.column_stack([grid.astype(float), *ends])


def edges_array(edges: np.ndarray, rows: np.ndarray | list[int]) -> array:
    """The ``rows`` of packed ``edges`` as the ``array`` a block keeps for
    :func:`measure_edges`."""
    packed = array("d")
    packed.frombytes(np.ascontiguousarray(edges[rows]).tobytes())
    return packed


def measure_near(
    edges: np.ndarray, spans: np.ndarray, x: float, y: float, extra: float, per_edge: bool = False
) -> np.ndarray:
    """Per span of packed ``edges`` (a grid's: ``spans`` holds [lo, hi) pairs), or with
    ``per_edge`` per edge of the spans in turn, the geodesic metres from the point to its
    point nearest on the sphere, as :func:`measure_edges` measures (compiled), where it may
    be within the least + ``extra``; inf where its angle on the sphere puts it farther (the
    ellipsoid's metres per radian of geodetic latitudes are at least a(1 − e²)) or it has no
    edge.  Measuring only those saves ~1 µs of ``geod_inverse`` each of a block's hundreds
    of edges."""
    spans = np.ascontiguousarray(spans, dtype=np.int64)
    out = np.empty(int((spans[:, 1] - spans[:, 0]).sum()) if per_edge else len(spans))
    _near.measure_near(edges, spans, x, y, extra, out, per_edge)
    return out
