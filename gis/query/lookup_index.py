"""Where is this point: the index of one boundary version's regions, as flat arrays.

The answer is the whole hierarchy at any point: the deepest region that covers it — exactly
PostGIS ``ST_Covers``, so a point on a boundary is covered — with its ancestors by
``parent_code``.  A point in a grid gets the grid, its community, street and county; a point
in a town without grids its street and county (and community if any); outside everything,
nothing.  Several regions of the deepest level covering a point (on a shared edge or vertex):
the lowest code wins — the same rule in every code path.  A point outside every grid also
gets the nearest grid and its distance in metres (geodesic on the WGS 84 ellipsoid, to the
nearest point of the grid's outline; the lowest code on a tie).  Answers say their CRS
(EPSG:4326) and distance unit.

What an answer holds and how it is rendered: ``gis.query.lookup_answers``.

Everything an index holds is a numpy array (:func:`index_arrays`): the polygons as WKB with
offsets, each grid's fields and each region's code and name as JSON with offsets, the parent
links, and a cell index per level (``gis.query.cells``).  So the arrays can be written once
per machine and mapped by every worker (``gis.query.lookup_file``); a worker decodes only
the polygons, grids and chains its points need.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection

from gis.geo.geodesy import GEOD, AzimuthalFrame
from gis.query.cell_shapes import WkbShapes
from gis.query.cells import CellIndex, Gaps
from gis.query.lookup_answers import (
    AREA_LEVELS,
    Found,
    Located,
    render_answers,
    render_rows,
)
from gis.query.lookup_arrays import Chains, Records, RegionTable, index_arrays, read_arrays
from gis.query.lookup_gaps import (
    METRES_PER_DEGREE,
    NEAR_DEG,
    ChordGaps,
    PlanarGaps,
)
from gis.query.lookup_near import (
    Measure,
    Near,
    NearLists,
    Packed,
    Search,
    measure_near,
    pack_edges,
)
from gis.query.lookup_outer import OuterEdges

LOCAL_M = 50_000.0
"""Up to this distance the nearest grid is measured in a frame local to the point."""

PACKED_KEPT = 10_000
"""Grids whose packed edges a worker keeps for measuring (~5.6 KB each at 100 edges)."""


@dataclass(frozen=True)
class Areas:
    """The regions of one level above grids: each polygon's region (for its chain) and a
    cell index over their polygons."""

    region: np.ndarray
    cells: CellIndex


class GridIndex:
    """The regions of one boundary version, their hierarchy, and indexes over them.

    ``cells`` answers "which grid covers this point" (None without grids); ``areas`` the
    same for communities, streets and counties (one cell index per level: the cell index
    needs polygons that do not overlap, and each level is a partition); the nearest grid of
    a point outside them all is searched in the grids' cells around it and measured in an
    azimuthal equidistant frame centred on the grids (``metric``), then on the ellipsoid.
    """

    def __init__(self, version: int | None, arrays: Mapping[str, np.ndarray]) -> None:
        self.version = version
        self.arrays = arrays
        regions = RegionTable(
            arrays["region.level"],
            arrays["region.parent"],
            Records(arrays["region.records"], arrays["region.offsets"]),
        )
        self.grids: Sequence[dict[str, Any]] = Records(
            arrays["grid.records"], arrays["grid.offsets"]
        )
        self.chains: Sequence[dict[str, dict[str, str]]] = Chains(regions, arrays["grid.parent"])
        self.regions = regions

        def cells(level: str) -> CellIndex | None:
            if f"{level}.cells.labels" not in arrays:
                return None
            shapes = WkbShapes(arrays[f"{level}.wkb"], arrays[f"{level}.wkb_offsets"])
            names = CellIndex.ARRAYS
            return CellIndex.from_arrays({n: arrays[f"{level}.cells.{n}"] for n in names}, shapes)

        self.cells = cells("grid")
        self.areas = tuple(
            Areas(arrays[f"{level}.region"], found)
            for level in AREA_LEVELS
            if (found := cells(level)) is not None
        )
        self.outer = OuterEdges.from_arrays(arrays)
        self.near_lists = (
            NearLists(
                self.cells,
                tuple(arrays["grid.bounds"].tolist()),
                *self._near_parts(),
                self.box_area,
                LOCAL_M,
            )
            if self.cells is not None
            else None
        )
        self._kept_edges: dict[int, np.ndarray] = {}
        self.metric = AzimuthalFrame(np.array([shapely.box(*arrays["grid.bounds"].tolist())]))

    @classmethod
    def load(cls, conn: Connection, version: int | None) -> GridIndex:
        """Build the index of the regions valid at ``version`` (None: before the first)."""
        return cls(version, read_arrays(conn, version))

    @classmethod
    def build(cls, version: int | None, rows: Sequence[Mapping[str, Any]]) -> GridIndex:
        """The index of ``rows`` (see :func:`index_arrays`), in this process."""
        return cls(version, index_arrays(rows))

    def covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """For each point, the index of the lowest-code grid covering it, or -1 (grids are
        in code order, and the cell index picks the lowest covering index)."""
        if self.cells is None:
            return np.full(len(lon), -1, dtype=np.int64)
        return self.cells.covering(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each point the nearest grid and the geodesic distance in metres to its outline
        (-1 and NaN without grids); see :meth:`nearest_point`."""
        grid, metres = np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        for i, (x, y) in enumerate(
            zip(np.asarray(lon).tolist(), np.asarray(lat).tolist(), strict=True)
        ):
            grid[i], metres[i] = self.nearest_point(x, y)
        return grid, metres

    def nearest_point(self, x: float, y: float) -> tuple[int, float]:
        """The nearest grid to a point and the geodesic distance in metres to its outline
        (the lowest code on a tie).

        The candidates come from the cells around the point: a cell an outline passes
        through next to the point or else the nearest (:meth:`CellIndex.closest`, a search
        down blocks of cells, bounded however far the point is) gives some grids, whose
        measured distance bounds the nearest's, and every grid with an outline point
        within that bound is a candidate (:meth:`CellIndex.near`, with lower bounds of the
        distance to cells).
        Within :data:`LOCAL_M` each candidate's nearest outline point is found in a frame
        local to the point (degrees scaled by the metres a degree spans there) and measured
        on the ellipsoid.  Farther away, grids whose outline is within 1 % (+1 m) of the
        nearest in the index's azimuthal equidistant projection are measured instead.
        Within :data:`LOCAL_M`, the candidates of a point's block are kept
        (:class:`NearLists`): the search runs once per block, a request measures the few
        edges of its block that can be nearest.  When the index has the coverage's outer
        edges (``gis.query.lookup_outer``), a block's first point and the lists are
        measured on those alone, found from a k-d tree of points along them instead of
        the cells (the search above then serves points beyond :data:`LOCAL_M`)."""
        grid, metres, _ = self._nearest(x, y)
        return grid, metres

    def outside_point(self, x: float, y: float) -> tuple[int, float, int]:
        """For a point outside every grid: :meth:`nearest_point` and :meth:`area` (the
        region of the point's block when it has one: the same answer, not tested again)."""
        grid, metres, area = self._nearest(x, y)
        return grid, metres, self.area(x, y) if area is None else area

    def _nearest(self, x: float, y: float) -> Near:
        """:meth:`nearest_point`, and the region of the point's block (or None)."""
        if self.near_lists is None:
            return -1, math.nan, None
        if (listed := self.near_lists.nearest(x, y)) is not None:  # measured on its block's
            return listed
        outer = self.outer.nearest(x, y, LOCAL_M) if self.outer is not None else None
        if outer is not None and outer[1] <= LOCAL_M:  # measured on the coverage's outline
            return *outer, None
        found = self._closest_first(x, y)
        # metres to some outline point of each: no less than to the nearest outline
        reach = float(self._local(x, y, found, 0.0).min()) + 0.001
        found = self._within(x, y, reach, found)
        if reach <= LOCAL_M:
            metres = self._local(x, y, found, 0.0)
            best = np.lexsort((found, metres))[0]
            return int(found[best]), float(metres[best]), None
        found = self._closest(x, y, found)
        projected, metres = self._measure(x, y, found)
        close = projected <= projected.min() * 1.01 + 1.0
        best = np.lexsort((found[close], metres[close]))[0]
        return int(found[close][best]), float(metres[close][best]), None

    def _gaps(self, x: float, y: float) -> Gaps:
        """Lower bounds of the metres from the point to boxes of cells: scaled degrees near
        the grids' box, the chord farther (``gis.query.lookup_gaps``)."""
        x0, y0, x1, y1 = self.arrays["grid.bounds"].tolist()
        if x0 - NEAR_DEG <= x <= x1 + NEAR_DEG and y0 - NEAR_DEG <= y <= y1 + NEAR_DEG:
            return PlanarGaps(x, y)
        return ChordGaps(x, y)

    def _closest_first(self, x: float, y: float) -> np.ndarray:
        """Some grids whose outline is close to the point (:meth:`CellIndex.closest`)."""
        assert self.cells is not None
        return self.cells.closest(x, y, self._gaps(x, y))

    def _within(self, x: float, y: float, reach: float, found: np.ndarray) -> np.ndarray:
        """``found`` and every grid whose outline may be within ``reach`` metres."""
        assert self.cells is not None
        return np.union1d(found, self.cells.near(self._gaps(x, y), reach))

    def _search(self, x: float, y: float, reach: float) -> np.ndarray:
        """For :class:`NearLists`: grids close to the point, and with ``reach`` > 0 every
        grid whose outline may be within it."""
        found = self._closest_first(x, y)
        return self._within(x, y, reach, found) if reach > 0 else found

    def _near_parts(self) -> tuple[Search, Measure, Packed]:
        """What :class:`NearLists` searches, measures and keeps: the grids' outer edges
        when the index has them (``gis.query.lookup_outer``: a point outside every grid is
        as near to each grid that can be its nearest as to its outer edges), else whole
        outlines found through the cells."""
        if (outer := self.outer) is None:
            return self._search, self._local, self._packed
        return outer.grids, partial(self._local, packed=outer.packed), outer.packed

    def _local(
        self,
        x: float,
        y: float,
        grids: np.ndarray,
        extra: float = math.inf,
        packed: Packed | None = None,
    ) -> np.ndarray:
        """Per grid (in the order given), the geodesic metres from the point to the nearest
        point of its outline (of ``packed``'s edges: by default all), edges taken as
        great-circle arcs as PostGIS's geography does (``lookup_near.measure_near``:
        compiled), where it may be within the least + ``extra``; infinite beyond, and for
        a grid without edges there."""
        edges, spans = (packed or self._packed)(grids)
        return measure_near(edges, spans, x, y, extra)

    def _packed(self, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The edges of the grids' rings packed for ``lookup_near.measure_edges`` (grid
        after grid, each ring's edges in order) and each grid's span of them.  Each grid's
        are made once per worker (:data:`PACKED_KEPT` grids kept): a point outside every
        grid measures the same few grids as its neighbours."""
        assert self.cells is not None
        kept = self._kept_edges
        # read once into a local map: another thread may clear ``kept`` meanwhile
        found = {g: kept.get(g) for g in grids.tolist()}
        missing = [g for g, known in found.items() if known is None]
        if missing:
            if len(kept) + len(missing) > PACKED_KEPT:
                kept.clear()
            parts, part_of = shapely.get_parts(self.cells.polygons[missing], return_index=True)
            rings, ring_of = shapely.get_rings(parts, return_index=True)
            coords, which = shapely.get_coordinates(rings, return_index=True)
            start = np.flatnonzero(which[1:] == which[:-1])  # an edge: to the next vertex
            grid = np.asarray(missing)[part_of[ring_of[which[start]]]]
            edges = pack_edges(grid, coords[start], coords[start + 1])
            bounds = np.flatnonzero(np.r_[True, grid[1:] != grid[:-1], True])
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                found[int(grid[lo])] = kept[int(grid[lo])] = edges[lo:hi]
        pieces = [found[g] for g in grids.tolist()]
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)
        ends = np.cumsum(lengths)
        spans = np.column_stack((ends - lengths, ends))
        return np.concatenate(pieces) if pieces else np.empty((0, 7)), spans

    def _closest(self, x: float, y: float, grids: np.ndarray) -> np.ndarray:
        """Of ``grids``, those that may be the nearest: a grid's distance is within half its
        longest edge of its nearest vertex's, so grids whose nearest vertex (great circle,
        on a sphere: within 1 % of the ellipsoid) is beyond the least such distance by more
        than that (+1 %) cannot be — a cheap first cut before the projection."""
        assert self.cells is not None
        coords, owner = shapely.get_coordinates(
            shapely.boundary(self.cells.polygons[grids]), return_index=True
        )
        lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        px, py = math.radians(x), math.radians(y)
        half = (
            np.sin((lat - py) / 2) ** 2 + np.cos(lat) * math.cos(py) * np.sin((lon - px) / 2) ** 2
        )
        metres = 2 * 6_371_009.0 * np.arcsin(np.sqrt(np.minimum(half, 1.0)))
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        nearest = np.minimum.reduceat(metres, starts)
        step = np.abs(np.diff(coords, axis=0))[owner[1:] == owner[:-1]]
        edge = (
            float(np.hypot(step[:, 0].max(), step[:, 1].max())) * METRES_PER_DEGREE[0]
            if len(step)
            else 0.0
        )
        return grids[owner[starts]][nearest <= nearest.min() * 1.01 + edge / 2 + 1.0]

    def _measure(self, x: float, y: float, grids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distance from the point to each grid's outline in the metric frame, and on the
        ellipsoid to the outline point nearest in the frame."""
        assert self.cells is not None
        outlines = self.metric.geometries(shapely.boundary(self.cells.polygons[grids]))
        point = self.metric.points([x], [y])[0]
        ends = shapely.get_coordinates(shapely.shortest_line(outlines, point))[::2]
        ends_lon, ends_lat = self.metric.inverse(ends[:, 0], ends[:, 1])
        n = len(grids)
        _, _, metres = GEOD.inv(np.full(n, x), np.full(n, y), ends_lon, ends_lat)
        return shapely.distance(outlines, point), np.asarray(metres)

    def area(self, x: float, y: float) -> int:
        """The deepest region above grids covering the point (its row in ``regions``), or -1."""
        for level in self.areas:
            if (i := level.cells.covering_point(x, y)) >= 0:
                return int(level.region[i])
        return -1

    def box_area(self, x0: float, y0: float, x1: float, y1: float) -> int | None:
        """The region :meth:`area` answers for every point of the box, or None when it may
        vary within it: per level (deepest first), the polygon covering the box while no
        other meets it answers, none meeting it passes to the next level
        (:meth:`CellIndex.box_cover`)."""
        for level in self.areas:
            found = level.cells.box_cover(x0, y0, x1, y1)
            if found is None:
                return None
            if found >= 0:
                return int(level.region[found])
        return -1

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> Located:
        """Where each WGS84 point is (:class:`Located`): its grid, else the deepest region
        covering it and the nearest grid."""
        if len(lon) == 1:
            return self._locate_point(float(lon[0]), float(lat[0]))
        grid = self.covering(lon, lat)
        chain: list[dict[str, dict[str, str]]] = [{}] * len(lon)
        for i in np.flatnonzero(grid >= 0).tolist():
            chain[i] = self.chains[grid[i]]
        rest = np.flatnonzero(grid < 0)
        nearest, metres = np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        nearest[rest], metres[rest] = self.nearest(lon[rest], lat[rest])
        for level in self.areas:
            if not len(rest):
                break
            found = level.cells.covering(lon[rest], lat[rest])
            for i, f in zip(rest[found >= 0].tolist(), found[found >= 0].tolist(), strict=True):
                chain[i] = self.regions.chain(int(level.region[f]))
            rest = rest[found < 0]
        return Located(grid.tolist(), chain, nearest.tolist(), metres.tolist())

    def _locate_point(self, x: float, y: float) -> Located:
        """``locate`` for a single point, without the cost of arrays (the same rules)."""
        grid = self.cells.covering_point(x, y) if self.cells is not None else -1
        if grid >= 0:
            return Located([grid], [self.chains[grid]], [-1], [math.nan])
        nearest, metres, area = self.outside_point(x, y)
        return Located([-1], [self.regions.chain(area)], [nearest], [metres])

    def describe(self, i: int) -> dict[str, Any]:
        """Grid ``i`` with its attributes and its community, street and county."""
        chain = self.chains[i]
        return {"grid": self.grids[i], **{level: chain.get(level) for level in AREA_LEVELS}}

    def found(self, lon: np.ndarray, lat: np.ndarray) -> list[Found]:
        """Per WGS84 point: its grid, the chain of the deepest region covering it, and the
        nearest grid (described) and its distance."""
        at = self.locate(lon, lat)
        return [
            self._found(g, chain, near, metres)
            for g, chain, near, metres in zip(at.grid, at.chain, at.nearest, at.metres, strict=True)
        ]

    def found_point(self, grid: int, outside: tuple[int, float, int] | None = None) -> Found:
        """:meth:`found` for one point already placed: in ``grid``, or (-1) outside every
        grid with :meth:`outside_point`'s answer — not searched again (a point's second
        search would make its block's lists at its first visit: ``NearLists``)."""
        if outside is None:
            return self._found(grid, self.chains[grid], -1, math.nan)
        nearest, metres, area = outside
        return self._found(-1, self.regions.chain(area), nearest, metres)

    def _found(
        self, grid: int, chain: dict[str, dict[str, str]], near: int, metres: float
    ) -> Found:
        return Found(
            self.grids[grid] if grid >= 0 else None,
            chain,
            self.describe(near) if near >= 0 else None,
            metres,
        )

    def answers(self, lon: np.ndarray, lat: np.ndarray) -> list[dict[str, Any]]:
        """The lookup answer for each WGS84 point, in input order."""
        return render_answers(self.version, lon, lat, self.found(lon, lat))

    def rows(self, lon: np.ndarray, lat: np.ndarray) -> list[list[Any]]:
        """The ``OUTPUT_COLUMNS`` of each WGS84 point, in input order."""
        return render_rows(self.found(lon, lat))
