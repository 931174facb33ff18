"""Where is this point: an in-process index of one boundary version's regions.

The answer is the whole hierarchy at any point: the deepest region that covers it — exactly
PostGIS ``ST_Covers``, so a point on a boundary is covered — with its ancestors by
``parent_code``.  A point in a grid gets the grid, its community, street and county; a point
in a town without grids its street and county (and community if any); outside everything,
nothing.  Several regions of the deepest level covering a point (on a shared edge or vertex):
the lowest code wins — the same rule in every code path.  A point outside every grid also
gets the nearest grid and its distance in metres (geodesic on the WGS 84 ellipsoid, to the
nearest point of the grid's outline; the lowest code on a tie).  Answers say their CRS
(EPSG:4326) and distance unit.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from gis.geo.crs import known_crs, to_wgs84_points
from gis.geo.geodesy import GEOD, AzimuthalFrame
from gis.ingest.csvfiles import csv_encoding
from gis.ingest.encoding import detect_text_encoding
from gis.ingest.fields import coordinates, point_columns
from gis.query.addresses import AddressMatch, match_address
from gis.query.cells import CellIndex
from gis.store.versions import resolve_version, valid_at
from gis.store.watch import VersionWatch

T = TypeVar("T")

KEEP_INDEXES = 4
"""Boundary versions whose index stays in memory (the current one and recent ``as_of``)."""

GRID_FIELDS = (
    "code",
    "name",
    "households",
    "population",
    "grid_worker",
    "grid_worker_phone",
    "party_branch",
)


AREA_LEVELS = ("community", "street", "county")
"""The levels above grids, deepest first: an answer names each beside the grid; a point
outside every grid is answered by the deepest of them that covers it, with its ancestors."""

DISTANCE_UNIT = "m"
"""Distances in answers: metres, geodesic on the WGS 84 ellipsoid."""


@dataclass(frozen=True)
class Areas:
    """The regions of one level above grids, in code order: each one's chain (itself and
    its ancestors, level → code and name) and a cell index over their polygons."""

    chains: np.ndarray
    cells: CellIndex


@dataclass(frozen=True)
class Located:
    """Where points are, per point: the covering grid (index, or -1); the chain of the
    deepest covering region (level → code and name: the grid's ancestors, or the covering
    community, street or county and its ancestors; empty outside everything); outside
    every grid the nearest grid (or -1 without grids) and its distance in metres."""

    grid: list[int]
    chain: list[dict[str, dict[str, str]]]
    nearest: list[int]
    metres: list[float]


@dataclass(frozen=True)
class GridIndex:
    """The regions of one boundary version, their hierarchy, and indexes over them.

    ``cells`` answers "which grid covers this point" (None without grids); ``areas`` the
    same for communities, streets and counties (one cell index per level: the cell index
    needs polygons that do not overlap, and each level is a partition); ``outlines`` (the grids'
    outlines in an azimuthal equidistant projection centred on the grids, in metres) finds
    the nearest grid of a point outside them all.
    """

    version: int | None
    grids: list[dict[str, Any]]
    chains: list[dict[str, dict[str, str]]]
    tree: shapely.STRtree
    cells: CellIndex | None
    metric: AzimuthalFrame
    outlines: shapely.STRtree
    areas: tuple[Areas, ...] = ()

    @classmethod
    def load(cls, conn: Connection, version: int | None) -> GridIndex:
        """Build the index of the regions valid at ``version`` (None: before the first)."""
        rows = (
            conn.execute(
                text(
                    f"SELECT {', '.join('r.' + f for f in GRID_FIELDS)}, r.level, "
                    f"r.parent_code, ST_AsBinary(r.geom) AS wkb FROM regions r "
                    f"WHERE {valid_at()} ORDER BY r.code"
                ),
                {"v": version or 0},
            )
            .mappings()
            .all()
        )
        return cls.build(version, rows)

    @classmethod
    def build(cls, version: int | None, rows: Sequence[Mapping[str, Any]]) -> GridIndex:
        """The index of ``rows`` (regions of every level in code order: the grid fields,
        ``level``, ``parent_code`` and ``wkb``)."""
        by_code = {row["code"]: row for row in rows}
        chains: dict[str | None, dict[str, dict[str, str]]] = {None: {}}

        def chain(code: str | None) -> dict[str, dict[str, str]]:
            """The region ``code`` and its ancestors, level → code and name (shared)."""
            if code not in chains:
                chains[code] = {}  # where a cycle of parent codes would come back
                row = by_code.get(code)
                up = chain(row["parent_code"]) if row is not None else {}
                own = {row["level"]: {"code": code, "name": row["name"]}} if row else {}
                chains[code] = {**up, **own}
            return chains[code]

        def of_level(level: str) -> tuple[list[Mapping[str, Any]], np.ndarray]:
            mine = [row for row in rows if row["level"] == level]
            geoms = shapely.from_wkb([bytes(row["wkb"]) for row in mine])
            shapely.prepare(geoms)
            return mine, geoms

        grid_rows, geoms = of_level("grid")
        tree = shapely.STRtree(geoms)
        metric = AzimuthalFrame(geoms)
        outlines = metric.geometries(shapely.boundary(geoms))
        areas = []
        for level in AREA_LEVELS:
            regions, polygons = of_level(level)
            if regions:
                links = np.empty(len(regions), dtype=object)
                links[:] = [chain(row["code"]) for row in regions]
                areas.append(Areas(links, CellIndex(polygons, shapely.STRtree(polygons))))
        return cls(
            version=version,
            grids=[{f: row[f] for f in GRID_FIELDS} for row in grid_rows],
            chains=[chain(row["parent_code"]) for row in grid_rows],
            tree=tree,
            cells=CellIndex(geoms, tree) if len(geoms) else None,
            metric=metric,
            outlines=shapely.STRtree(outlines),
            areas=tuple(areas),
        )

    def covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """For each point, the index of the lowest-code grid covering it, or -1 (grids are
        in code order, and the cell index picks the lowest covering index)."""
        if self.cells is None:
            return np.full(len(lon), -1, dtype=np.int64)
        return self.cells.covering(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def nearest(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each point the nearest grid and the geodesic distance in metres to its outline.

        Grids whose outline is within 1 % (+1 m) of the nearest in the index's equidistant
        projection are candidates; the one whose nearest outline point is closest on the
        ellipsoid wins (the lowest code on a tie).  Vectorised: one nearest and one
        ``dwithin`` query of the outlines' tree for all points.
        """
        if not len(lon) or not self.grids:
            return np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        points = self.metric.points(lon, lat)
        (which, _), first = self.outlines.query_nearest(points, return_distance=True)
        reach = np.empty(len(points))
        reach[which] = first * 1.01 + 1.0
        point, grid = self.outlines.query(points, predicate="dwithin", distance=reach)
        lines = shapely.shortest_line(self.outlines.geometries[grid], points[point])
        ends = shapely.get_coordinates(lines)[::2]
        ends_lon, ends_lat = self.metric.inverse(ends[:, 0], ends[:, 1])
        _, _, metres = GEOD.inv(lon[point], lat[point], ends_lon, ends_lat)
        order = np.lexsort((grid, metres, point))
        best = order[np.r_[True, point[order][1:] != point[order][:-1]]]
        return grid[best].astype(np.int64), metres[best]

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> Located:
        """Where each WGS84 point is (:class:`Located`): its grid, else the deepest region
        covering it and the nearest grid."""
        if len(lon) == 1:
            return self._locate_point(float(lon[0]), float(lat[0]))
        grid = self.covering(lon, lat)
        chain = np.empty(len(lon), dtype=object)
        inside = np.flatnonzero(grid >= 0)
        chain[inside] = [self.chains[i] for i in grid[inside].tolist()]
        rest = np.flatnonzero(grid < 0)
        nearest, metres = np.full(len(lon), -1, dtype=np.int64), np.full(len(lon), np.nan)
        nearest[rest], metres[rest] = self.nearest(lon[rest], lat[rest])
        for level in self.areas:
            if not len(rest):
                break
            found = level.cells.covering(lon[rest], lat[rest])
            chain[rest[found >= 0]] = level.chains[found[found >= 0]]
            rest = rest[found < 0]
        chain[rest] = [{}] * len(rest)
        return Located(grid.tolist(), chain.tolist(), nearest.tolist(), metres.tolist())

    def _locate_point(self, x: float, y: float) -> Located:
        """``locate`` for a single point, without the cost of arrays (the same rules)."""
        grid = self.cells.covering_point(x, y) if self.cells is not None else -1
        if grid >= 0:
            return Located([grid], [self.chains[grid]], [-1], [math.nan])
        nearest, metres = self.nearest(np.array([x]), np.array([y]))
        covering = ((level, level.cells.covering_point(x, y)) for level in self.areas)
        chain = next((level.chains[i] for level, i in covering if i >= 0), {})
        return Located([-1], [chain], nearest.tolist(), metres.tolist())

    def describe(self, i: int) -> dict[str, Any]:
        """Grid ``i`` with its attributes and its community, street and county."""
        chain = self.chains[i]
        return {"grid": self.grids[i], **{level: chain.get(level) for level in AREA_LEVELS}}

    def answers(self, lon: np.ndarray, lat: np.ndarray) -> list[dict[str, Any]]:
        """The lookup answer for each WGS84 point, in input order."""
        found = self.locate(lon, lat)
        answers = []
        for x, y, g, chain, near, metres in zip(
            lon.tolist(),
            lat.tolist(),
            found.grid,
            found.chain,
            found.nearest,
            found.metres,
            strict=True,
        ):
            answers.append(
                {
                    "covered": g >= 0,
                    "grid": self.grids[g] if g >= 0 else None,
                    **{level: chain.get(level) for level in AREA_LEVELS},
                    "nearest": (
                        {**self.describe(near), "distance_m": round(metres, 2)}
                        if near >= 0
                        else None
                    ),
                    "point": {"lon": round(x, 9), "lat": round(y, 9)},
                    "version": self.version,
                    "crs": "EPSG:4326",
                    "distance_unit": DISTANCE_UNIT,
                }
            )
        return answers

    def rows(self, lon: np.ndarray, lat: np.ndarray) -> list[list[Any]]:
        """The :data:`OUTPUT_COLUMNS` of each WGS84 point, in input order."""
        found = self.locate(lon, lat)
        rows = []
        for g, chain, near, metres in zip(
            found.grid, found.chain, found.nearest, found.metres, strict=True
        ):
            grid = self.grids[g] if g >= 0 else {}
            row = [g >= 0, *(grid.get(f) for f in ("code", "name", "grid_worker", "party_branch"))]
            for level in AREA_LEVELS:
                part = chain.get(level) or {}
                row += [part.get("code"), part.get("name")]
            if near >= 0:
                row += [self.grids[near]["code"], self.grids[near]["name"], round(metres, 2)]
            else:
                row += [None, None, None]
            rows.append(row)
        return rows


NO_REGIONS = GridIndex.build(None, [])
"""The index before the first boundary version: no region, no grid."""


class LookupService:
    """Indexes of recent boundary versions for an event loop, kept fresh by a version watch.

    Every call sees each commit that finished before it was made (``VersionWatch``).  An
    index is built once per version, in a worker thread, however many calls wait for it.
    """

    THREAD_ABOVE = 500
    """Batches larger than this are answered in a worker thread, off the event loop."""

    def __init__(self, engine: Engine, watch: VersionWatch) -> None:
        self._engine = engine
        self._watch = watch
        self._indexes: dict[int, GridIndex] = {}
        self._building: dict[int, asyncio.Task[GridIndex]] = {}

    async def index(self, as_of: int | None = None) -> GridIndex:
        """The index of ``as_of`` (or of the current version); ``version_not_found`` for an
        ``as_of`` that does not exist."""
        version = as_of if as_of is not None else await self._watch.current()
        if version is None:
            return NO_REGIONS
        if (index := self._indexes.pop(version, None)) is not None:
            self._indexes[version] = index  # the most recently used goes last
            return index
        build = self._building.get(version)
        if build is None:
            build = asyncio.create_task(asyncio.to_thread(self._load, version))
            self._building[version] = build
            build.add_done_callback(lambda _: self._building.pop(version, None))
        index = await asyncio.shield(build)
        if version not in self._indexes:
            if len(self._indexes) >= KEEP_INDEXES:
                del self._indexes[next(iter(self._indexes))]  # the least recently used
            self._indexes[version] = index
        return index

    def _load(self, version: int) -> GridIndex:
        with self._engine.connect() as conn:
            return GridIndex.load(conn, resolve_version(conn, version))

    async def lookup(
        self, lon: Any, lat: Any, *, crs: str = "wgs84", as_of: int | None = None
    ) -> list[dict[str, Any]]:
        """Answers for points given in ``crs`` (arrays or scalars), in input order."""
        return await self._run(GridIndex.answers, lon, lat, crs, as_of)

    async def rows(
        self, lon: Any, lat: Any, *, crs: str = "wgs84", as_of: int | None = None
    ) -> list[list[Any]]:
        """The :data:`OUTPUT_COLUMNS` of points given in ``crs``, in input order."""
        return await self._run(GridIndex.rows, lon, lat, crs, as_of)

    async def _run(
        self,
        method: Callable[[GridIndex, np.ndarray, np.ndarray], T],
        lon: Any,
        lat: Any,
        crs: str,
        as_of: int | None,
    ) -> T:
        points = (np.atleast_1d(lon), np.atleast_1d(lat), crs)
        if known_crs(crs):
            lon_wgs, lat_wgs = to_wgs84_points(*points)
        else:  # pyproj may take ~0.2 s on a text it has not seen: not on the event loop
            lon_wgs, lat_wgs = await asyncio.to_thread(to_wgs84_points, *points)
        index = await self.index(as_of)
        if len(lon_wgs) > self.THREAD_ABOVE:
            return await asyncio.to_thread(method, index, lon_wgs, lat_wgs)
        return method(index, lon_wgs, lat_wgs)

    async def lookup_address(self, address: str, *, as_of: int | None = None) -> dict[str, Any]:
        """The answer for the registry entry matching free address text, with the ``match``
        (entry, level, confidence, and candidates each with its grid when ambiguous)."""
        match = await asyncio.to_thread(self._match, address)
        rows = [match.row, *(c.row for c in match.candidates)]
        answers = await self.lookup([r.lon for r in rows], [r.lat for r in rows], as_of=as_of)
        found = match.to_dict()
        for candidate, answer in zip(found["candidates"], answers[1:], strict=True):
            candidate["grid"] = answer["grid"]
        return {**answers[0], "match": found}

    def _match(self, address: str) -> AddressMatch:
        with self._engine.connect() as conn:
            return match_address(conn, address)


OUTPUT_COLUMNS = (
    "covered",
    "grid_code",
    "grid_name",
    "grid_worker",
    "party_branch",
    "community_code",
    "community_name",
    "street_code",
    "street_name",
    "county_code",
    "county_name",
    "nearest_grid_code",
    "nearest_grid_name",
    "distance_m",
)
"""The columns a CSV lookup adds to each row (``distance_m``: to the nearest grid, in metres
on the WGS 84 ellipsoid, for a point outside every grid)."""


def lookup_csv(
    engine: Engine,
    source: Path,
    target: Path,
    *,
    lon_col: str | None = None,
    lat_col: str | None = None,
    crs: str = "wgs84",
    as_of: int | None = None,
    encoding: str | None = None,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream a CSV of points into a copy with :data:`OUTPUT_COLUMNS`; return the row count.

    Reads UTF-8 or GB18030, ``chunk`` rows at a time; the coordinate columns are the ones
    named, else found by their usual names (:data:`gis.ingest.fields.POINT_COLUMNS`).  Writes
    ``encoding`` (:func:`gis.ingest.csvfiles.csv_encoding`: UTF-8 with a BOM by default, so Excel
    reads it) to a temporary file that replaces ``target`` only when every row is done.  A
    row whose coordinates are not numbers stops the run with ``invalid_csv`` naming its line.
    """
    output = csv_encoding(encoding)
    with source.open("rb") as f:
        source_encoding = detect_text_encoding(f.read(1 << 20)).encoding
    with engine.connect() as conn:
        index = GridIndex.load(conn, resolve_version(conn, as_of))
    rows_done = 0
    tmp = target.with_name(f".{target.name}.part")
    with (
        source.open(encoding=source_encoding, newline="") as src,
        tmp.open("w", encoding=output.codec, newline="") as out,
    ):
        reader = csv.DictReader(src)
        fields = list(reader.fieldnames or [])
        lon_col, lat_col = point_columns(fields, lon_col, lat_col)
        writer = csv.writer(out)
        writer.writerow([*fields, *OUTPUT_COLUMNS])
        while batch := list(itertools.islice(reader, chunk)):
            lon, lat = coordinates(batch, lon_col, lat_col, rows_done + 2)
            lon, lat = to_wgs84_points(lon, lat, crs)
            for row, found in zip(batch, index.rows(lon, lat), strict=True):
                writer.writerow([*(row[f] for f in fields), *found])
            rows_done += len(batch)
            if progress:
                progress(src.buffer.tell())
    tmp.replace(target)
    return rows_done
