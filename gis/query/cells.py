"""A uniform cell index over polygons: exact point-in-polygon tests only near edges.

The bounding box of the polygons is cut into square cells.  A cell that some polygon edge
passes through (or within a hair of) is *mixed*: it keeps the list of polygons whose edges
touch it, and points in it are tested exactly with GEOS.  Every other cell lies wholly
inside one polygon or outside all of them, so its answer is stored once: a run of such
cells along a row is labelled by testing the centre of its first cell.  Answers equal
``covers`` (a point on a boundary is covered); with several covering polygons the lowest
index wins, so callers order polygons by code.  Where the cells are coarse beside the
polygons (a box mostly empty), crowded mixed cells are cut into sub-cells labelled the same
way (:meth:`CellIndex._refine`).  A single point is answered by compiled code
(:meth:`CellIndex.covering_point`, ``gis/query/_cells.c``) over the same arrays, GEOS deciding
the points within a hair of an edge.

An index is a few flat arrays (:meth:`CellIndex.arrays`), so it can be written once and
mapped by every process (``gis.query.lookup_file``); the polygons it tests come from any
sequence indexed by integer arrays — shapely's own array, or
:class:`gis.query.cell_shapes.WkbShapes` decoding polygons from mapped WKB on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import shapely

from gis.query import _cells
from gis.query.boxes import BoxTree
from gis.query.cell_shapes import Outline, Shapes, WkbShapes, covers_xy, outlines, ranges

CELLS_PER_POLYGON = 64
MIN_CELLS = 1 << 20
MAX_CELLS = 8 << 20
BLOCK = 8
"""The nearest-grid search descends blocks of BLOCK^k × BLOCK^k cells (fewer levels: less
Python per search)."""
CROWDED = 2
"""A mixed cell listing more polygons than this is refined (:meth:`CellIndex._refine`) when
cells are coarse beside the polygons."""
REFINE_FROM = 4
"""Cells are refined when a typical polygon is no more than 8/REFINE_FROM cells wide (then
into REFINE_FROM or more sub-cells a side)."""


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


class Gaps(Protocol):
    """Distances from one point to square boxes (lower-left corners ``left``, ``low``,
    side ``side`` in degrees): a lower and an upper bound for each, in one measure."""

    def __call__(
        self, left: np.ndarray, low: np.ndarray, side: float
    ) -> tuple[np.ndarray, np.ndarray]: ...


RUN_CHUNK = 200_000
"""(Run, polygon) pairs tested at a time: a band of rows, whose polygons alone are decoded
where GEOS decides (:func:`gis.query.cell_shapes.covers_xy`)."""


class CellIndex:
    """Cells over ``polygons`` (an array of prepared shapely polygons/multipolygons)."""

    ARRAYS = ("labels", "candidate_start", "candidates", "refined", "sub_labels", "frame")
    """What :meth:`arrays` gives and :meth:`from_arrays` takes."""

    def __init__(
        self,
        polygons: Shapes,
        bounds: np.ndarray,
        edges: Callable[[], Iterator[Outline]] | None = None,
    ) -> None:
        """``bounds``: each polygon's (x0, y0, x1, y1); ``edges``: makes the outlines of
        ``polygons`` (:func:`wkb_outlines`; by default :func:`outlines`)."""
        self.polygons: Shapes = polygons
        self._levels: list[np.ndarray] | None = None
        n = max(len(polygons), 1)
        tree = BoxTree(bounds)
        x0, y0, x1, y1 = tree.total_bounds() if len(polygons) else (0, 0, 1, 1)
        target = min(MAX_CELLS, max(MIN_CELLS, CELLS_PER_POLYGON * n))
        size = float(np.sqrt(max((x1 - x0) * (y1 - y0), 1e-12) / target))
        self.size = size
        self.x0, self.y0 = x0 - size, y0 - size
        self.nx = int(np.ceil((x1 - x0) / size)) + 3
        self.ny = int(np.ceil((y1 - y0) / size)) + 3
        eps = 1e-9 + 1e-12 * max(abs(x0), abs(x1), abs(y0), abs(y1))
        make = edges or (lambda: outlines(polygons))
        mixed_cell, mixed_polygon = self._edge_cells(make(), n, eps, 1, None)
        self.labels, self.candidate_start, self.candidates = self._label(
            self.nx * self.ny, self.nx, mixed_cell, mixed_polygon, self._centres, polygons, tree
        )
        self.split = 1
        self.refined = np.empty(0, dtype=np.int32)
        self.sub_labels = np.empty(0, dtype=np.int32)
        self._refine(polygons, tree, make, n, eps)
        self._scan = self._compiled()

    def _centres(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centres of (top-level) ``cells``."""
        return (
            self.x0 + (cells % self.nx + 0.5) * self.size,
            self.y0 + (cells // self.nx + 0.5) * self.size,
        )

    @staticmethod
    def _label(
        count: int,
        row: int,
        mixed_cell: np.ndarray,
        mixed_polygon: np.ndarray,
        centres: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
        polygons: Shapes,
        tree: BoxTree,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels of ``count`` cells in rows of ``row`` (a polygon's index, -1 for none, or
        -2 - slot for a mixed cell), the slots' starts in the candidates, the candidates:
        a run of free cells along a row lies in one face, so one centre per run is tested."""
        labels = np.full(count, -1, dtype=np.int32)
        starts = np.flatnonzero(np.r_[True, mixed_cell[1:] != mixed_cell[:-1]])
        labels[mixed_cell[starts]] = -2 - np.arange(len(starts), dtype=np.int32)
        free = labels == -1
        first = free.copy()
        first[1:] &= ~free[:-1]
        first[::row] = free[::row]
        runs = np.flatnonzero(first)
        cx, cy = centres(runs)
        point, polygon = tree.query(cx, cy)
        hit = np.zeros(len(point), dtype=bool)
        for a in range(0, len(point), RUN_CHUNK):  # runs are in row order: a band at a time
            at = slice(a, a + RUN_CHUNK)
            hit[at] = covers_xy(polygons, polygon[at], cx[point[at]], cy[point[at]])
        label = _lowest(point[hit], polygon[hit], len(runs))
        labels[free] = label[(np.cumsum(first) - 1)[free]]
        return (
            labels,
            np.append(starts, len(mixed_polygon)).astype(np.int64),
            mixed_polygon.astype(np.int32),
        )

    def _refine(
        self,
        polygons: Shapes,
        tree: BoxTree,
        make: Callable[[], Iterator[Outline]],
        n: int,
        eps: float,
    ) -> None:
        """Where cells are coarse beside the polygons (polygons over a box mostly empty: a
        county beside a city far away, a province's scattered towns), cut each mixed cell
        listing more than :data:`CROWDED` polygons into ``split`` × ``split`` sub-cells
        labelled as cells are; their lists follow the cells' in the candidates (slots after
        the cells'), so a point in a refined cell tests the few polygons of its sub-cell.
        ``refined`` gives each cell's slot its refined cell's number (-1: not refined),
        ``sub_labels`` the sub-cells, split × split per refined cell, row by row."""
        slots = len(self.candidate_start) - 1
        crowded = np.flatnonzero(np.diff(self.candidate_start) > CROWDED)
        if not len(crowded):
            return
        boxes = tree.bounds
        typical = float(
            np.median(
                np.sqrt(
                    np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-24)
                )
            )
        )
        split = int(self.size * np.sqrt(CELLS_PER_POLYGON) / typical)  # ≥ 4: grids ≤ 2 cells wide
        split = min(split, int(np.sqrt(MAX_CELLS / max(len(crowded), 1))))
        if split < REFINE_FROM:
            return
        # slots are numbered in cell order (``_label``): slot j is the j-th mixed cell
        cells = np.flatnonzero(self.labels <= -2)[crowded]
        refined = np.full(slots, -1, dtype=np.int32)
        refined[crowded] = np.arange(len(crowded), dtype=np.int32)
        ordinal = np.full(self.nx * self.ny, -1, dtype=np.int64)
        ordinal[cells] = np.arange(len(cells))
        sub_cell, sub_polygon = self._edge_cells(make(), n, eps, split, ordinal)
        size = self.size / split

        def centres(sub: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            cell, within = np.divmod(sub, split * split)
            row, col = np.divmod(within, split)
            top = cells[cell]
            return (
                self.x0 + ((top % self.nx) * split + col + 0.5) * size,
                self.y0 + ((top // self.nx) * split + row + 0.5) * size,
            )

        sub_labels, sub_start, sub_candidates = self._label(
            len(cells) * split * split, split, sub_cell, sub_polygon, centres, polygons, tree
        )
        sub_labels[sub_labels <= -2] -= slots  # their slots follow the cells'
        self.candidate_start = np.r_[
            self.candidate_start[:-1], sub_start + self.candidate_start[-1]
        ]
        self.candidates = np.r_[self.candidates, sub_candidates]
        self.split, self.refined, self.sub_labels = split, refined, sub_labels

    def arrays(self) -> dict[str, np.ndarray]:
        """The index as flat arrays (the polygons are not in them)."""
        frame = [self.x0, self.y0, self.size, self.nx, self.ny, self.split]
        return {
            "labels": self.labels,
            "candidate_start": self.candidate_start,
            "candidates": self.candidates,
            "refined": self.refined,
            "sub_labels": self.sub_labels,
            "frame": np.array(frame, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], polygons: Shapes) -> CellIndex:
        """The index :meth:`arrays` gave, over the same ``polygons`` (in the same order)."""
        index = cls.__new__(cls)
        index.polygons, index._levels = polygons, None
        index.labels = arrays["labels"]
        index.candidate_start = arrays["candidate_start"]
        index.candidates = arrays["candidates"]
        index.refined, index.sub_labels = arrays["refined"], arrays["sub_labels"]
        x0, y0, size, nx, ny, split = arrays["frame"].tolist()
        index.x0, index.y0, index.size, index.nx, index.ny = x0, y0, size, int(nx), int(ny)
        index.split = int(split)
        index._scan = index._compiled()
        return index

    def _compiled(self) -> _cells.Cells:
        """The arrays held (not copied) by compiled code for :meth:`covering_point`; with
        polygons that are not mapped WKB its mixed cells are all left to GEOS."""
        if isinstance(self.polygons, WkbShapes):
            wkb, offsets = self.polygons.blob, self.polygons.offsets
        else:
            wkb, offsets = np.empty(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
        types = {"labels": np.int32, "candidate_start": np.int64, "candidates": np.int32}
        types |= {"refined": np.int32, "sub_labels": np.int32}
        held = [np.asarray(getattr(self, name), dtype=t) for name, t in types.items()]
        frame = (self.x0, self.y0, self.size, self.nx, self.ny, self.split)
        return _cells.Cells(*held, wkb, offsets, *frame)  # mapped arrays held, not copied

    def _edge_cells(
        self, edges: Iterator[Outline], n: int, eps: float, split: int, ordinal: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique (cell, polygon) pairs for every cell an edge passes within eps of,
        and no other (a cell wholly inside a polygon must not list only others).  With
        ``split`` > 1 the sub-cells of the refined cells (``ordinal``: each cell's number
        among them, -1 for the others), numbered as ``sub_labels`` is.

        Linear in edges, some polygons at a time (bounded memory): each vertex's column and
        row range (± eps) once; an edge within one column spanning at most two rows (or one
        row, two columns) passes exactly the cells of its box; any other — crossing a column
        and a row, or longer — is followed column by column (:meth:`_long_edges`)."""
        size, nx = self.size / split, self.nx * split
        keys = []
        for coords, ring, ring_owner, _ in edges:
            x, y = coords[:, 0], coords[:, 1]
            c0 = ((x - eps - self.x0) / size).astype(np.int64)
            c1 = ((x + eps - self.x0) / size).astype(np.int64)
            r0 = ((y - eps - self.y0) / size).astype(np.int64)
            r1 = ((y + eps - self.y0) / size).astype(np.int64)
            left, right = np.minimum(c0[:-1], c0[1:]), np.maximum(c1[:-1], c1[1:])
            low, high = np.minimum(r0[:-1], r0[1:]), np.maximum(r1[:-1], r1[1:])
            edge = ring[:-1] == ring[1:]
            owner = ring_owner[ring[:-1]]
            wide, tall = right - left, high - low
            short = edge & (((wide == 0) & (tall <= 1)) | ((tall == 0) & (wide <= 1)))
            key = (low * nx + left) * n + owner
            first = key[short]  # consecutive repeats dropped: an outline stays in a cell a while
            found = [
                first[np.r_[True, first[1:] != first[:-1]]] if len(first) else first,
                key[short & (wide == 1)] + n,
                key[short & (tall == 1)] + nx * n,
            ]
            if len(long := np.flatnonzero(edge & ~short)):
                found.append(
                    self._long_edges(coords[long], coords[long + 1], owner[long], eps, n, split)
                )
            chunk = np.concatenate(found)
            keys.append(chunk if ordinal is None else self._sub_keys(chunk, n, split, ordinal))
        key = _distinct(np.concatenate(keys)) if keys else np.empty(0, dtype=np.int64)
        return key // n, key % n

    def _sub_keys(self, key: np.ndarray, n: int, split: int, ordinal: np.ndarray) -> np.ndarray:
        """Keys (sub-cell × n + polygon) of the keys (fine cell × n + polygon) whose cell
        is refined; the others dropped."""
        row, col = np.divmod(key // n, self.nx * split)
        cell = ordinal[(row // split) * self.nx + col // split]
        keep = cell >= 0
        sub = (cell * split + row % split) * split + col % split
        return (sub * n + key % n)[keep]

    def _long_edges(
        self, a: np.ndarray, b: np.ndarray, owner: np.ndarray, eps: float, n: int, split: int
    ) -> np.ndarray:
        """Keys (cell × n + polygon, cells of side ``size / split``) of the cells edges a→b
        pass within eps of: the columns each spans, then the rows it spans within each."""
        size, nx = self.size / split, self.nx * split
        left = np.minimum(a[:, 0], b[:, 0]) - eps
        right = np.maximum(a[:, 0], b[:, 0]) + eps
        col0 = ((left - self.x0) / size).astype(np.int64)
        ncol = ((right - self.x0) / size).astype(np.int64) - col0 + 1
        edge, col = ranges(col0, ncol)
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
        piece, row = ranges(row0, nrow)
        return _distinct((row * nx + col[piece]) * n + owner[edge[piece]])

    def covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """For each point the lowest index of a polygon covering it, or -1."""
        fx = (lon - self.x0) / self.size
        fy = (lat - self.y0) / self.size
        inside = np.flatnonzero((fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny))
        label = self.labels[fy[inside].astype(np.int64) * self.nx + fx[inside].astype(np.int64)]
        if self.split > 1:
            label = self._sub_labels(label, fx[inside], fy[inside])
        found = np.full(len(lon), -1, dtype=np.int64)
        found[inside] = np.maximum(label, -1)
        mixed = label <= -2
        where = inside[mixed]
        slot = -2 - label[mixed]
        start = self.candidate_start[slot]
        count = self.candidate_start[slot + 1] - start
        point, candidate = ranges(start, count)
        candidate = self.candidates[candidate]
        order = np.argsort(candidate, kind="stable")  # polygons tested in memory order
        point, candidate = point[order], candidate[order]
        p = where[point]
        hit = covers_xy(self.polygons, candidate, lon[p], lat[p])
        found[where] = _lowest(point[hit], candidate[hit], len(where))
        return found

    def _sub_labels(self, label: np.ndarray, fx: np.ndarray, fy: np.ndarray) -> np.ndarray:
        """``label`` (of the cells at ``fx``, ``fy`` in cells) with the labels of points in
        refined cells replaced by their sub-cells'."""
        mixed = np.flatnonzero(label <= -2)
        refined = self.refined[-2 - label[mixed].astype(np.int64)]
        at, refined = mixed[refined >= 0], refined[refined >= 0].astype(np.int64)
        s = self.split
        col = np.minimum(((fx[at] - np.floor(fx[at])) * s).astype(np.int64), s - 1)
        row = np.minimum(((fy[at] - np.floor(fy[at])) * s).astype(np.int64), s - 1)
        label = label.copy()
        label[at] = self.sub_labels[(refined * s + row) * s + col]
        return label

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
        _, candidate = ranges(start, self.candidate_start[slot + 1] - start)
        return np.unique(self.candidates[candidate]).astype(np.int64)

    def box_cover(self, x0: float, y0: float, x1: float, y1: float, most: int = 64) -> int | None:
        """The polygon :meth:`covering_point` answers for every point of the box: the one
        covering it where no other meets it, -1 where none meets it; None where that may
        vary (more than one meets it, one meets it without covering it) or the box overlaps
        more than ``most`` cells.  The polygons its cells list are placed by the compiled
        scan (``_cells.Cells.box``); one with an edge within ~0.2 mm of the box's sides (or
        too long to scan) by GEOS's exact predicates."""
        found = self._scan.box(x0, y0, x1, y1, most)
        if found is None:
            return None
        polygons, relations = found
        if _cells.BOX_ACROSS in relations or relations.count(_cells.BOX_COVERED) > 1:
            return None
        square = None
        for i in (i for i, how in enumerate(relations) if how == _cells.UNDECIDED):
            square = shapely.box(x0, y0, x1, y1) if square is None else square
            polygon = self.polygons[[polygons[i]]][0]
            if shapely.covers(polygon, square):
                relations[i] = _cells.BOX_COVERED
            elif shapely.intersects(polygon, square):
                return None
            else:
                relations[i] = _cells.BOX_APART
        covering = [
            p for p, how in zip(polygons, relations, strict=True) if how == _cells.BOX_COVERED
        ]
        return None if len(covering) > 1 else covering[0] if covering else -1

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
        """``covering`` for a single point, without the cost of arrays: compiled, GEOS
        deciding a point within ~0.1 mm of a candidate's edge, and among candidates too
        long to scan (``cell_shapes.LONG_BYTES``: prepared, O(log n) a point)."""
        if (found := self._scan.covering(x, y)) != _cells.UNDECIDED:
            return found
        fx = (x - self.x0) / self.size
        fy = (y - self.y0) / self.size
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return -1
        label = int(self.labels[int(fy) * self.nx + int(fx)])
        if label >= -1:
            return label
        if self.split > 1 and (refined := int(self.refined[-2 - label])) >= 0:
            s = self.split
            col = min(int((fx - int(fx)) * s), s - 1)
            label = int(
                self.sub_labels[(refined * s + min(int((fy - int(fy)) * s), s - 1)) * s + col]
            )
            if label >= -1:
                return label
        start, end = self.candidate_start[-2 - label : -label]
        candidates = self.candidates[start:end]
        hit = candidates[shapely.intersects_xy(self.polygons[candidates], x, y)]
        return int(hit.min()) if len(hit) else -1
