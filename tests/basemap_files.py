"""Small office base map files made in the test (never downloaded): raster tiles drawn with
Pillow, vector tiles from gridmap's own tile endpoint, written as MBTiles (SQLite, written
here from the MBTiles 1.3 spec) or PMTiles (the ``pmtiles`` package's writer)."""

from __future__ import annotations

import gzip
import io
import sqlite3
from pathlib import Path

from PIL import Image, ImageDraw
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from support import CITY, tile_at

Tiles = dict[tuple[int, int, int], bytes]
CITY_BOUNDS = (CITY[0] - 0.05, CITY[1] - 0.04, CITY[0] + 0.05, CITY[1] + 0.04)
"""West, south, east, north of the test base maps: the middle of the demo city."""


def png(colour: tuple[int, int, int], label: str = "") -> bytes:
    """A 256×256 PNG tile of one colour with a dark frame (and ``label``)."""
    image = Image.new("RGB", (256, 256), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 255, 255], outline=(60, 60, 60), width=2)
    if label:
        draw.text((10, 10), label, fill=(0, 0, 0))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def city_tiles(zooms: range) -> list[tuple[int, int, int]]:
    """z/x/y of the tiles covering ``CITY_BOUNDS`` at each zoom."""
    west, south, east, north = CITY_BOUNDS
    out = []
    for z in zooms:
        _, x0, y0 = tile_at(west, north, z)
        _, x1, y1 = tile_at(east, south, z)
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return out


def raster_tiles(zooms: range) -> Tiles:
    """A distinct PNG for every city tile (colour from its position, its z/x/y written)."""
    return {
        (z, x, y): png((150 + 20 * (x % 5), 190 + 12 * (y % 5), 160), f"{z}/{x}/{y}")
        for z, x, y in city_tiles(zooms)
    }


def write_mbtiles(
    path: Path,
    tiles: Tiles,
    *,
    metadata: dict[str, str] | None = None,
) -> Path:
    """An MBTiles 1.3 file of ``tiles`` (XYZ keys; stored TMS), ``metadata`` as given."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list((metadata or {}).items()))
    db.executemany(
        "INSERT INTO tiles VALUES (?, ?, ?, ?)",
        [(z, x, (1 << z) - 1 - y, data) for (z, x, y), data in tiles.items()],
    )
    db.commit()
    db.close()
    return path


def raster_metadata(zooms: range, **extra: str) -> dict[str, str]:
    return {
        "name": "测试影像",
        "format": "png",
        "minzoom": str(zooms.start),
        "maxzoom": str(zooms.stop - 1),
        "bounds": ",".join(str(v) for v in CITY_BOUNDS),
        "attribution": "© 测试测绘院",
    } | extra


def write_pmtiles(
    path: Path,
    tiles: Tiles,
    *,
    tile_type: TileType,
    zooms: range,
    gzipped: bool,
    metadata: dict | None = None,
) -> Path:
    """A PMTiles v3 file of ``tiles`` (stored as given; ``gzipped`` says they are)."""
    west, south, east, north = CITY_BOUNDS
    e7 = 10_000_000
    with path.open("wb") as f:
        writer = Writer(f)
        for (z, x, y), data in sorted(tiles.items(), key=lambda t: zxy_to_tileid(*t[0])):
            writer.write_tile(zxy_to_tileid(z, x, y), data)
        writer.finalize(
            {
                "tile_type": tile_type,
                "tile_compression": Compression.GZIP if gzipped else Compression.NONE,
                "min_zoom": zooms.start,
                "max_zoom": zooms.stop - 1,
                "min_lon_e7": int(west * e7),
                "min_lat_e7": int(south * e7),
                "max_lon_e7": int(east * e7),
                "max_lat_e7": int(north * e7),
                "center_zoom": zooms.start,
                "center_lon_e7": int(CITY[0] * e7),
                "center_lat_e7": int(CITY[1] * e7),
            },
            metadata or {},
        )
    return path


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def vector_metadata(layers: list[str]) -> dict:
    return {
        "name": "测试矢量底图",
        "attribution": "gridmap",
        "vector_layers": [{"id": name, "fields": {}} for name in layers],
    }
