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

They are found when the index is built (:func:`outer_arrays`): each edge, turned so that its
grid is on its left (shells counter-clockwise, holes clockwise, as the ring turns), is outer
unless it and an edge of another ring with its grid on the other side are alone under their
key — a hash of the exact coordinates, one sort of integers — and are the same segment (a
hash collision keeps an edge, never drops one).  Points along each kept edge, no more than
:data:`SPACING_M` apart, are the samples a point's search starts from.

A point is measured (:meth:`OuterEdges.nearest`) as ``NearLists`` measures a block's edges
(``lookup_near.measure_edges``: per grid its edge nearest on the sphere, measured on the
ellipsoid): first the edge of the nearest sample (by the chord, in a k-d tree), whose
metres ``m`` bound the answer's; then every edge with a sample within ``m`` + half the
spacing (an edge within ``m`` has a sample that near: no path is shorter than the chord).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from gis.geo.edges import edge_hash, vertex_hash
from gis.geo.geodesy import GEOD
from gis.query.cell_shapes import Outline, ranges, wkb_outlines
from gis.query.lookup_gaps import ecef
from gis.query.lookup_near import measure_edges

SPACING_M = 60.0
"""Samples along an outer edge are no farther apart than this."""

MAX_EDGES = 20_000_000
"""Grid edges above which no outer edges are found when the index is built (~0.3 µs an
edge: 1 000 000 grids of 100 vertices would add ~30 s to its 60): the full search answers.
:func:`outer_arrays` tells it by the WKB's size before reading any."""

PART_EDGES = 4_000_000
"""Edges matched at once (~100 bytes each)."""

MAX_SAMPLES = 2_000_000
"""Samples above which none are kept (the full search answers): each worker's k-d tree
over them costs ~14 bytes a sample (the samples themselves stay in the shared file)."""


@dataclass
class _Edges:
    """Every edge of some outlines: the vertices, each vertex's hash, the edges (the
    vertex each starts at; it ends at the next), each edge's polygon, and whether its
    polygon is on its right (its ring turns the other way: shells counter-clockwise and
    holes clockwise have it on their left)."""

    coords: np.ndarray
    hashes: np.ndarray
    starts: np.ndarray
    owner: np.ndarray
    right: np.ndarray


def _part(chunks: list[Outline]) -> _Edges:
    """The edges of some outline chunks (:class:`_Edges`)."""
    parts: list[tuple[np.ndarray, ...]] = []
    offset = 0
    for coords, ring, ring_owner, hole in chunks:
        edge = np.flatnonzero(ring[:-1] == ring[1:])
        of = ring[edge]
        first = np.zeros(len(ring_owner), np.int64)
        runs = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
        first[ring[runs]] = runs  # each ring's first vertex (a ring's vertices are together)
        u, v = coords[edge] - coords[first[of]], coords[edge + 1] - coords[first[of]]
        cross = u[:, 0] * v[:, 1] - v[:, 0] * u[:, 1]  # twice the ring's signed area, summed
        counter = np.bincount(of, cross, minlength=len(ring_owner)) > 0
        parts.append((coords, edge + offset, ring_owner[of], (counter == hole)[of]))
        offset += len(coords)
    coords = np.concatenate([c for c, *_ in parts])
    starts, owner, right = (np.concatenate([part[i] for part in parts]) for i in (1, 2, 3))
    return _Edges(coords, vertex_hash(coords), starts, owner, right)


def _parts(outlines: Iterator[Outline]) -> Iterator[_Edges]:
    """The edges of ``outlines``, about :data:`PART_EDGES` at a time."""
    chunks: list[Outline] = []
    count = 0
    for chunk in outlines:
        chunks.append(chunk)
        if (count := count + len(chunk[0])) >= PART_EDGES:
            yield _part(chunks)
            chunks, count = [], 0
    if chunks:
        yield _part(chunks)


def _sorted_with_index(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.uint64]:
    """``keys`` sorted by their high bits, as (high bits, position of each, the mask of the
    high bits): one sort of plain integers, the position in the low bits (equal high bits
    for different keys only join what is then compared on the coordinates)."""
    high = np.uint64(((1 << 64) - 1) ^ ((1 << max(len(keys).bit_length(), 1)) - 1))
    ordered = np.sort((keys & high) | np.arange(len(keys), dtype=np.uint64))
    return ordered & high, (ordered & ~high).astype(np.int64), high


def _survivors(found: _Edges, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of ``found``'s edges: those ``candidate`` and not matched here by an edge of another
    ring on the other side (outer), and with them every edge starting at a vertex of one
    (kept: one for each ring through the vertex)."""
    z = found.coords.view(np.complex128)[:, 0]  # a vertex as one number
    starts = found.starts
    start, end = found.hashes[starts], found.hashes[starts + 1]
    # the same key for an edge and its reverse: a pair alone under its key may be matched
    key, at, _ = _sorted_with_index(np.minimum(edge_hash(start, end), edge_hash(end, start)))
    same = key[1:] == key[:-1]
    pair = same & np.r_[True, ~same[:-1]] & np.r_[~same[1:], True]
    first, second = at[:-1][pair], at[1:][pair]
    p, q = starts[first], starts[second]
    p_start, p_end, q_start, q_end = z[p], z[p + 1], z[q], z[q + 1]
    matched = np.where(
        found.right[first] == found.right[second],  # their polygons on either side
        (p_start == q_end) & (p_end == q_start),
        (p_start == q_start) & (p_end == q_end),
    )
    outer = candidate.copy()
    outer[first[matched]] = outer[second[matched]] = False
    key, at, high = _sorted_with_index(start)
    ends = np.unique(np.concatenate((start[outer], end[outer])) & high)
    begin, stop = np.searchsorted(key, ends), np.searchsorted(key, ends, side="right")
    kept = outer.copy()
    kept[at[ranges(begin, stop - begin)[1]]] = True  # a collision adds an edge, never wrong
    return outer, kept


def outer_edges(outlines: Iterator[Outline]) -> tuple[np.ndarray, np.ndarray] | None:
    """The edges a point outside every polygon can be nearest to (see the module) as
    (x_a, y_a, x_b, y_b) rows and their polygons; None without any polygon.

    Matched :data:`PART_EDGES` at a time (bounded memory), then the parts' survivors
    together: an edge two parts share survives in both and is matched there, and a vertex
    of the whole outline is one of each part with a grid there, whose edges starting at it
    survived."""
    rows, owners, rights, outers = [], [], [], []
    for part in _parts(outlines):
        outer, kept = _survivors(part, np.ones(len(part.starts), bool))
        at = part.starts[kept]
        rows.append(np.hstack((part.coords[at], part.coords[at + 1])))
        owners.append(part.owner[kept])
        rights.append(part.right[kept])
        outers.append(outer[kept])
    if not rows:
        return None
    edges, owner = np.concatenate(rows), np.concatenate(owners)
    if len(rows) > 1:
        coords = np.ascontiguousarray(edges.reshape(-1, 2))
        merged = _Edges(
            coords,
            vertex_hash(coords),
            np.arange(0, len(coords), 2),
            owner,
            np.concatenate(rights),
        )
        _, kept = _survivors(merged, np.concatenate(outers))
        edges, owner = edges[kept], owner[kept]
    return edges, owner


def outer_arrays(blob: np.ndarray, offsets: np.ndarray) -> dict[str, np.ndarray]:
    """The ``outer.*`` arrays of the grids stored as WKB ``blob[offsets[i]:offsets[i + 1]]``
    (none above :data:`MAX_EDGES` edges — told by the WKB's size, 16 bytes a vertex, before
    any is read — or :data:`MAX_SAMPLES` samples): the edges in grid order (x_a, y_a, x_b,
    y_b), the same packed for ``measure_edges`` (grid, lon, sin lat, cos lat of each end),
    the samples along them (earth-centred metres), each sample's edge, and the most metres
    between two samples of an edge."""
    if len(blob) > 16 * MAX_EDGES:
        return {}
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
    lat_a, lat_b = np.radians(a[:, 1]), np.radians(b[:, 1])
    ends = (a[:, 0], np.sin(lat_a), np.cos(lat_a), b[:, 0], np.sin(lat_b), np.cos(lat_b))
    packed = np.column_stack([grid.astype(float), *ends])
    return {
        "outer.coords": edges,
        "outer.edges": packed,
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
    made by each process on its first point (~10 ms for 60 000 samples; over the mapped
    samples, not a copy)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.coords, self.edges = arrays["outer.coords"], arrays["outer.edges"]
        self.samples, self.of = arrays["outer.samples"], arrays["outer.sample_edge"]
        self.spacing = float(arrays["outer.spacing"][0])
        self.grid = self.edges[:, 0].astype(np.int64)
        self._tree: cKDTree | None = None

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
        _, reach = measure_edges(self._packed([first]), x, y)
        if reach > within:
            return None
        return measure_edges(self._packed(self._within(point, reach)), x, y)

    def grids(self, x: float, y: float, reach: float) -> np.ndarray:
        """Sorted grids with an outer edge within ``reach`` metres of the point (more may
        come: an edge with a sample that near), or with 0 the grid of the nearest sample."""
        point, first = self._first(x, y)
        if reach <= 0:
            return self.grid[[first]]
        return np.union1d(self.grid[[first]], self.grid[self._within(point, reach)])

    def outlines(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``GridIndex._outlines`` of the grids' outer edges alone: their ends one after the
        other, whether each vertex starts an edge, each edge's position in ``grids``."""
        start = np.searchsorted(self.grid, grids)
        owner, edge = ranges(start, np.searchsorted(self.grid, grids, side="right") - start)
        coords = self.coords[edge].reshape(-1, 2)
        same = np.ones(len(coords) - 1 if len(coords) else 0, bool)
        same[1::2] = False
        return coords, same, owner

    def _first(self, x: float, y: float) -> tuple[np.ndarray, int]:
        """The point (earth-centred) and the edge of its nearest sample."""
        if self._tree is None:
            self._tree = cKDTree(self.samples, copy_data=False)
        point = ecef(np.array([x]), np.array([y]))[:, 0]
        return point, int(self.of[self._tree.query(point)[1]])

    def _within(self, point: np.ndarray, reach: float) -> np.ndarray:
        """Sorted edges with a sample within ``reach`` + half the spacing (+ 1 cm) of the
        point: every edge within ``reach`` metres."""
        assert self._tree is not None
        hits = self._tree.query_ball_point(point, reach + self.spacing * 0.501 + 0.01)
        return np.unique(self.of[hits])

    def _packed(self, edges: np.ndarray | list[int]) -> array:
        packed = array("d")
        packed.frombytes(np.ascontiguousarray(self.edges[edges]).tobytes())
        return packed
