"""The few grids that can be nearest to any point of a block of cells, kept per worker: a
point outside every grid measures only those (``GridIndex.nearest_point``).

A block is a square of the cell index's frame, ``size × SPLIT^k`` degrees a side: first the
largest no more than a sixteenth of the point's distance from the grids' box (a cell near
it); a block whose list holds more than :data:`FEW` grids is split into SPLIT × SPLIT (r
bounds how many grids a list holds), down to :data:`FINEST`.

For a block's centre c, with r no less than the geodesic metres from c to any point of the
block (a path along a meridian and a parallel: ``side × PATH_METRES_PER_DEGREE``), the list
holds every grid g with ``d(c, g) − r ≤ min_h d(c, h) + r`` (+ a slack for the measurement).
By the triangle inequality a point p of the block has ``d(p, g) ≥ d(c, g) − r`` and
``d(p, h) ≤ d(c, h) + r``: no grid outside the list is as near to p as the nearest in it,
ties included, so the answer stays the full search's.  Blocks whose list would reach beyond
``LOCAL_M`` get none (those points take the full search).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gis.query.cells import CellIndex
from gis.query.lookup_gaps import PATH_METRES_PER_DEGREE

MAX_BLOCKS = 200_000
"""Blocks whose list a worker keeps; beyond it the lists start again (bounded memory)."""

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


class NearLists:
    """Per block, the grids that can be nearest to its points (None: take the full search).

    A block's list is made for the first point in it by ``search`` (the full nearest-grid
    search's candidates at the block's centre within a reach; with reach 0 some close grids)
    and ``measure`` (metres from a point to each grid's outline)."""

    def __init__(
        self,
        cells: CellIndex,
        box: tuple[float, float, float, float],
        search: Callable[[float, float, float], np.ndarray],
        measure: Callable[[float, float, np.ndarray], np.ndarray],
        band: float,
    ) -> None:
        self.cells, self.box, self.band = cells, box, band
        self.search, self.measure = search, measure
        self.lists: dict[tuple[int, int, int], tuple[np.ndarray | None, bool]] = {}
        """Per (level, row, col): the list (None: the full search) and whether the block is
        split (its list then only serves to make its quarters')."""

    def candidates(self, x: float, y: float) -> np.ndarray | None:
        """The grids (sorted indices) that can be nearest to the point, or None."""
        x0, y0, x1, y1 = self.box
        away = max(x0 - x, x - x1, y0 - y, y - y1, 0.0)
        k = 0
        while self.cells.size * SPLIT ** (k + 1) * FAR_SHARE <= away:
            k += 1
        outer: np.ndarray | None = None
        while True:
            side = self.cells.size * float(SPLIT) ** k
            row = math.floor((y - self.cells.y0) / side)
            key = (k, row, math.floor((x - self.cells.x0) / side))
            if (known := self.lists.get(key)) is None:
                if len(self.lists) >= MAX_BLOCKS:
                    self.lists.clear()
                found = self._list(side, row, key[2], outer)
                known = found, found is not None and len(found) > FEW and k > FINEST
                self.lists[key] = known
            outer, split = known
            if not split:
                return outer
            k -= 1

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
