"""Polygons' ring edges as arrays: exact-coordinate hashes to match them, and whether some
polygons tile another exactly, told by their edges alone (``gis.ingest.topology``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

_K1, _K2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)


def vertex_hash(coords: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each vertex's exact coordinates (equal vertices, equal hashes)."""
    bits = np.ascontiguousarray(coords).view(np.uint64)
    with np.errstate(over="ignore"):
        return bits[:, 0] * _K1 ^ (bits[:, 1] ^ (bits[:, 1] >> np.uint64(31))) * _K2


def edge_hash(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each directed edge from vertex hashes ``a`` to ``b``."""
    with np.errstate(over="ignore"):
        return a * _K2 + b


def pairs(points: np.ndarray) -> np.ndarray:
    """Complex points (x + iy) as an (n, 2) array of their coordinates, without a copy."""
    return points.view(np.float64).reshape(-1, 2)


def ring_points(
    polygons: Sequence[BaseGeometry],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The polygons' vertices as complex points (x + iy, rings closed), where each ring
    starts (and, last, where the vertices end), which rings are shells, and each ring's
    polygon (its index in ``polygons``; the parts of a collection that are no polygons have
    none).  Parts without holes (grids, nearly always) are read in one call, with no ring
    objects made."""
    parts, owner = shapely.get_parts(np.asarray(polygons, dtype=object), return_index=True)
    polygonal = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    if not polygonal.all():  # a collection's lines and points have no rings
        parts, owner = parts[polygonal], owner[polygonal]
    if shapely.get_num_interior_rings(parts).any():
        _, coords, (starts, polygon_rings, *_) = shapely.to_ragged_array(parts, include_z=False)
        rings = np.diff(polygon_rings)  # an empty part has none
        shells = np.zeros(len(starts) - 1, bool)
        shells[polygon_rings[:-1][rings > 0]] = True
        owner = np.repeat(owner, rings)
    else:
        coords, part = shapely.get_coordinates(parts, return_index=True)
        starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1], True])
        starts = starts if len(part) else starts[:1]  # no vertex: no ring
        shells = np.ones(len(starts) - 1, bool)
        owner = owner[part[starts[:-1]]]
    return np.ascontiguousarray(coords).view(np.complex128).ravel(), starts, shells, owner


def _signed_edges(polygons: Sequence[BaseGeometry]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges of the polygons' rings as (start, end) complex arrays as stored (none from
    a vertex to itself: a repeated vertex is valid), and where an edge must be turned to
    have its polygon on its left (a shell that is clockwise, a hole that is
    counter-clockwise: the sign of its area, summed from the edges' cross products about
    one vertex of the polygons, near them all)."""
    points, starts, shells, _ = ring_points(polygons)
    if not len(points):
        return points, points, np.zeros(0, bool)
    between = starts[1:-1] - 1  # from a ring's last vertex to the next ring's first
    near = points - points[0]
    cross = (near[:-1].conj() * near[1:]).imag
    cross[between] = 0
    clockwise = np.add.reduceat(cross, starts[:-1]) < 0
    keep = points[:-1] != points[1:]
    keep[between] = False
    turn = np.repeat(shells == clockwise, np.diff(starts))[:-1]  # by each edge's start
    return points[:-1][keep], points[1:][keep], turn[keep]


def ring_edges(polygons: Sequence[BaseGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """The edges of the polygons' rings as (start, end) complex arrays (x + iy), shells
    counter-clockwise and holes clockwise: each polygon on the left of its edges."""
    a, b, turn = _signed_edges(polygons)
    return np.where(turn, b, a), np.where(turn, a, b)


def _on_grid(points: np.ndarray, grid: float) -> np.ndarray:
    """Each complex point snapped to the ``grid`` (degrees) as one integer: x cells in the
    high 32 bits, y cells in the low (±180° / 1e-7° fits)."""
    cells = np.rint(pairs(points) / grid).astype(np.int64)
    return (cells[:, 0] << 32) | (cells[:, 1] & 0xFFFFFFFF)


def _cancel(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the edges from ``a`` to ``b`` (integers) cancel: each matched by the same
    edge reversed, as often.  Sorted by a hash of each edge, then exactly if two different
    edges share a hash (they would split each other's runs)."""
    low, high, sign = np.minimum(a, b), np.maximum(a, b), np.where(a < b, 1, -1)
    key = edge_hash(low.view(np.uint64), high.view(np.uint64))
    order = np.argsort(key)
    low, high, key = low[order], high[order], key[order]
    same = (low[1:] == low[:-1]) & (high[1:] == high[:-1])
    if (same != (key[1:] == key[:-1])).any():
        order = np.lexsort((high, low))
        low, high = low[order], high[order]
        same = (low[1:] == low[:-1]) & (high[1:] == high[:-1])
    return not np.add.reduceat(sign[order], np.flatnonzero(np.r_[True, ~same])).any()


def tiles(polygons: Sequence[BaseGeometry], whole: BaseGeometry, grid: float) -> bool:
    """Whether valid ``polygons`` tile ``whole`` (a valid polygon whose vertices are on the
    ``grid``) exactly: every edge of their rings is matched by the same edge of another
    ring, reversed, but those that, snapped to the grid, are ``whole``'s own — so each point
    of ``whole`` is in exactly one polygon and none is outside it (the winding number of a
    valid polygon's rings is 1 inside it and 0 elsewhere; the polygons' sum is then
    ``whole``'s), but for slivers narrower than the grid along ``whole``'s outline.
    False when that is not shown: the edges differ somewhere (the caller checks in full)."""
    a, b, turn = _signed_edges(polygons)
    # each edge from its lower vertex (by x, then y), +1 where that is its polygon-on-the-left
    # direction, -1 where it is reversed
    forward = (a.real < b.real) | ((a.real == b.real) & (a.imag < b.imag))
    low, high = np.where(forward, a, b), np.where(forward, b, a)
    sign = np.where(forward != turn, 1, -1)
    order = np.argsort(edge_hash(vertex_hash(pairs(low)), vertex_hash(pairs(high))))
    low, high, sign = low[order], high[order], sign[order]
    # runs of the same edge (a hash shared by different edges only splits a run: the rest
    # then holds both directions of an edge, which cancel below, exactly)
    start = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])])
    total = np.add.reduceat(sign, start)
    if not len(total) or np.abs(total).max() > 1:  # an edge twice the same way: overlaps
        return False
    rest, forward = start[total != 0], total[total != 0] > 0
    a, b = np.where(forward, low[rest], high[rest]), np.where(forward, high[rest], low[rest])
    outline_a, outline_b = ring_edges([whole])
    a = _on_grid(np.concatenate((a, outline_b)), grid)
    b = _on_grid(np.concatenate((b, outline_a)), grid)  # whole's edges reversed: cancel
    keep = a != b  # edges the snapping shrank to a point
    return not keep.any() or _cancel(a[keep], b[keep])
