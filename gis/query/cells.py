"""A uniform cell index over polygons: exact point-in-polygon tests only near edges.

The bounding box of the polygons is cut into square cells.  A cell that some polygon edge
passes through (or within a hair of) is *mixed*: it keeps the list of polygons whose edges
touch it, and points in it are tested exactly with GEOS.  Every other cell lies wholly
inside one polygon or outside all of them, so its answer is stored once: a run of such
cells along a row is labelled by testing the centre of its first cell.  Answers equal
``covers`` (a point on a boundary is covered); with several covering polygons the lowest
index wins, so callers order polygons by code.

An index is a few flat arrays (:meth:`CellIndex.arrays`), so it can be written once and
mapped by every process (``gis.query.lookup_file``); the polygons it tests come from any
sequence indexed by integer arrays — shapely's own array, or :class:`WkbShapes` decoding
polygons from mapped WKB on demand.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import shapely

CELLS_PER_POLYGON = 64
MIN_CELLS = 1 << 20
MAX_CELLS = 8 << 20
OUTLINE_CHUNK = 1 << 15
"""Polygons whose edges are rasterised at a time (bounded memory)."""
BLOCK = 8
"""The nearest-grid search descends blocks of BLOCK^k × BLOCK^k cells (fewer levels: less
Python per search)."""
PREPARE_ABOVE = 8
"""A batch prepares the polygons it decodes when it tests each this many times on average."""


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


def _distinct(keys: np.ndarray) -> np.ndarray:
    """Sorted distinct integers (a sort: faster than ``np.unique``'s hashing here)."""
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _ranges(start: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expand [start, start + count) ranges: (owner of each element, the element)."""
    owner = np.repeat(np.arange(len(start)), count)
    offset = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    return owner, start[owner] + offset


Outline = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Polygon outlines, some polygons at a time: the vertices (k × 2, ring after ring), each
vertex's ring (numbered within the chunk) and each ring's polygon."""


def outlines(polygons: np.ndarray) -> Iterator[Outline]:
    """The outlines of shapely ``polygons``, :data:`OUTLINE_CHUNK` at a time."""
    for s in range(0, len(polygons), OUTLINE_CHUNK):
        parts, part_of = shapely.get_parts(polygons[s : s + OUTLINE_CHUNK], return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        coords, ring_of = shapely.get_coordinates(rings, return_index=True)
        yield coords, ring_of, part_of[ring_part] + s


def wkb_outlines(blob: np.ndarray, offsets: np.ndarray) -> Iterator[Outline]:
    """The outlines of the polygons stored as WKB ``blob[offsets[i]:offsets[i + 1]]``,
    :data:`OUTLINE_CHUNK` at a time, mostly read straight from the bytes: a polygon of one
    ring (little-endian 2D ``Polygon``, or ``MultiPolygon`` of one such — what PostGIS's
    ``ST_AsBinary`` gives for grids) is its header and then its vertices, gathered with
    numpy; any other through shapely.  (Making shapely rings of a million polygons takes
    ten times as long as the rest of the index.)"""
    n = len(offsets) - 1
    for s in range(0, n, OUTLINE_CHUNK):
        first, end = offsets[s : min(s + OUTLINE_CHUNK, n)], offsets[s + 1 : s + OUTLINE_CHUNK + 1]
        k = len(first)
        head = blob[np.minimum(first[:, None] + np.arange(22), max(len(blob) - 1, 0))]

        def word(at: int, head: np.ndarray = head) -> np.ndarray:
            return np.ascontiguousarray(head[:, at : at + 4]).view("<u4")[:, 0]

        ndr = head[:, 0] == 1
        multi = ndr & (word(1) == 6) & (word(5) == 1) & (head[:, 9] == 1) & (word(10) == 3)
        multi &= word(14) == 1
        plain = ndr & (word(1) == 3) & (word(5) == 1)
        count = np.where(multi, word(18), word(9)).astype(np.int64)
        at = first + np.where(multi, 22, 13)
        simple = (multi | plain) & (end - at == 16 * count)
        vertices, ring, owner = [], [], [np.arange(s, s + k)]
        for r in range(8):  # the vertices of each residue of their offset mod 8, as doubles
            mine = np.flatnonzero(simple & (at % 8 == r))
            if len(mine):
                doubles = blob[r : r + (len(blob) - r) // 8 * 8].view("<f8")
                _, index = _ranges((at[mine] - r) // 8, 2 * count[mine])
                vertices.append(doubles[index].reshape(-1, 2))
                ring.append(np.repeat(mine, count[mine]))
        if len(others := np.flatnonzero(~simple)):
            wkb = [blob[a:b].tobytes() for a, b in zip(first[others], end[others], strict=True)]
            coords, ring_of, polygon = next(outlines(shapely.from_wkb(wkb)))
            vertices.append(coords)
            ring.append(ring_of + k)
            owner.append(others[polygon] + s)
        yield np.concatenate(vertices), np.concatenate(ring), np.concatenate(owner)


class Gaps(Protocol):
    """Distances from one point to square boxes (lower-left corners ``left``, ``low``,
    side ``side`` in degrees): a lower and an upper bound for each, in one measure."""

    def __call__(
        self, left: np.ndarray, low: np.ndarray, side: float
    ) -> tuple[np.ndarray, np.ndarray]: ...


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

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def one(self, i: int) -> Any:
        """Polygon ``i``, from the cache when recent."""
        shape = self._decoded.get(i)
        if shape is None:
            shape = shapely.from_wkb(self.blob[self.offsets[i] : self.offsets[i + 1]].tobytes())
            self._decoded[i] = shape
            if len(self._decoded) > self.cache:
                self._decoded.popitem(last=False)
        else:
            self._decoded.move_to_end(i)
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


RUN_CHUNK = 200_000
"""(Run, polygon) pairs tested at a time: a band of rows, whose polygons alone are decoded
when they come as WKB (:class:`WkbShapes`)."""


class CellIndex:
    """Cells over ``polygons`` (an array of prepared shapely polygons/multipolygons)."""

    ARRAYS = ("labels", "candidate_start", "candidates", "frame")
    """What :meth:`arrays` gives and :meth:`from_arrays` takes."""

    def __init__(
        self, polygons: Shapes, tree: shapely.STRtree, edges: Iterator[Outline] | None = None
    ) -> None:
        """``tree``: an STRtree of ``polygons`` or of their bounding boxes; ``edges``: the
        outlines of ``polygons`` (:func:`wkb_outlines`; by default :func:`outlines`)."""
        self.polygons: Shapes = polygons
        self._levels: list[np.ndarray] | None = None
        n = max(len(polygons), 1)
        x0, y0, x1, y1 = shapely.total_bounds(tree.geometries) if len(polygons) else (0, 0, 1, 1)
        target = min(MAX_CELLS, max(MIN_CELLS, CELLS_PER_POLYGON * n))
        size = float(np.sqrt(max((x1 - x0) * (y1 - y0), 1e-12) / target))
        self.size = size
        self.x0, self.y0 = x0 - size, y0 - size
        self.nx = int(np.ceil((x1 - x0) / size)) + 3
        self.ny = int(np.ceil((y1 - y0) / size)) + 3
        eps = 1e-9 + 1e-12 * max(abs(x0), abs(x1), abs(y0), abs(y1))
        mixed_cell, mixed_polygon = self._edge_cells(
            outlines(polygons) if edges is None else edges, n, eps
        )
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
        hit = np.zeros(len(point), dtype=bool)
        for a in range(0, len(point), RUN_CHUNK):  # runs are in row order: a band at a time
            at = slice(a, a + RUN_CHUNK)
            hit[at] = shapely.intersects_xy(polygons[polygon[at]], cx[point[at]], cy[point[at]])
        label = _lowest(point[hit], polygon[hit], len(runs))
        labels[free] = label[(np.cumsum(first) - 1)[free]]
        self.labels = labels

    def arrays(self) -> dict[str, np.ndarray]:
        """The index as flat arrays (the polygons are not in them)."""
        frame = np.array([self.x0, self.y0, self.size, self.nx, self.ny], dtype=np.float64)
        return {
            "labels": self.labels,
            "candidate_start": self.candidate_start,
            "candidates": self.candidates,
            "frame": frame,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], polygons: Shapes) -> CellIndex:
        """The index :meth:`arrays` gave, over the same ``polygons`` (in the same order)."""
        index = cls.__new__(cls)
        index.polygons, index._levels = polygons, None
        index.labels = arrays["labels"]
        index.candidate_start = arrays["candidate_start"]
        index.candidates = arrays["candidates"]
        x0, y0, size, nx, ny = arrays["frame"].tolist()
        index.x0, index.y0, index.size, index.nx, index.ny = x0, y0, size, int(nx), int(ny)
        return index

    def _edge_cells(
        self, edges: Iterator[Outline], n: int, eps: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (cell, polygon) pairs for every cell an edge passes within eps of,
        and no other (a cell wholly inside a polygon must not list only others).

        Linear in edges, some polygons at a time (bounded memory): each vertex's column and
        row range (± eps) once; an edge within one column spanning at most two rows (or one
        row, two columns) passes exactly the cells of its box; any other — crossing a column
        and a row, or longer — is followed column by column (:meth:`_long_edges`)."""
        keys = []
        for coords, ring, ring_owner in edges:
            x, y = coords[:, 0], coords[:, 1]
            c0 = ((x - eps - self.x0) / self.size).astype(np.int64)
            c1 = ((x + eps - self.x0) / self.size).astype(np.int64)
            r0 = ((y - eps - self.y0) / self.size).astype(np.int64)
            r1 = ((y + eps - self.y0) / self.size).astype(np.int64)
            left, right = np.minimum(c0[:-1], c0[1:]), np.maximum(c1[:-1], c1[1:])
            low, high = np.minimum(r0[:-1], r0[1:]), np.maximum(r1[:-1], r1[1:])
            edge = ring[:-1] == ring[1:]
            owner = ring_owner[ring[:-1]]
            wide, tall = right - left, high - low
            short = edge & (((wide == 0) & (tall <= 1)) | ((tall == 0) & (wide <= 1)))
            key = (low * self.nx + left) * n + owner
            first = key[short]  # consecutive repeats dropped: an outline stays in a cell a while
            keys += [
                first[np.r_[True, first[1:] != first[:-1]]] if len(first) else first,
                key[short & (wide == 1)] + n,
                key[short & (tall == 1)] + self.nx * n,
            ]
            if len(long := np.flatnonzero(edge & ~short)):
                keys.append(self._long_edges(coords[long], coords[long + 1], owner[long], eps, n))
        key = _distinct(np.concatenate(keys)) if keys else np.empty(0, dtype=np.int64)
        return key // n, key % n

    def _long_edges(
        self, a: np.ndarray, b: np.ndarray, owner: np.ndarray, eps: float, n: int
    ) -> np.ndarray:
        """Keys (cell × n + polygon) of the cells edges a→b pass within eps of: the columns
        each spans, then the rows it spans within each column."""
        size = self.size
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
        return _distinct((row * self.nx + col[piece]) * n + owner[edge[piece]])

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

    def _blocks(self) -> list[np.ndarray]:
        """Per k = 0, 1, …: whether each block of BLOCK^k × BLOCK^k cells holds a mixed cell (rows
        × columns; the last level is one block) — made once, when first searched."""
        if self._levels is None:
            level = (self.labels <= -2).reshape(self.ny, self.nx)
            levels = [level]
            while level.shape != (1, 1):
                ny, nx = -(-level.shape[0] // BLOCK), -(-level.shape[1] // BLOCK)
                padded = np.zeros((ny * BLOCK, nx * BLOCK), dtype=bool)
                padded[: level.shape[0], : level.shape[1]] = level
                level = padded.reshape(ny, BLOCK, nx, BLOCK).any(axis=(1, 3))
                levels.append(level)
            self._levels = levels
        return self._levels

    def _search(self, gaps: Gaps, reach: float | None) -> np.ndarray:
        """The mixed cells (flat numbers) whose distance from a point (``gaps``: a lower
        and an upper bound of the distance to each box) may be within ``reach``; with
        ``reach`` None, those whose lower bound is least.  Descends the blocks of
        :meth:`_blocks`, keeping only blocks that hold a mixed cell and are close enough
        (for the least: no farther than the upper bound of some such block)."""
        levels = self._blocks()
        sub_row, sub_col = np.divmod(np.arange(BLOCK * BLOCK), BLOCK)
        rows = cols = np.zeros(1, dtype=np.int64)
        for k in range(len(levels) - 1, -1, -1):
            level = levels[k]
            if k < len(levels) - 1:
                rows = (rows[:, None] * BLOCK + sub_row).ravel()
                cols = (cols[:, None] * BLOCK + sub_col).ravel()
                keep = (rows < level.shape[0]) & (cols < level.shape[1])
                rows, cols = rows[keep], cols[keep]
            keep = level[rows, cols]
            rows, cols = rows[keep], cols[keep]
            if not len(rows):
                break
            side = self.size * BLOCK**k
            lower, upper = gaps(self.x0 + cols * side, self.y0 + rows * side, side)
            limit = reach if reach is not None else float(upper.min() if k else lower.min())
            keep = lower <= limit
            rows, cols = rows[keep], cols[keep]
        return rows * self.nx + cols

    def _listed(self, cells: np.ndarray) -> np.ndarray:
        """The polygons (sorted indices) listed in mixed ``cells``."""
        slot = -2 - self.labels[cells].astype(np.int64)
        start = self.candidate_start[slot]
        _, candidate = _ranges(start, self.candidate_start[slot + 1] - start)
        return np.unique(self.candidates[candidate]).astype(np.int64)

    def near(self, gaps: Gaps, reach: float) -> np.ndarray:
        """The polygons (sorted indices) listed in a cell whose distance from a point
        (``gaps``) may be within ``reach``: with a true lower bound, every polygon whose
        outline is that close is among them (an outline passes only through cells that
        list its polygon)."""
        return self._listed(self._search(gaps, reach))

    def closest(self, x: float, y: float, gaps: Gaps) -> np.ndarray:
        """The polygons (sorted indices) of a mixed cell near the point: those of the mixed
        cells among the 3 × 3 around it, else of the one nearest (``gaps``; none without
        mixed cells) — some outlines close by, whose distance bounds a search."""
        row, col = int((y - self.y0) / self.size), int((x - self.x0) / self.size)
        if 1 <= row < self.ny - 1 and 1 <= col < self.nx - 1:
            around = self.labels.reshape(self.ny, self.nx)[row - 1 : row + 2, col - 1 : col + 2]
            rows, cols = np.nonzero(around <= -2)
            if len(rows):
                return self._listed((rows + row - 1) * self.nx + cols + col - 1)
        return self._listed(self._search(gaps, None)[:1])

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
