"""Point lookups of recent boundary versions: one shared index file per version per machine.

The rules of an answer are in ``gis.query.lookup_index`` (the index: the deepest covering
region, lowest code on ties, the nearest grid by geodesic distance).  Each version's index
is built once per machine and mapped by every worker (``gis.query.lookup_file``), in a
worker thread, never making a request wait long: a request that must see a version whose
index is not ready within :data:`WAIT_S` is answered by PostGIS directly with the same rules
(``gis.query.lookup_sql``) — never from an older version.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.exc import OperationalError

from gis.geo.crs import known_crs, to_wgs84_points
from gis.ingest.csvfiles import csv_encoding
from gis.ingest.encoding import detect_text_encoding
from gis.ingest.fields import coordinates, point_columns
from gis.query import lookup_file
from gis.query.addresses import AddressMatch, match_address
from gis.query.apart import lean_heap, run_apart
from gis.query.lookup_answers import AREA_LEVELS, DISTANCE_UNIT, GRID_FIELDS, Located
from gis.query.lookup_arrays import read_arrays
from gis.query.lookup_columns import place
from gis.query.lookup_index import GridIndex
from gis.query.lookup_sql import SqlIndex
from gis.store.board import OID_SQL, database_key, lookup_folder
from gis.store.db import make_engine
from gis.store.replicas import ReadEngines
from gis.store.versions import CURRENT_VERSION_SQL, resolve_version, valid_at
from gis.store.watch import VersionWatch

__all__ = [
    "AREA_LEVELS",
    "DISTANCE_UNIT",
    "GRID_FIELDS",
    "NO_REGIONS",
    "OUTPUT_COLUMNS",
    "GridIndex",
    "Located",
    "LookupService",
    "load_index",
    "lookup_csv",
]

log = logging.getLogger("gridmap.lookup")

T = TypeVar("T")

KEEP_INDEXES = 4
"""Boundary versions whose index a worker keeps mapped (the current one and recent ``as_of``);
the machine keeps the files of the newest :data:`KEEP_FILES` versions."""
KEEP_FILES = KEEP_INDEXES + 2
BUILD_APART_ABOVE = 20_000
"""Regions in a version above which its index is built in a process of its own."""

WAIT_S = 1.0
"""How long a request waits for its version's index before PostGIS answers it."""

NO_REGIONS = GridIndex.build(None, [])
"""The index before the first boundary version: no region, no grid."""


def _index_folder(conn: Connection, named: URL) -> tuple[Path, str] | None:
    """The folder of the index files of the database ``named`` (``conn`` reaches it or a
    replica of it) and the database's key (None: no usable folder — then each process
    builds its own index)."""
    oid = int(conn.scalar(text(OID_SQL)))  # a physical replica's is its primary's
    try:
        folder = lookup_file.index_folder(lookup_folder(named, oid))
        return folder, database_key(named, oid)
    except OSError as error:
        log.warning("lookup index folder unusable (%s): each worker builds its own", error)
        return None


def load_index(conn: Connection, as_of: int | None, *, named: URL | None = None) -> GridIndex:
    """The index of ``as_of`` (or the current version), from this machine's shared file —
    built and written first if there is none (``version_not_found`` for an ``as_of`` that
    does not exist).  ``named``: the primary's URL when ``conn`` is a replica's (the file
    is the database's, whichever server it was read from).  A version of more than
    :data:`BUILD_APART_ABOVE` regions is built in a process of its own, so the worker that
    happens to build it does not keep the build's memory (freed memory mostly stays with a
    process)."""
    version = resolve_version(conn, as_of)
    if version is None:
        return NO_REGIONS
    place = _index_folder(conn, named or conn.engine.url)
    if place is None:
        return GridIndex.load(conn, version)
    folder, key = place
    meta = {"database": key, "version": version}

    def make(path: Path) -> None:
        count = conn.scalar(
            text(f"SELECT count(*) FROM regions r WHERE {valid_at()}"), {"v": version}
        )
        if count <= BUILD_APART_ABOVE:
            lookup_file.write(path, read_arrays(conn, version), meta)
            return
        url = conn.engine.url.render_as_string(hide_password=False)
        run_apart(write_index, url, version, path, meta)

    return GridIndex(version, lookup_file.obtain(folder, version, meta, make, keep=KEEP_FILES))


def write_index(url: str, version: int, path: Path, meta: dict[str, object]) -> None:
    """Build the index of ``version`` of the database at ``url`` and write it to ``path``
    (in a process of its own: :func:`load_index`; its heap kept lean,
    ``gis.query.apart.lean_heap``)."""
    engine = make_engine(url)
    try:
        with lean_heap(), engine.connect() as conn:
            # a replica's URL may lead this new connection to a standby that has not
            # replayed the version yet: its rows would be the version before, under N's name
            newest = conn.scalar(text(CURRENT_VERSION_SQL)) or 0
            if newest < version:  # the database unavailable for this version, for now
                behind = RuntimeError(f"version {version} not replayed there yet (has {newest})")
                raise OperationalError(CURRENT_VERSION_SQL, None, behind)
            lookup_file.write(path, read_arrays(conn, version), meta)
    finally:
        engine.dispose()


class LookupService:
    """Indexes of recent boundary versions for an event loop, kept fresh by a version watch.

    Every call sees each commit that finished before it was made (``VersionWatch``).  An
    index is obtained once per version per process (:func:`load_index`: mapped from the
    machine's file, which one process builds), in a worker thread, however many calls wait
    for it; a call that would wait longer than :data:`WAIT_S` is answered by PostGIS
    (``SqlIndex``) meanwhile.
    """

    THREAD_ABOVE = 500
    """Batches larger than this are answered in a worker thread, off the event loop."""

    def __init__(self, reads: ReadEngines, watch: VersionWatch, *, wait_s: float = WAIT_S) -> None:
        self._reads = reads
        self._watch = watch
        self._wait_s = wait_s
        self._indexes: dict[int, GridIndex] = {}
        self._building: dict[int, asyncio.Task[GridIndex]] = {}

    async def index(self, as_of: int | None = None) -> GridIndex | SqlIndex:
        """The index of ``as_of`` (or of the current version) — or, while the current
        version's is being built, PostGIS with the same rules (an ``as_of`` waits for its
        index: whether it exists is known only then); ``version_not_found`` for an ``as_of``
        that does not exist."""
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
            build.add_done_callback(lambda done: self._built(version, done))
        if as_of is None:  # the current version: it exists, PostGIS may answer meanwhile
            done, _ = await asyncio.wait([build], timeout=self._wait_s)
            if not done:
                return SqlIndex(partial(self._reads.connect, version), version)
        return await asyncio.shield(build)

    async def grid_index(self, as_of: int | None = None) -> GridIndex:
        """The index of ``as_of`` (or of the current version) itself, waited for however
        long it takes (never PostGIS meanwhile): for answers read off its tables
        (``gis.query.lookup_columns``), whose callers wait longer anyway."""
        version = as_of if as_of is not None else await self._watch.current()
        if version is None:
            return NO_REGIONS
        index = await self.index(version)
        assert isinstance(index, GridIndex)  # an explicit version waits for its index
        return index

    async def columns(
        self, lon: Any, lat: Any, fields: tuple[str, ...], *, crs: str, as_of: int | None
    ) -> tuple[int | None, dict[str, Any]]:
        """The version answering and the chosen ``fields`` of points given in ``crs``
        (``gis.query.lookup_columns.place``), off the event loop."""
        index = await self.grid_index(as_of)

        def work() -> dict[str, Any]:
            lon_wgs, lat_wgs = to_wgs84_points(np.atleast_1d(lon), np.atleast_1d(lat), crs)
            return place(index, lon_wgs, lat_wgs, fields)

        return index.version, await asyncio.to_thread(work)

    def _built(self, version: int, build: asyncio.Task[GridIndex]) -> None:
        """Keep a finished index (the least recently used one out beyond KEEP_INDEXES)."""
        self._building.pop(version, None)
        if build.cancelled() or build.exception() is not None:
            return
        if len(self._indexes) >= KEEP_INDEXES:
            del self._indexes[next(iter(self._indexes))]
        self._indexes[version] = build.result()

    def _load(self, version: int) -> GridIndex:
        with self._reads.connect(version) as conn:
            return load_index(conn, version, named=self._reads.primary.url)

    async def lookup(
        self, lon: Any, lat: Any, *, crs: str = "wgs84", as_of: int | None = None
    ) -> list[dict[str, Any]]:
        """Answers for points given in ``crs`` (arrays or scalars), in input order."""
        return await self._run("answers", lon, lat, crs, as_of)

    async def rows(
        self, lon: Any, lat: Any, *, crs: str = "wgs84", as_of: int | None = None
    ) -> list[list[Any]]:
        """The :data:`OUTPUT_COLUMNS` of points given in ``crs``, in input order."""
        return await self._run("rows", lon, lat, crs, as_of)

    async def _run(self, method: str, lon: Any, lat: Any, crs: str, as_of: int | None) -> Any:
        points = (np.atleast_1d(lon), np.atleast_1d(lat), crs)
        if known_crs(crs):
            lon_wgs, lat_wgs = to_wgs84_points(*points)
        else:  # pyproj may take ~0.2 s on a text it has not seen: not on the event loop
            lon_wgs, lat_wgs = await asyncio.to_thread(to_wgs84_points, *points)
        index = await self.index(as_of)
        answer: Callable[[np.ndarray, np.ndarray], Any] = getattr(index, method)
        if len(lon_wgs) > self.THREAD_ABOVE or isinstance(index, SqlIndex):
            return await asyncio.to_thread(answer, lon_wgs, lat_wgs)
        return answer(lon_wgs, lat_wgs)

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
        with self._reads.connect(None) as conn:
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
        index = load_index(conn, as_of)
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
