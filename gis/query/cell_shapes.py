"""Polygons and their outlines for the cell index (``gis.query.cells``): from an array of
shapely polygons, or decoded on demand from WKB in mapped arrays (shared by every process).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from functools import partial
from typing import Any, Protocol

import numpy as np
import shapely

from gis.geo.halves import in_halves
from gis.query import _wkb

OUTLINE_CHUNK = 1 << 15
"""Polygons whose edges are rasterised at a time (bounded memory) ..."""
OUTLINE_VERTICES = 1 << 22
"""... and at most this many vertices among them (64 MiB of coordinates), at least one
polygon: 32 768 grids of ~100 vertices are ~3.3 M, but as many communities of ~900 are
~29 M, and each array made of them ~0.5 GB (the province's build peaked there)."""
PREPARE_ABOVE = 8
"""A batch prepares the polygons it decodes when it tests each this many times on average."""
LONG_BYTES = 256 * 1024
"""A polygon of more WKB than this (~16 000 vertices: a county's outline) is tested by
GEOS prepared, not scanned by the compiled test (``gis/query/_cells.c``'s SCAN_MOST_BYTES:
~3 ns a vertex, 600 µs a point beside a county of 200 000, against a few µs); single
lookups keep the last :data:`LONG_KEPT` decoded and prepared (~52 bytes a vertex).  Shorter
ones are scanned: decoding and preparing a street of 5 500 vertices (~150 µs) pays only
where the same one is asked again and again, and points met for the first time (a far
point's first request) meet new ones."""
LONG_KEPT = 64
COVERS_SPLIT_AT = 100_000
"""Pairs of a batch (:func:`covers_xy`) below this many are scanned in the caller's thread
alone; more in two halves at once (the scan releases the GIL; ~0.25 µs a pair of a grid of
~100 vertices)."""


def ranges(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand [start, start + count) ranges: (owner of each element, the element)."""
    owner = np.repeat(np.arange(len(start)), count)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    return owner, start[owner] + offset


Outline = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Polygon outlines, some polygons at a time: the vertices (k × 2, ring after ring), each
vertex's ring (numbered within the chunk), each ring's polygon and whether it is a hole (a
ring after the first of its part)."""


def chunks(before: np.ndarray) -> Iterator[tuple[int, int]]:
    """Cut polygons into runs [s, e) of at most :data:`OUTLINE_CHUNK` polygons and
    :data:`OUTLINE_VERTICES` vertices (at least one polygon each); ``before[i]`` counts the
    vertices before polygon ``i`` (its last entry: all of them)."""
    n, s = len(before) - 1, 0
    while s < n:
        e = int(np.searchsorted(before, before[s] + OUTLINE_VERTICES, side="right")) - 1
        e = min(max(e, s + 1), s + OUTLINE_CHUNK, n)
        yield s, e
        s = e


def outlines(polygons: np.ndarray) -> Iterator[Outline]:
    """The outlines of shapely ``polygons``, a bounded run (:func:`chunks`) at a time."""
    before = np.r_[0, np.cumsum(shapely.get_num_coordinates(polygons))]
    for s, e in chunks(before):
        coords, ring_of, polygon, hole = _outline(polygons[s:e])
        yield coords, ring_of, polygon + s, hole


def _outline(polygons: np.ndarray) -> Outline:
    """The outline of shapely ``polygons``, all at once."""
    parts, part_of = shapely.get_parts(polygons, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    return coords, ring_of, part_of[ring_part], np.r_[False, ring_part[1:] == ring_part[:-1]]


def wkb_outlines(blob: np.ndarray, offsets: np.ndarray) -> Iterator[Outline]:
    """The outlines of the polygons stored as WKB ``blob[offsets[i]:offsets[i + 1]]``,
    a bounded run (:func:`chunks`, 16 bytes a vertex) at a time, read compiled
    (``gis/query/_wkb.c``: little-endian 2D polygons and multipolygons, what PostGIS's
    ``ST_AsBinary`` gives); any other through shapely.  (Making shapely rings of a million
    polygons takes ten times as long as the rest of the index; gathering their vertices
    with numpy took ~4.5 s a pass of a province's grids, twice a build.)"""
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    for s, e in chunks(offsets // 16):
        mine = offsets[s : e + 1]
        vertices, rings = np.empty(e - s, np.int64), np.empty(e - s, np.int64)
        refused = _wkb.counts(blob, mine, vertices, rings)
        read = vertices >= 0
        coords = np.empty((int(vertices[read].sum()), 2))
        ring = np.empty(len(coords), np.int64)
        owner = np.empty(int(rings[read].sum()), np.int64)
        hole = np.empty(len(owner), bool)
        _wkb.outline(blob, mine, coords, ring, owner, hole, s)
        if refused:
            others = np.flatnonzero(~read)
            wkb = [bytes(blob[mine[i] : mine[i + 1]]) for i in others.tolist()]
            more, ring_of, polygon, holes = _outline(shapely.from_wkb(wkb))
            coords = np.concatenate([coords, more])
            ring = np.concatenate([ring, ring_of + len(owner)])
            owner = np.concatenate([owner, others[polygon] + s])
            hole = np.concatenate([hole, holes])
        yield coords, ring, owner, hole


def wkb_bounds(blob: bytes | np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Each WKB polygon's (x0, y0, x1, y1) in ``blob`` (``offsets``: n + 1), as
    ``shapely.bounds`` gives them: read compiled (``gis/query/_wkb.c``), no polygon decoded
    (decoding a province's million grids for their bounds took ~6 s); those the reader
    leaves (another byte order, Z/M, empty) from shapely."""
    out = np.empty((len(offsets) - 1, 4))
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if _wkb.bounds(blob, offsets, out):
        left = np.flatnonzero(np.isnan(out).any(axis=1))
        data = memoryview(blob).cast("B")
        wkb = [bytes(data[offsets[i] : offsets[i + 1]]) for i in left.tolist()]
        out[left] = shapely.bounds(shapely.from_wkb(wkb)).reshape(-1, 4)
    return out


class Shapes(Protocol):
    """Polygons by index: ``shapes[indices]`` is an array of shapely geometries."""

    def __getitem__(self, indices: Any) -> np.ndarray: ...

    def __len__(self) -> int: ...


class WkbShapes:
    """Polygons decoded on demand from WKB ``blob[offsets[i]:offsets[i + 1]]`` (mapped
    arrays: shared by every process), the last ``cache`` single ones kept decoded (the
    candidates of the cells a worker's points fall in recur).  WKB keeps coordinates
    exactly, so GEOS decides on the very polygons PostGIS stores."""

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, cache: int = 4096) -> None:
        self.blob, self.offsets, self.cache = blob, offsets, cache
        self._decoded: OrderedDict[int, Any] = OrderedDict()
        self._long: OrderedDict[int, Any] = OrderedDict()
        """The last :data:`LONG_KEPT` long polygons, prepared."""

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def one(self, i: int) -> Any:
        """Polygon ``i``, from the cache when recent; a long one (:data:`LONG_BYTES`)
        prepared."""
        start, end = int(self.offsets[i]), int(self.offsets[i + 1])
        kept = self._long if end - start > LONG_BYTES else self._decoded
        shape = kept.get(i)
        if shape is None:
            shape = shapely.from_wkb(self.blob[start:end].tobytes())
            if kept is self._long:
                shapely.prepare(shape)
            kept[i] = shape
            if len(kept) > (LONG_KEPT if kept is self._long else self.cache):
                kept.popitem(last=False)
        else:
            kept.move_to_end(i)
        return shape

    def __getitem__(self, indices: Any) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) <= 64:  # single lookups: through the cache
            found = np.empty(len(indices), dtype=object)
            found[:] = [self.one(i) for i in indices.tolist()]
            return found
        unique, where = np.unique(indices, return_inverse=True)  # batches: each decoded once
        start, end = self.offsets[unique], self.offsets[unique + 1]
        blob = self.blob
        shapes = shapely.from_wkb([blob[a:b].tobytes() for a, b in zip(start, end, strict=True)])
        if len(indices) >= PREPARE_ABOVE * len(unique):
            shapely.prepare(shapes)
        return shapes[where]


def covers_xy(polygons: Shapes, which: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether polygon ``which[i]`` covers point (``x[i]``, ``y[i]``) (a point on its boundary
    is covered): WKB polygons (:class:`WkbShapes`) by the compiled crossing number
    (``gis/query/_wkb.c``), GEOS deciding the points within a hair of an edge and what the
    reader refuses; shapely's polygons by GEOS."""
    if not isinstance(polygons, WkbShapes):
        return shapely.intersects_xy(polygons[which], x, y)
    which = np.ascontiguousarray(which, dtype=np.int64)
    x, y = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
    offsets = np.ascontiguousarray(polygons.offsets, dtype=np.int64)
    scan = partial(_scanned, polygons.blob, offsets)
    out = in_halves(scan, which, x, y, at=COVERS_SPLIT_AT)
    if (left := np.flatnonzero(out < 0)).size:
        out[left] = shapely.intersects_xy(polygons[which[left]], x[left], y[left])
    return out.astype(bool)


def _scanned(
    blob: np.ndarray, offsets: np.ndarray, which: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """``_wkb.covers`` of the pairs: 1 covered, 0 not, -1 undecided."""
    out = np.empty(len(which), dtype=np.int8)
    _wkb.covers(blob, offsets, which, x, y, out)
    return out
