"""Office base map files: reading MBTiles and PMTiles, checking one before it is registered,
adding and removing them (``gis.store.basemaps`` is the registry).

- MBTiles 1.3: SQLite, ``metadata`` (format, minzoom, maxzoom, bounds, attribution, json
  with ``vector_layers``) and ``tiles`` (TMS rows: y flipped).  Opened read-only and
  immutable, one connection a file per worker, behind a lock.
- PMTiles v3: the header and directories read through a memory map; the directories a tile
  lookup walks are kept decoded (LRU), so a tile costs a dictionary hit and a slice.

Vector (pbf) tiles are served as stored: gzipped ones with ``Content-Encoding: gzip``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pmtiles.tile import (
    Compression,
    TileType,
    deserialize_directory,
    deserialize_header,
    find_tile,
    zxy_to_tileid,
)
from sqlalchemy import Engine

from gis.errors import InvalidInput
from gis.settings import Settings
from gis.store.basemaps import (
    Basemap,
    basemap_dir,
    check_name,
    delete_basemap,
    get_basemap,
    insert_basemap,
    require_free,
)
from tiles.layers import MEDIA_TYPE
from tiles.service import MERCATOR_LAT

MAX_ZOOM = 24
"""The deepest zoom a base map may claim."""
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "pbf": MEDIA_TYPE}
"""The tile types a base map may hold (migration 0009 checks the same four) and their media
types."""
_PMTILES_TYPES = {
    TileType.PNG: "png",
    TileType.JPEG: "jpg",
    TileType.WEBP: "webp",
    TileType.MVT: "pbf",
}
_FORMATS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp", "pbf": "pbf", "mvt": "pbf"}


def _bad(path: Path, problem: str) -> InvalidInput:
    return InvalidInput(
        f"底图文件无效: {path.name}: {problem}", code="invalid_basemap", details={"file": path.name}
    )


def sniff(data: bytes) -> str | None:
    """The tile type the bytes are (png, jpg, webp; pbf for gzip, which raster tiles never
    are), None when unknown (a plain vector tile has no magic number)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\x1f\x8b"):
        return "pbf"
    return None


@dataclass(frozen=True)
class Contents:
    """What a base map file holds, as checked by ``inspect``."""

    format: str
    tile_type: str
    min_zoom: int
    max_zoom: int
    bounds: tuple[float, float, float, float]
    title: str
    attribution: str
    vector_layers: list[str]


def inspect(path: Path) -> Contents:
    """Read and check a base map file: MBTiles or PMTiles (by its first bytes), a known tile
    type that its first tile agrees with, 0 ≤ minzoom ≤ maxzoom ≤ ``MAX_ZOOM``, bounds
    inside the Web Mercator world, at least one tile.  422 ``invalid_basemap`` otherwise."""
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as error:
        raise _bad(path, f"无法读取 (cannot read: {error.strerror})") from None
    if head.startswith(b"SQLite format 3\x00"):
        contents = _inspect_mbtiles(path)
    elif head.startswith(b"PMTiles"):
        contents = _inspect_pmtiles(path)
    else:
        raise _bad(path, "不是 MBTiles 或 PMTiles 文件 (neither MBTiles nor PMTiles)")
    west, south, east, north = contents.bounds
    if not (
        -180 <= west < east <= 180 and -MERCATOR_LAT - 1e-6 <= south < north <= MERCATOR_LAT + 1e-6
    ):
        raise _bad(path, f"范围无效 (bounds {list(contents.bounds)} out of range)")
    if not 0 <= contents.min_zoom <= contents.max_zoom <= MAX_ZOOM:
        raise _bad(
            path,
            f"缩放级别无效 (zooms {contents.min_zoom}–{contents.max_zoom}; need "
            f"0 ≤ minzoom ≤ maxzoom ≤ {MAX_ZOOM})",
        )
    return contents


def _inspect_mbtiles(path: Path) -> Contents:
    try:
        with _open_sqlite(path) as db:
            meta = dict(db.execute("SELECT name, value FROM metadata").fetchall())
            zooms = db.execute("SELECT min(zoom_level), max(zoom_level) FROM tiles").fetchone()
            first = db.execute("SELECT tile_data FROM tiles LIMIT 1").fetchone()
    except sqlite3.Error as error:
        raise _bad(path, f"不是可读的 MBTiles (not a readable MBTiles: {error})") from None
    if first is None or first[0] is None:
        raise _bad(path, "没有瓦片 (no tiles)")
    tile_type = _FORMATS.get(str(meta.get("format", "")).lower()) or sniff(bytes(first[0]))
    if tile_type is None:
        raise _bad(path, f"瓦片格式未知 (unknown tile format {meta.get('format')!r})")
    found = sniff(bytes(first[0]))
    if found is not None and found != tile_type:
        raise _bad(
            path, f"瓦片是 {found}，元数据说 {tile_type} (tiles are {found}, not {tile_type})"
        )
    try:
        min_zoom = int(meta.get("minzoom", zooms[0]))
        max_zoom = int(meta.get("maxzoom", zooms[1]))
        bounds = tuple(float(v) for v in meta.get("bounds", "-180,-85.05,180,85.05").split(","))
        layers = json.loads(meta.get("json") or "{}").get("vector_layers", [])
        names = [str(layer["id"]) for layer in layers]
    except (ValueError, TypeError, KeyError, AttributeError):
        raise _bad(path, "元数据无效 (bad metadata: minzoom, maxzoom, bounds or json)") from None
    if len(bounds) != 4:
        raise _bad(path, "bounds 应为 west,south,east,north")
    return Contents(
        "mbtiles",
        tile_type,
        min_zoom,
        max_zoom,
        bounds,  # type: ignore[arg-type]
        str(meta.get("name") or path.stem),
        str(meta.get("attribution") or ""),
        names,
    )


def _inspect_pmtiles(path: Path) -> Contents:
    try:
        reader = _PMTiles(path)
        try:
            header, meta = reader.header, reader.metadata()
            if not isinstance(meta, dict):
                raise ValueError("metadata is not a JSON object")
            root = reader.directory(header["root_offset"], header["root_length"])
        finally:
            reader.close()
    except Exception as error:  # any broken byte of a foreign file
        raise _bad(path, f"不是可读的 PMTiles (not a readable PMTiles v3: {error!r})") from None
    tile_type = _PMTILES_TYPES.get(header["tile_type"])
    if tile_type is None:
        raise _bad(path, f"瓦片格式未知 (unknown tile type {header['tile_type']!r})")
    if not root:
        raise _bad(path, "没有瓦片 (no tiles)")
    e7 = 10_000_000
    return Contents(
        "pmtiles",
        tile_type,
        header["min_zoom"],
        header["max_zoom"],
        (
            header["min_lon_e7"] / e7,
            header["min_lat_e7"] / e7,
            header["max_lon_e7"] / e7,
            header["max_lat_e7"] / e7,
        ),
        str(meta.get("name") or path.stem),
        str(meta.get("attribution") or ""),
        [str(layer["id"]) for layer in meta.get("vector_layers", []) if "id" in layer],
    )


def _open_sqlite(path: Path) -> sqlite3.Connection:
    """An MBTiles file read-only (``immutable``: no locks, no journal; the file never
    changes — a new file is a new name)."""
    return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)


class _MBTiles:
    def __init__(self, path: Path) -> None:
        self.db = _open_sqlite(path)
        self.lock = threading.Lock()

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        with self.lock:
            row = self.db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? "
                "AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        return None if row is None else bytes(row[0])

    def close(self) -> None:
        self.db.close()


class _PMTiles:
    def __init__(self, path: Path) -> None:
        self.file = path.open("rb")
        self.map = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
        self.header = deserialize_header(self.map[:127])
        self.directory = lru_cache(maxsize=256)(self._directory)

    def _directory(self, offset: int, length: int) -> list[Any]:
        return deserialize_directory(self.map[offset : offset + length])

    def metadata(self) -> dict[str, Any]:
        h = self.header
        raw = self.map[h["metadata_offset"] : h["metadata_offset"] + h["metadata_length"]]
        if h["internal_compression"] == Compression.GZIP:
            raw = gzip.decompress(raw)
        return json.loads(raw or b"{}")

    def tile(self, z: int, x: int, y: int) -> bytes | None:
        h = self.header
        tile_id = zxy_to_tileid(z, x, y)
        offset, length = h["root_offset"], h["root_length"]
        for _depth in range(4):
            entry = find_tile(self.directory(offset, length), tile_id)
            if entry is None:
                return None
            if entry.run_length:
                start = h["tile_data_offset"] + entry.offset
                return self.map[start : start + entry.length]
            offset, length = h["leaf_directory_offset"] + entry.offset, entry.length
        return None

    def close(self) -> None:
        self.map.close()
        self.file.close()


@lru_cache(maxsize=16)
def archive(path: Path) -> _MBTiles | _PMTiles:
    """The open reader of a registered file (its name carries its hash: never stale)."""
    return _MBTiles(path) if path.suffix == ".mbtiles" else _PMTiles(path)


def read_tile(settings: Settings, basemap: Basemap, z: int, x: int, y: int) -> bytes | None:
    """Tile z/x/y (XYZ) of ``basemap``, as stored; None when the file has none (or the tile
    is outside the pyramid or the file's zooms)."""
    if not (basemap.min_zoom <= z <= basemap.max_zoom and 0 <= x < 1 << z and 0 <= y < 1 << z):
        return None
    return archive(basemap_dir(settings) / basemap.file).tile(z, x, y)


def add_basemap(
    engine: Engine,
    settings: Settings,
    source: Path,
    name: str,
    *,
    title: str | None = None,
    attribution: str | None = None,
) -> Basemap:
    """Check ``source``, copy it under the data directory and register it as ``name``.

    Nothing is registered (and no file left) when the file is refused (422
    ``invalid_basemap``) or the name is bad or taken (``invalid_basemap_name``, 409
    ``basemap_exists``)."""
    check_name(name)
    with engine.connect() as conn:
        require_free(conn, name)  # before reading and copying a large file
    contents = inspect(source)
    digest = hashlib.sha256()
    with source.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    folder = basemap_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{sha[:16]}.{contents.format}"
    basemap = Basemap(
        name=name,
        title=title or contents.title,
        format=contents.format,
        tile_type=contents.tile_type,
        min_zoom=contents.min_zoom,
        max_zoom=contents.max_zoom,
        west=contents.bounds[0],
        south=contents.bounds[1],
        east=contents.bounds[2],
        north=contents.bounds[3],
        attribution=contents.attribution if attribution is None else attribution,
        vector_layers=contents.vector_layers,
        file=target.name,
        sha256=sha,
        bytes=source.stat().st_size,
    )
    partial = target.with_name(target.name + ".part")
    existed = target.exists()  # the same file under the same name: registered, or a leftover
    try:
        if not existed:
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        with engine.begin() as conn:
            insert_basemap(conn, basemap)
    except BaseException:
        partial.unlink(missing_ok=True)
        if not existed:
            target.unlink(missing_ok=True)
        raise
    return basemap


def remove_basemap(engine: Engine, settings: Settings, name: str) -> Basemap:
    """Unregister ``name`` and delete its file; 404 ``basemap_not_found``."""
    with engine.begin() as conn:
        basemap = delete_basemap(conn, name)
    (basemap_dir(settings) / basemap.file).unlink(missing_ok=True)
    return basemap


def lookup(engine: Engine, name: str) -> Basemap:
    """The registered base map ``name`` (404 ``basemap_not_found``)."""
    with engine.connect() as conn:
        return get_basemap(conn, name)
