"""The coverage's outline: the only grid edges a point outside every grid can be nearest to.

A point outside every grid is nearest to the union of the grids at a point of the union's
outline, and no edge that two grids share from opposite sides is on that outline (a point
inside it has one grid on each side).  So the nearest grid of such a point is found among
the *outer* edges — those no other grid shares from the other side — and, for the ties at
a vertex where the outline turns (every grid meeting there is as near), every edge starting
at a vertex of an outer edge (one for each ring through it).  Beside 100 000 seamless grids
these are 31 000 of 8.9 million edges: a point 5–20 km out measures ~150 of them instead of
searching the cells for whole grids (1.1 → 0.2 ms; ``GridIndex.nearest_point``'s full
search).

They are found when the index is built (:func:`outer_arrays`, in a thread beside the grids'
cells): each edge, turned so that its grid is on its left (shells counter-clockwise, holes
clockwise, as the ring turns), is outer unless it and an edge of another ring with its grid on
the other side are alone on the same segment — matched on their exact coordinates in hash
tables, a window of nearby grids at a time, then a chunk's windows' survivors, then every
chunk's (compiled, ``gis/query/_outer.c``: ~0.15 µs an edge, 16–17 s for a province's 99
million, beside its cells' ~30: +1.5–3 s to the build).  Points along each kept edge, no
more than :data:`SPACING_M` apart, are the samples a point's search starts from.

A point is measured (:meth:`OuterEdges.nearest`) as ``NearLists`` measures a block's edges
(``lookup_near.measure_edges``: per grid its edge nearest on the sphere, measured on the
ellipsoid): first the edge of the nearest sample (by the chord, in a k-d tree), whose
metres ``m`` bound the answer's; then every edge with a sample within ``m`` + half the
spacing (an edge within ``m`` has a sample that near: no path is shorter than the chord).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from scipy.spatial import cKDTree

from gis.geo.geodesy import GEOD
from gis.query import _outer
from gis.query.cell_shapes import Outline, wkb_outlines
from gis.query.lookup_gaps import ecef, ecef_point
from gis.query.lookup_near import edges_array, measure_edges, pack_edges

SPACING_M = 60.0
"""Samples along an outer edge are no farther apart than this."""

WINDOW_EDGES = 1 << 16
"""About this many edges are matched at once first (their table stays in the caches)."""

MAX_SAMPLES = 2_000_000
"""Samples above which none are kept (the full search answers): each worker's k-d tree
over them costs ~14 bytes a sample (the samples themselves stay in the shared file)."""


def _chunk_survivors(outline: Outline) -> tuple[np.ndarray, ...]:
    """Of one outline chunk's edges, those that survive its windows (whole polygons, about
    :data:`WINDOW_EDGES` edges; a power of two of polygons) and then the chunk (the union of
    its windows): (x_a, y_a, x_b, y_b) rows, polygons, whether each polygon is on the right,
    whether the edge is outer."""
    coords, ring, ring_owner, hole = outline
    coords, ring = np.ascontiguousarray(coords, np.float64), np.ascontiguousarray(ring, np.int64)
    starts, owner = np.empty(len(ring), np.int64), np.empty(len(ring), np.int64)
    right = np.empty(len(ring), bool)
    m = _outer.ring_edges(
        coords,
        ring,
        np.ascontiguousarray(ring_owner, np.int64),
        np.ascontiguousarray(hole, bool),
        starts,
        owner,
        right,
    )
    starts, owner, right = starts[:m], owner[:m], right[:m]
    each = max(m, 1) / max(len(np.unique(ring_owner)), 1)
    per = 1 << int(np.log2(max(WINDOW_EDGES / each, 1.0)))
    outer, kept = _match(coords, starts, right, owner, np.ones(m, bool), per)
    at = starts[kept]
    edges = np.hstack((coords[at], coords[at + 1]))
    owner, right, outer = owner[kept], right[kept], outer[kept]
    outer, kept = _together(edges, right, owner, outer)
    return edges[kept], owner[kept], right[kept], outer[kept]


def _match(
    coords: np.ndarray,
    starts: np.ndarray,
    right: np.ndarray,
    owner: np.ndarray,
    candidate: np.ndarray,
    per: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``_outer.survive``: (outer, kept) of each edge, matched ``per`` polygons at a time
    (0: all at once)."""
    outer, kept = np.empty(len(starts), bool), np.empty(len(starts), bool)
    _outer.survive(coords, starts, right, owner, candidate, per, outer, kept)
    return outer, kept


def _together(
    edges: np.ndarray, right: np.ndarray, owner: np.ndarray, outer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(outer, kept) of edges given as (x_a, y_a, x_b, y_b) rows, matched all at once."""
    pairs = np.ascontiguousarray(edges.reshape(-1, 2))
    return _match(pairs, np.arange(0, len(pairs), 2), right, owner, outer, 0)


def outer_edges(outlines: Iterator[Outline]) -> tuple[np.ndarray, np.ndarray] | None:
    """The edges a point outside every polygon can be nearest to (see the module) as
    (x_a, y_a, x_b, y_b) rows and their polygons; None without any polygon.

    Matched a chunk at a time (bounded memory: :func:`_chunk_survivors`), then the chunks'
    survivors together.  Each pass's windows are unions of the last's, so they keep what one
    pass over every polygon would: a match proves that a segment has polygons on both sides,
    and a vertex of the whole outline is one of each window with a polygon there, whose
    edges starting at it survive."""
    parts = [_chunk_survivors(outline) for outline in outlines]
    if not parts:
        return None
    edges, owner, right, outer = (np.concatenate([part[i] for part in parts]) for i in range(4))
    _, kept = _together(edges, right, owner, outer)
    return edges[kept], owner[kept]


def outer_arrays(blob: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """The ``outer.*`` arrays of the grids stored as WKB ``blob[offsets[i]:offsets[i + 1]]``
    (none above :data:`MAX_SAMPLES` samples): the edges in grid order packed for
    ``measure_edges`` (``lookup_near.pack_edges``), the samples along them (earth-centred
    metres), each sample's edge, and the most metres between two samples of an edge."""
    found = outer_edges(wkb_outlines(blob, offsets))
    if found is None:
        return {}
    edges, grid = found
    by_grid = np.argsort(grid, kind="stable")
    edges, grid = edges[by_grid], grid[by_grid]
    a, b = edges[:, :2], edges[:, 2:]
    length = np.asarray(GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]).reshape(-1)
    pieces = np.maximum(np.ceil(length / SPACING_M).astype(np.int64), 1)
    if int(pieces.sum()) + len(pieces) > MAX_SAMPLES:
        return {}
    of = np.repeat(np.arange(len(edges)), pieces + 1)
    step = np.arange(len(of)) - np.repeat(np.cumsum(pieces + 1) - (pieces + 1), pieces + 1)
    t = (step / pieces[of])[:, None]
    unit_a, unit_b = _unit(a), _unit(b)
    on = unit_a[of] + t * (unit_b[of] - unit_a[of])  # on the great circle: an edge's line
    on /= np.linalg.norm(on, axis=1)[:, None]
    lon, lat = np.degrees(np.arctan2(on[:, 1], on[:, 0])), np.degrees(np.arcsin(on[:, 2]))
    lon = a[of, 0] + (lon - a[of, 0] + 180.0) % 360.0 - 180.0
    apart = np.asarray(GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])[2]).reshape(-1)
    spacing = float(apart[of[1:] == of[:-1]].max()) if len(of) > 1 else 0.0
    return {
        "outer.edges": pack_edges(grid, a, b),
        "outer.samples": np.ascontiguousarray(ecef(lon, lat).T),
        "outer.sample_edge": of.astype(np.int32),
        "outer.spacing": np.array([spacing]),
    }


def _unit(lonlat: np.ndarray) -> np.ndarray:
    """Unit vectors of lon/lat degrees on the sphere the gnomonic measure uses."""
    lon, lat = np.radians(lonlat[:, 0]), np.radians(lonlat[:, 1])
    return np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))


class OuterEdges:
    """The outer edges of one index (:func:`outer_arrays`) and a k-d tree of their samples,
    made by each process with the index, off the request path (~115 ms at 990 066 grids:
    made on a worker's first point outside every grid, it stalled the requests behind it;
    over the mapped samples, not a copy)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.edges = arrays["outer.edges"]
        self.samples, self.of = arrays["outer.samples"], arrays["outer.sample_edge"]
        self.spacing = float(arrays["outer.spacing"][0])
        self.grid = self.edges[:, 0].astype(np.int64)
        self._tree = cKDTree(self.samples, copy_data=False)
        self._last: tuple[float, float, np.ndarray, int] | None = None

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> OuterEdges | None:
        """The index's outer edges, or None when it has none."""
        if "outer.edges" not in arrays or not len(arrays["outer.edges"]):
            return None
        return cls(arrays)

    def nearest(self, x: float, y: float, within: float) -> tuple[int, float] | None:
        """The nearest grid to a point outside every grid and the geodesic metres to it,
        as ``NearLists`` measures a block's edges (see the module); None when it may be
        farther than ``within`` metres."""
        point, first = self._first(x, y)
        _, reach = measure_edges(edges_array(self.edges, [first]), x, y)
        if reach > within:
            return None
        return measure_edges(edges_array(self.edges, self._within(point, reach)), x, y)

    def grids(self, x: float, y: float, reach: float) -> np.ndarray:
        """Sorted grids with an outer edge within ``reach`` metres of the point (more may
        come: an edge with a sample that near), or with 0 the grid of the nearest sample."""
        point, first = self._first(x, y)
        if reach <= 0:
            return self.grid[[first]]
        return np.union1d(self.grid[[first]], self.grid[self._within(point, reach)])

    def packed(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``GridIndex._packed`` of the grids' outer edges alone: all of them, packed for
        ``measure_edges`` in grid order, and each grid's span of them."""
        lo, hi = np.searchsorted(self.grid, grids), np.searchsorted(self.grid, grids, "right")
        return self.edges, np.column_stack((lo, hi))

    def _first(self, x: float, y: float) -> tuple[np.ndarray, int]:
        """The point (earth-centred) and the edge of its nearest sample; the last point's
        kept (a block's list asks at its centre twice: close grids, then those in reach —
        a query of the tree costs ~30–100 µs)."""
        if (last := self._last) is not None and last[0] == x and last[1] == y:
            return last[2], last[3]
        point = ecef_point(x, y)
        first = int(self.of[self._tree.query(point)[1]])
        self._last = (x, y, point, first)  # one assignment: another thread reads it whole
        return point, first

    def _within(self, point: np.ndarray, reach: float) -> np.ndarray:
        """Sorted edges with a sample within ``reach`` + half the spacing (+ 1 cm) of the
        point: every edge within ``reach`` metres."""
        hits = self._tree.query_ball_point(point, reach + self.spacing * 0.501 + 0.01)
        return np.unique(self.of[hits])
