"""A generated province: a seamless partition into grids, and its hierarchy.

Rules and reasons:

- Grids are the Voronoi cells (scipy/qhull, in a local metric frame) of a jittered hexagonal
  lattice of seed points, one every ``AREA_PER_GRID_KM2``; the province is the ``grids`` seeds
  nearest its centre in a wobbly outline's metric, and a band of "ghost" seeds around it keeps
  every kept cell bounded — so no cell is clipped and every edge is shared by construction.
- Communities, streets and counties group their children by nearest parent seed (a child's own
  seed), so every parent is the union of whole children and is made of their vertices exactly
  (``shapely.coverage_union_all``: no T-junctions).
- ~100 vertices a grid: every edge gets ``INNER`` in-between points jittered across it once, in
  its canonical direction (lower vertex index first), from elementwise-linear arithmetic on the
  same inputs, so both neighbours get bit-identical coordinates; all coordinates are snapped to
  1e-7° (storage precision).  Edges shorter than ``STRAIGHT_BELOW_KM`` stay straight, and so do
  the edges of any cell the jitter made invalid (until none is).
- Codes follow the demo's scheme (6-digit county 13xxxx, +3 street, +3 community, +3 grid),
  numbered in reading order (north → south, west → east) within their parent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import Voronoi, cKDTree

from gis.store.stored_form import STORAGE_GRID_DEG

CENTRE_LONLAT = (116.0, 38.9)
"""Around Baoding, Hebei."""
AREA_PER_GRID_KM2 = 0.19
"""Hebei's ~188 000 km² in 1 000 000 grids."""
GRIDS_PER = {"community": 20, "street": 500, "county": 5_900}
"""Grids per parent: 1 000 000 grids make ~50 000 communities, 2 000 streets, 170 counties."""
INNER = 15
"""In-between points per edge: ~6 edges × 16 points ≈ 100 vertices a grid."""
WIGGLE = 0.06
"""Largest jitter across an edge, as a share of its length (tapering to 0 at its ends)."""
STRAIGHT_BELOW_KM = 0.03
JITTER = 0.25
"""Seed jitter on the lattice, as a share of the spacing."""
STORAGE_SCALE = round(1 / STORAGE_GRID_DEG)
KM_PER_DEG_LAT = 110.574
KM_PER_DEG_LON = 111.320 * math.cos(math.radians(CENTRE_LONLAT[1]))


def counts(grids: int) -> dict[str, int]:
    """How many regions of each level a province of ``grids`` grids has."""
    return {
        "county": math.ceil(grids / GRIDS_PER["county"]),
        "street": math.ceil(grids / GRIDS_PER["street"]),
        "community": math.ceil(grids / GRIDS_PER["community"]),
        "grid": grids,
    }


def to_lonlat(xy: np.ndarray) -> np.ndarray:
    """Local-frame kilometres → lon/lat snapped to storage precision (linear: elementwise
    exact, so the same input gives the same bits wherever it sits in an array), rounded as
    GEOS rounds (half up, by the scale ``1 / grid``) so storing leaves every bit as written."""
    lon = CENTRE_LONLAT[0] + xy[..., 0] / KM_PER_DEG_LON
    lat = CENTRE_LONLAT[1] + xy[..., 1] / KM_PER_DEG_LAT
    return np.floor(np.stack([lon, lat], axis=-1) * STORAGE_SCALE + 0.5) / STORAGE_SCALE


def _seeds(grids: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """The province's seeds (``grids`` of them) and the ghost seeds around them, in km, and
    the lattice spacing."""
    spacing = math.sqrt(AREA_PER_GRID_KM2 / (math.sqrt(3) / 2))
    radius = math.sqrt(grids * AREA_PER_GRID_KM2 / math.pi)
    k = np.arange(2, 6)
    amplitude = rng.uniform(0.04, 0.12, len(k)) / (k - 1)
    phase = rng.uniform(0, 2 * math.pi, len(k))
    extent = radius * (1 + amplitude.sum()) * 1.2 + 6 * spacing
    dy = spacing * math.sqrt(3) / 2
    cols, rows = int(extent / spacing) + 1, int(extent / dy) + 1
    j, i = np.mgrid[-rows : rows + 1, -cols : cols + 1]
    xy = (
        np.column_stack([(i + (j % 2) / 2).ravel() * spacing, j.ravel() * dy])
        + rng.uniform(-JITTER, JITTER, (j.size, 2)) * spacing
    )
    theta = np.arctan2(xy[:, 1], xy[:, 0])
    outline = 1 + (amplitude[None, :] * np.cos(k[None, :] * theta[:, None] + phase)).sum(axis=1)
    rho = np.hypot(xy[:, 0], xy[:, 1]) / outline
    order = np.argsort(rho, kind="stable")
    band = rho[order[grids - 1]] + 6 * spacing
    ghosts = order[grids:][rho[order[grids:]] <= band]
    return xy[order[:grids]], xy[ghosts], spacing


def _nearest(children: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Index of each child's nearest parent seed."""
    return cKDTree(parents).query(children)[1]


def _ranked(xy: np.ndarray, group: np.ndarray, band: float) -> tuple[np.ndarray, np.ndarray]:
    """Reading order (bands of ``band`` km north → south, west → east) within each group
    (groups in their own order): the permutation, and each item's 1-based number in its group
    (in the permuted order)."""
    order = np.lexsort((xy[:, 0], -np.floor(xy[:, 1] / band), group))
    g = group[order]
    first = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    starts = np.repeat(first, np.diff(np.r_[first, len(g)]))
    return order, np.arange(len(g)) - starts + 1


@dataclass
class Hierarchy:
    """The province's grids (seeds in km, in code order) and each level's codes and parents
    (index into the level above), all in code order."""

    xy: np.ndarray
    ghosts: np.ndarray
    codes: dict[str, np.ndarray]
    parent: dict[str, np.ndarray]
    seed_xy: dict[str, np.ndarray]
    spacing: float


def hierarchy(grids: int, seed: int) -> Hierarchy:
    """Seeds and codes of a province of ``grids`` grids, the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    n = counts(grids)
    xy, ghosts, spacing = _seeds(grids, rng)
    community_seed = rng.choice(grids, n["community"], replace=False)
    street_seed = rng.choice(n["community"], n["street"], replace=False)
    county_seed = rng.choice(n["street"], n["county"], replace=False)
    community_xy = xy[community_seed]
    street_xy = community_xy[street_seed]
    county_xy = street_xy[county_seed]
    grid_of = _nearest(xy, community_xy)
    community_of = _nearest(community_xy, street_xy)
    street_of = _nearest(street_xy, county_xy)

    def band(level: str) -> float:
        return math.sqrt(GRIDS_PER.get(level, 1) * AREA_PER_GRID_KM2)

    # counties, then each level within its (already ordered) parent
    county_order, _ = _ranked(county_xy, np.zeros(len(county_xy), int), band("county"))
    county_rank = np.empty_like(county_order)
    county_rank[county_order] = np.arange(len(county_order))
    county_codes = np.array(
        [f"13{k // 15 + 1:02d}{k % 15 + 1:02d}" for k in range(len(county_order))], dtype=object
    )
    if len(county_codes) > 99 * 15:
        raise ValueError("too many counties for 4-digit county numbers")
    codes, parent, seed_xy = {"county": county_codes}, {}, {"county": county_xy[county_order]}
    above_rank, above_codes = county_rank, county_codes
    levels = (("street", street_xy, street_of), ("community", community_xy, community_of))
    for level, level_xy, of in levels:
        order, seq = _ranked(level_xy, above_rank[of], band(level))
        if seq.max() > 999:
            raise ValueError(f"more than 999 {level} regions in one parent")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        parent[level] = above_rank[of][order]
        codes[level] = np.array(
            [f"{above_codes[p]}{s:03d}" for p, s in zip(parent[level], seq, strict=True)],
            dtype=object,
        )
        seed_xy[level] = level_xy[order]
        above_rank, above_codes = rank, codes[level]
    order, seq = _ranked(xy, above_rank[grid_of], band("grid") * 0.8)
    if seq.max() > 999:
        raise ValueError("more than 999 grids in one community")
    parent["grid"] = above_rank[grid_of][order]
    codes["grid"] = np.array(
        [f"{above_codes[p]}{s:03d}" for p, s in zip(parent["grid"], seq, strict=True)],
        dtype=object,
    )
    seed_xy["grid"] = xy[order]
    return Hierarchy(xy[order], ghosts, codes, parent, seed_xy, spacing)


class Cells:
    """The grids' polygons (EPSG:4326, snapped), built on demand from the Voronoi diagram of
    the hierarchy's seeds; edges jittered once each (see the module's rules)."""

    def __init__(self, h: Hierarchy, seed: int) -> None:
        grids = len(h.xy)
        vor = Voronoi(np.vstack([h.xy, h.ghosts]))
        regions = [vor.regions[r] for r in vor.point_region[:grids].tolist()]
        lengths = np.fromiter(map(len, regions), int, grids)
        flat = np.fromiter((v for r in regions for v in r), int, int(lengths.sum()))
        del regions
        if (flat < 0).any():
            raise RuntimeError("a province cell is unbounded: the ghost band is too thin")
        self.offsets = np.r_[0, np.cumsum(lengths)]
        self.cell = np.repeat(np.arange(grids), lengths)
        centre = h.xy[self.cell]
        angle = np.arctan2(*(vor.vertices[flat] - centre)[:, ::-1].T)
        flat = flat[np.lexsort((angle, self.cell))]  # counter-clockwise round each cell
        nxt = np.arange(len(flat)) + 1
        nxt[self.offsets[1:] - 1] = self.offsets[:-1]
        a, b = flat, flat[nxt]
        key = np.minimum(a, b) * len(vor.vertices) + np.maximum(a, b)
        unique, self.edge = np.unique(key, return_inverse=True)
        self.lo, self.hi = unique // len(vor.vertices), unique % len(vor.vertices)
        self.forward = a == self.lo[self.edge]
        self.vertex = flat
        self.km = vor.vertices
        self.lonlat = to_lonlat(vor.vertices)
        rng = np.random.default_rng([seed, 1])
        t = np.arange(1, INNER + 1) / (INNER + 1)
        self.t, self.bulge = t, np.sin(np.pi * t)
        self.jitter = (rng.uniform(-WIGGLE, WIGGLE, (len(unique), INNER))).astype(np.float32)
        length = np.hypot(*(self.km[self.hi] - self.km[self.lo]).T)
        self.straight = length < STRAIGHT_BELOW_KM

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def polygons(self, cells: np.ndarray) -> np.ndarray:
        """The polygons of ``cells`` (indices, ascending)."""
        lengths = self.offsets[cells + 1] - self.offsets[cells]
        rows = np.repeat(self.offsets[cells] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        rows += np.arange(len(rows))
        u = self.edge[rows]
        lo, hi = self.km[self.lo[u]], self.km[self.hi[u]]
        d = hi - lo
        perp = np.column_stack([-d[:, 1], d[:, 0]])
        offset = self.jitter[u].astype(float) * self.bulge
        inner = lo[:, None, :] + self.t[None, :, None] * d[:, None, :]
        inner = to_lonlat(inner + offset[:, :, None] * perp[:, None, :])
        inner = np.where(self.forward[rows][:, None, None], inner, inner[:, ::-1])
        block = np.concatenate([self.lonlat[self.vertex[rows]][:, None, :], inner], axis=1)
        keep = np.ones(block.shape[:2], bool)
        keep[:, 1:] = ~self.straight[u][:, None]
        ring = np.repeat(np.repeat(np.arange(len(cells)), lengths), keep.sum(axis=1))
        return shapely.polygons(shapely.linearrings(block[keep], indices=ring))

    def straighten_invalid(self, chunk: int = 50_000) -> int:
        """Straighten every edge of each cell the jitter made invalid, until all are valid;
        the number of cells straightened."""
        todo, fixed = np.arange(len(self)), 0
        for _ in range(8):
            bad = np.concatenate(
                [
                    todo[i : i + chunk][~shapely.is_valid(self.polygons(todo[i : i + chunk]))]
                    for i in range(0, len(todo), chunk)
                ]
            )
            if len(bad) == 0:
                return fixed
            fixed += len(bad)
            changed = np.zeros(len(self.straight), bool)
            for c in bad.tolist():
                changed[self.edge[self.offsets[c] : self.offsets[c + 1]]] = True
            self.straight |= changed
            todo = np.unique(self.cell[changed[self.edge]])
        raise RuntimeError("could not make every jittered cell valid")

    def chunks(self, parent: np.ndarray, size: int) -> Iterator[np.ndarray]:
        """Runs of about ``size`` cells (indices) that end where ``parent`` changes."""
        start = 0
        while start < len(self):
            stop = min(len(self), start + size)
            while stop < len(self) and parent[stop] == parent[stop - 1]:
                stop += 1
            yield np.arange(start, stop)
            start = stop
