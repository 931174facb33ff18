"""Blocks grouped into grids: contiguous, about ``target`` households each, compact.

Two steps, on the blocks in a local metric frame:

1. **Recursive bisection** — a connected set of blocks meant for ``k`` grids is cut in two,
   ``k // 2`` grids' worth of households on one side: blocks sorted along one of four
   directions (0°, 45°, 90°, 135°), the cut placed where the running households reach the
   share, a side that falls apart handing its smaller pieces to the other (contiguity), and of
   the candidate cuts the one with the best balance and the shortest cut line kept.  Cutting
   along the shorter side first keeps the parts compact, as districting practice does.
2. **Refinement** — a block on a grid's edge moves to the neighbouring grid while that
   lowers the cost: the squared deviation of households from the target (weight 1, and 10 for the
   households outside ``[low, high]``) plus ``COMPACTNESS_WEIGHT`` × (1 − Polsby–Popper) of
   each grid; a grid is never left empty or in pieces.  Where grids stay out of range, a pass
   on balance alone follows; a last pass weighs compactness at ``FINAL_WEIGHT`` and makes no
   move that takes a grid out of range — within the range, a compact grid is the one a grid
   worker walks (on the Helsinki extract mean Polsby–Popper 0.33 → 0.41, the households'
   spread 23 → 34, every grid still in range: bench/division.py).

Blocks are adjacent when they share a stretch of boundary (touching at a point is not
enough: a grid must be one piece).  A part of the region no block path joins to the rest (an
island) is divided on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import networkx as nx
import numpy as np
import shapely

COMPACTNESS_WEIGHT = 0.3
"""Weight of a grid's (1 − Polsby–Popper) against its squared relative deviation."""
FINAL_WEIGHT = 1.0
"""Weight of compactness in the last refinement, where no move takes a grid out of range."""
OUT_OF_RANGE_WEIGHT = 10.0
"""Extra weight of the households a grid holds beyond ``[low, high]``."""
PASSES = 30
"""Refinement sweeps at most (each stops early when nothing moves)."""
DIRECTIONS_DEG = (0.0, 45.0, 90.0, 135.0)
SHARED_MIN_M = 0.01
"""Blocks sharing less boundary than this are not adjacent."""


@dataclass
class Geometry:
    """The blocks in metres: area, perimeter, centroid, and the boundary each pair shares."""

    area: np.ndarray
    perimeter: np.ndarray
    x: np.ndarray
    y: np.ndarray
    graph: nx.Graph

    @classmethod
    def of(cls, metric: np.ndarray) -> Geometry:
        centroid = shapely.centroid(metric)
        graph = nx.Graph()
        graph.add_nodes_from(range(len(metric)))
        i, j = shapely.STRtree(metric).query(metric, predicate="intersects")
        keep = i < j
        i, j = i[keep], j[keep]
        if len(i):
            boundaries = shapely.boundary(metric)
            shared = shapely.length(shapely.intersection(boundaries[i], boundaries[j]))
            for a, b, s in zip(i.tolist(), j.tolist(), shared.tolist(), strict=True):
                if s > SHARED_MIN_M:
                    graph.add_edge(a, b, shared=s)
        return cls(
            shapely.area(metric),
            shapely.length(metric),
            shapely.get_x(centroid),
            shapely.get_y(centroid),
            graph,
        )


def polsby_popper(area: float, perimeter: float) -> float:
    """4πA / P²: 1 for a disc, near 0 for a sliver."""
    return 4.0 * math.pi * area / perimeter**2 if perimeter > 0 else 0.0


def grid_count(households: float, target: float, low: float, high: float) -> int:
    """How many grids: the count whose mean households is nearest the target among those
    with the mean in ``[low, high]``, else the count nearest the target."""
    if households <= 0:
        return 1
    counts = range(max(1, math.floor(households / high)), math.ceil(households / low) + 1)
    fitting = [k for k in counts if low <= households / k <= high]
    pool = fitting or [max(1, round(households / target))]
    return min(pool, key=lambda k: (abs(households / k - target), k))


class Partition:
    """Grids of blocks and the figures the cost needs, kept up to date as blocks move."""

    def __init__(
        self, geo: Geometry, households: np.ndarray, target: float, low: float, high: float
    ) -> None:
        self.geo, self.households = geo, households
        self.target, self.low, self.high = target, low, high

    def divide(self) -> np.ndarray:
        """Each block's grid (0, 1, …)."""
        labels = np.full(len(self.households), -1)
        grids: list[list[int]] = []
        components = sorted(nx.connected_components(self.geo.graph), key=min)
        for component in components:
            held = float(self.households[list(component)].sum())
            k = grid_count(held, self.target, self.low, self.high)
            grids += self._bisect(sorted(component), k)
        for g, members in enumerate(grids):
            labels[members] = g
        self._refine(labels, COMPACTNESS_WEIGHT, keep_range=False)
        if self._outside().any():  # balance first, then compactness within the range
            self._refine(labels, 0.0, keep_range=False)
        self._refine(labels, FINAL_WEIGHT, keep_range=True)
        return labels

    def _outside(self) -> np.ndarray:
        return (self._hh < self.low) | (self._hh > self.high)

    # --- bisection --------------------------------------------------------------------
    def _bisect(self, blocks: list[int], k: int) -> list[list[int]]:
        if k <= 1 or len(blocks) < 2:
            return [blocks]
        first = k // 2
        best: tuple[float, list[int], list[int]] | None = None
        held = self.households[blocks]
        total = float(held.sum())
        for angle in DIRECTIONS_DEG:
            t = math.radians(angle)
            along = self.geo.x[blocks] * math.cos(t) + self.geo.y[blocks] * math.sin(t)
            order = np.argsort(along, kind="stable")
            running = np.cumsum(held[order])
            goal = total * first / k
            at = int(np.searchsorted(running, goal)) + 1
            for cut in range(max(1, at - 2), min(len(blocks), at + 3)):
                side_a = [blocks[i] for i in order[:cut]]
                side_b = [blocks[i] for i in order[cut:]]
                side_a, side_b = self._repair(side_a, side_b)
                if not side_a or not side_b:
                    continue
                score = self._cut_score(side_a, side_b, first, k - first, total)
                if best is None or score < best[0]:
                    best = (score, side_a, side_b)
        if best is None:
            return [blocks]
        return self._bisect(best[1], first) + self._bisect(best[2], k - first)

    def _cut_score(
        self, side_a: list[int], side_b: list[int], ka: int, kb: int, total: float
    ) -> float:
        ha, hb = self.households[side_a].sum(), self.households[side_b].sum()
        balance = ((ha / ka - hb / kb) / max(self.target, 1.0)) ** 2
        a_set = set(side_a)
        cut = sum(
            d["shared"] for u, v, d in self.geo.graph.edges(side_a, data=True) if v not in a_set
        )
        scale = math.sqrt(float(self.geo.area[side_a].sum() + self.geo.area[side_b].sum()))
        return balance + 0.5 * cut / max(scale, 1e-9) / (ka + kb)

    def _repair(self, side_a: list[int], side_b: list[int]) -> tuple[list[int], list[int]]:
        """Each side in one piece: a side's smaller pieces go to the other side."""
        a, b = set(side_a), set(side_b)
        for _ in range(10):
            moved = False
            for mine, other in ((a, b), (b, a)):
                parts = list(nx.connected_components(self.geo.graph.subgraph(mine)))
                if len(parts) <= 1:
                    continue
                keep = max(parts, key=lambda p: (self.households[list(p)].sum(), len(p)))
                for part in parts:
                    if part is not keep:
                        mine -= part
                        other |= part
                        moved = True
            if not moved:
                break
        return sorted(a), sorted(b)

    # --- refinement -------------------------------------------------------------------
    def _cost(self, households: float, area: float, perimeter: float) -> float:
        """A grid's cost: squared deviation, households out of range, and (1 − PP)."""
        deviation = (households - self.target) / max(self.target, 1.0)
        outside = max(0.0, self.low - households, households - self.high)
        outside /= max(self.target, 1.0)
        compact = 1.0 - polsby_popper(area, perimeter)
        return deviation**2 + OUT_OF_RANGE_WEIGHT * outside**2 + self._weight * compact

    def _refine(self, labels: np.ndarray, weight: float, *, keep_range: bool) -> None:
        """Single-block moves while they lower the cost (compactness at ``weight``);
        ``keep_range``: never a move that takes a grid out of ``[low, high]``."""
        self._weight, self._keep_range = weight, keep_range
        geo, graph = self.geo, self.geo.graph
        count = int(labels.max()) + 1
        self._labels = labels
        self._hh = np.bincount(labels, self.households, count)
        self._area = np.bincount(labels, geo.area, count)
        self._perimeter = np.bincount(labels, geo.perimeter, count)
        for u, v, d in graph.edges(data=True):
            if labels[u] == labels[v]:
                self._perimeter[labels[u]] -= 2 * d["shared"]
        self._members = [set(np.flatnonzero(labels == g).tolist()) for g in range(count)]
        for _ in range(PASSES):
            moved = 0
            for block in range(len(labels)):
                moved += self._try_move([block])
            if not moved:
                break

    def _try_move(self, group: list[int]) -> bool:
        """Move ``group`` (blocks of one grid) to the neighbouring grid where that lowers the
        cost most, if any does and its grid stays in one piece and not empty."""
        graph, labels, geo = self.geo.graph, self._labels, self.geo
        g = int(labels[group[0]])
        inside = set(group)
        if len(self._members[g]) <= len(inside):
            return False
        shared: dict[int, float] = {}
        internal = 0.0
        for u in group:
            for v, d in graph[u].items():
                if v in inside:
                    internal += d["shared"] / 2
                else:
                    shared[int(labels[v])] = shared.get(int(labels[v]), 0.0) + d["shared"]
        w = float(self.households[group].sum())
        a = float(geo.area[group].sum())
        p = float(geo.perimeter[group].sum()) - 2 * internal
        hh, area, perimeter = self._hh, self._area, self._perimeter
        p_g = perimeter[g] - p + 2 * shared.get(g, 0.0)
        change_g = self._cost(hh[g] - w, area[g] - a, p_g) - self._cost(
            hh[g], area[g], perimeter[g]
        )
        best, best_h = -1e-9, None
        for h, s in shared.items():
            if h == g:
                continue
            if self._keep_range and (hh[g] - w < self.low or hh[h] + w > self.high):
                continue
            change = change_g + self._cost(hh[h] + w, area[h] + a, perimeter[h] + p - 2 * s)
            change -= self._cost(hh[h], area[h], perimeter[h])
            if change < best:
                best, best_h = change, h
        if best_h is None or not nx.is_connected(graph.subgraph(self._members[g] - inside)):
            return False
        h = best_h
        perimeter[g], perimeter[h] = p_g, perimeter[h] + p - 2 * shared[h]
        hh[g] -= w
        hh[h] += w
        area[g] -= a
        area[h] += a
        self._members[g] -= inside
        self._members[h] |= inside
        labels[group] = h
        return True
