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


def ring_edges(polygons: Sequence[BaseGeometry]) -> tuple[np.ndarray, np.ndarray]:
    """The edges of the polygons' rings as (start, end) vertex arrays, shells
    counter-clockwise and holes clockwise: each polygon on the left of its edges."""
    parts = shapely.get_parts(shapely.orient_polygons(np.asarray(polygons, dtype=object)))
    coords, ring = shapely.get_coordinates(shapely.get_rings(parts), return_index=True)
    inside = ring[1:] == ring[:-1]
    return coords[:-1][inside], coords[1:][inside]


def _lower_first(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each edge from its lower vertex (by x, then y) to the other, and +1 where that is
    its own direction, −1 where it is reversed."""
    forward = (a[:, 0] < b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] < b[:, 1]))
    turn = forward[:, None]
    return np.where(turn, a, b), np.where(turn, b, a), np.where(forward, 1, -1)


def _on_grid(coords: np.ndarray, grid: float) -> np.ndarray:
    """Each vertex snapped to the ``grid`` (degrees) as one integer: x cells in the high
    32 bits, y cells in the low (±180° / 1e-7° fits)."""
    cells = np.rint(coords / grid).astype(np.int64)
    return (cells[:, 0] << 32) | (cells[:, 1] & 0xFFFFFFFF)


def tiles(polygons: Sequence[BaseGeometry], whole: BaseGeometry, grid: float) -> bool:
    """Whether valid ``polygons`` tile ``whole`` (a valid polygon whose vertices are on the
    ``grid``) exactly: every edge of their rings is matched by the same edge of another
    ring, reversed, but those that, snapped to the grid, are ``whole``'s own — so each point
    of ``whole`` is in exactly one polygon and none is outside it (the winding number of a
    valid polygon's rings is 1 inside it and 0 elsewhere; the polygons' sum is then
    ``whole``'s), but for slivers narrower than the grid along ``whole``'s outline.
    False when that is not shown: the edges differ somewhere (the caller checks in full)."""
    a, b = ring_edges(polygons)
    low, high, sign = _lower_first(a, b)
    order = np.argsort(edge_hash(vertex_hash(low), vertex_hash(high)))
    low, high, sign = low[order], high[order], sign[order]
    # runs of the same edge (a hash shared by different edges only splits a run: the rest
    # then holds both directions of an edge, which cancel below, exactly)
    new = np.r_[True, (low[1:] != low[:-1]).any(axis=1) | (high[1:] != high[:-1]).any(axis=1)]
    start = np.flatnonzero(new)
    total = np.add.reduceat(sign, start)
    if not len(total) or np.abs(total).max() > 1:  # an edge twice the same way: overlaps
        return False
    rest = start[total != 0]
    forward = (total[total != 0] > 0)[:, None]
    a, b = np.where(forward, low[rest], high[rest]), np.where(forward, high[rest], low[rest])
    outline_a, outline_b = ring_edges([whole])
    a = _on_grid(np.concatenate((a, outline_b)), grid)
    b = _on_grid(np.concatenate((b, outline_a)), grid)  # whole's edges reversed: cancel
    keep = a != b  # edges the snapping shrank to a point
    a, b = a[keep], b[keep]
    if not len(a):
        return True
    low, high = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((high, low))
    low, high, sign = low[order], high[order], np.where(a < b, 1, -1)[order]
    start = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (high[1:] != high[:-1])])
    return not np.add.reduceat(sign, start).any()
