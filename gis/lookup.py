"""Which grid is this point in: an in-process index of one boundary version's grids.

The answer is exactly PostGIS ``ST_Covers(grid, point)``: a point on a boundary is covered.
A point covered by several grids (on a shared edge or vertex) gets the one with the lowest
code — the same rule in every code path.  A point covered by none gets the nearest grid and
its distance in metres (on the ellipsoid, to the nearest point of the grid's outline).
"""

from __future__ import annotations

import asyncio
import csv
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from sqlalchemy import Connection, Engine, text

from gis.addresses import AddressMatch, match_address
from gis.cells import CellIndex
from gis.crs import to_wgs84_points
from gis.encoding import detect_text_encoding
from gis.errors import InvalidInput
from gis.versions import resolve_version
from gis.watch import VersionWatch

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


GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class GridIndex:
    """The grids of one boundary version, their hierarchy, and indexes over them.

    ``cells`` answers "which grid covers this point"; ``outlines`` (the grids' outlines in an
    azimuthal equidistant projection centred on the grids, in metres) finds the nearest grid
    of a point outside them all.
    """

    version: int
    grids: list[dict[str, Any]]
    chains: list[dict[str, dict[str, str]]]
    tree: shapely.STRtree
    cells: CellIndex
    metric: Transformer
    outlines: shapely.STRtree

    @classmethod
    def load(cls, conn: Connection, version: int) -> GridIndex:
        """Build the index of the grids valid at ``version`` (sorted by code)."""
        valid = "r.valid_from <= :v AND (r.valid_to IS NULL OR r.valid_to > :v)"
        rows = (
            conn.execute(
                text(
                    f"SELECT {', '.join('r.' + f for f in GRID_FIELDS)}, r.parent_code, "
                    f"ST_AsBinary(r.geom) AS wkb FROM regions r "
                    f"WHERE r.level = 'grid' AND {valid} ORDER BY r.code"
                ),
                {"v": version},
            )
            .mappings()
            .all()
        )
        regions = {
            row.code: row
            for row in conn.execute(
                text(f"SELECT code, name, level, parent_code FROM regions r WHERE {valid}"),
                {"v": version},
            )
        }
        chains = []
        for row in rows:
            chain: dict[str, dict[str, str]] = {}
            parent = regions.get(row["parent_code"] or "")
            while parent is not None and len(chain) < 4:
                chain[parent.level] = {"code": parent.code, "name": parent.name}
                parent = regions.get(parent.parent_code or "")
            chains.append(chain)
        geoms = shapely.from_wkb([bytes(r["wkb"]) for r in rows])
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        x0, y0, x1, y1 = shapely.total_bounds(geoms) if len(geoms) else (0.0, 0.0, 0.0, 0.0)
        metric = Transformer.from_crs(
            "EPSG:4326",
            f"+proj=aeqd +lat_0={(y0 + y1) / 2} +lon_0={(x0 + x1) / 2} +datum=WGS84",
            always_xy=True,
        )
        outlines = shapely.transform(
            shapely.boundary(geoms), lambda xy: np.column_stack(metric.transform(*xy.T))
        )
        return cls(
            version=version,
            grids=[{f: r[f] for f in GRID_FIELDS} for r in rows],
            chains=chains,
            tree=tree,
            cells=CellIndex(geoms, tree),
            metric=metric,
            outlines=shapely.STRtree(outlines),
        )

    def covering(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """For each point, the index of the lowest-code grid covering it, or -1 (grids are
        in code order, and the cell index picks the lowest covering index)."""
        return self.cells.covering(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))

    def nearest(self, lon: float, lat: float) -> tuple[int, float]:
        """The grid nearest to a point, and the geodesic distance in metres to its outline.

        Grids whose outline is within 1 % (+1 m) of the nearest in the index's equidistant
        projection are candidates; the one whose nearest outline point is closest on the
        ellipsoid wins (the lowest code on a tie).
        """
        point = shapely.Point(self.metric.transform(lon, lat))
        _, (first,) = self.outlines.query_nearest(point, return_distance=True)
        near = np.sort(self.outlines.query(point, predicate="dwithin", distance=first * 1.01 + 1.0))
        ends = shapely.get_coordinates(shapely.shortest_line(self.outlines.geometries[near], point))
        ends_lon, ends_lat = self.metric.transform(ends[::2, 0], ends[::2, 1], direction="INVERSE")
        here = np.full(len(near), lon), np.full(len(near), lat)
        _, _, metres = GEOD.inv(*here, ends_lon, ends_lat)
        best = int(np.lexsort((near, metres))[0])
        return int(near[best]), float(metres[best])

    def describe(self, i: int) -> dict[str, Any]:
        """Grid ``i`` with its attributes and its community, street and county."""
        chain = self.chains[i]
        return {
            "grid": self.grids[i],
            "community": chain.get("community"),
            "street": chain.get("street"),
            "county": chain.get("county"),
        }

    def answers(self, lon: np.ndarray, lat: np.ndarray) -> list[dict[str, Any]]:
        """The lookup answer for each WGS84 point, in input order."""
        if not self.grids:
            return _nothing_covers(lon, lat, self.version)
        if len(lon) == 1:
            found = [self.cells.covering_point(float(lon[0]), float(lat[0]))]
        else:
            found = self.covering(lon, lat)
        answers = []
        for i, (x, y) in enumerate(zip(lon.tolist(), lat.tolist(), strict=True)):
            if found[i] >= 0:
                body = {"covered": True, **self.describe(int(found[i]))}
            else:
                near, metres = self.nearest(x, y)
                body = {
                    "covered": False,
                    **dict.fromkeys(("grid", "community", "street", "county")),
                    "nearest": {**self.describe(near), "distance_m": round(metres, 2)},
                }
            body["point"] = {"lon": round(x, 9), "lat": round(y, 9)}
            answers.append({**body, "version": self.version, "crs": "EPSG:4326"})
        return answers


def _nothing_covers(lon: np.ndarray, lat: np.ndarray, version: int | None) -> list[dict[str, Any]]:
    """Answers when there are no grids (before the first version, or none in it)."""
    return [
        {
            "covered": False,
            **dict.fromkeys(("grid", "community", "street", "county", "nearest")),
            "point": {"lon": round(x, 9), "lat": round(y, 9)},
            "version": version,
            "crs": "EPSG:4326",
        }
        for x, y in zip(lon.tolist(), lat.tolist(), strict=True)
    ]


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

    async def index(self, as_of: int | None = None) -> GridIndex | None:
        """The index of ``as_of`` (or of the current version); ``version_not_found`` for an
        ``as_of`` that does not exist."""
        version = as_of if as_of is not None else await self._watch.current()
        if version is None:
            return None
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
        lon_wgs, lat_wgs = to_wgs84_points(np.atleast_1d(lon), np.atleast_1d(lat), crs)
        index = await self.index(as_of)
        if index is None:
            return _nothing_covers(lon_wgs, lat_wgs, None)
        if len(lon_wgs) > self.THREAD_ABOVE:
            return await asyncio.to_thread(index.answers, lon_wgs, lat_wgs)
        return index.answers(lon_wgs, lat_wgs)

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
)


def lookup_csv(
    engine: Engine,
    source: Path,
    target: Path,
    *,
    lon_col: str,
    lat_col: str,
    crs: str = "wgs84",
    as_of: int | None = None,
    chunk: int = 50_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Stream a CSV of points into a copy with the grid of each point; return the row count.

    Reads UTF-8 or GB18030, ``chunk`` rows at a time; writes UTF-8 to a temporary file
    that replaces ``target`` only when every row is done.  A row whose coordinates are not
    numbers stops the run with ``invalid_csv`` naming its line.
    """
    with source.open("rb") as f:
        encoding = detect_text_encoding(f.read(1 << 20)).encoding
    with engine.connect() as conn:
        index = GridIndex.load(conn, resolve_version(conn, as_of) or 0)
    rows_done = 0
    tmp = target.with_name(f".{target.name}.part")
    with (
        source.open(encoding=encoding, newline="") as src,
        tmp.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.DictReader(src)
        missing = [c for c in (lon_col, lat_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(
                f"CSV 中没有列 {missing}；现有列: {reader.fieldnames} (missing columns)",
                code="invalid_csv",
                details={"missing": missing, "columns": reader.fieldnames},
            )
        writer = csv.writer(out)
        writer.writerow([*reader.fieldnames, *OUTPUT_COLUMNS])
        while batch := list(itertools.islice(reader, chunk)):
            try:
                lon = np.array([float(r[lon_col]) for r in batch])
                lat = np.array([float(r[lat_col]) for r in batch])
            except (TypeError, ValueError) as error:
                bad = next(i for i, r in enumerate(batch) if not _is_number(r[lon_col], r[lat_col]))
                raise InvalidInput(
                    f"第 {rows_done + bad + 2} 行的坐标不是数字 (line {rows_done + bad + 2}: "
                    f"coordinates are not numbers: {error})",
                    code="invalid_csv",
                    details={"line": rows_done + bad + 2},
                ) from error
            lon, lat = to_wgs84_points(lon, lat, crs)
            found = index.covering(lon, lat)
            for row, i in zip(batch, found.tolist(), strict=True):
                writer.writerow([*row.values(), *_columns(index, i)])
            rows_done += len(batch)
            if progress:
                progress(src.buffer.tell())
    tmp.replace(target)
    return rows_done


def _is_number(*values: Any) -> bool:
    try:
        [float(v) for v in values]
    except (TypeError, ValueError):
        return False
    return True


def _columns(index: GridIndex, i: int) -> list[Any]:
    if i < 0:
        return [False, *[""] * (len(OUTPUT_COLUMNS) - 1)]
    grid, chain = index.grids[i], index.chains[i]
    row: list[Any] = [True, grid["code"], grid["name"], grid["grid_worker"], grid["party_branch"]]
    for level in ("community", "street", "county"):
        part = chain.get(level) or {}
        row += [part.get("code", ""), part.get("name", "")]
    return row
