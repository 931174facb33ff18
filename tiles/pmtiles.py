"""A region's vector tiles as one PMTiles v3 archive, for maps on machines with no server.

For every zoom of the range, the tiles covering the region's bounding box (XYZ scheme); each
tile is the concatenation of the chosen layers' MVT tiles — ``tiles.service.render_tile``,
the very bytes the HTTP endpoint serves — which is one valid MVT tile with several layers.
Empty tiles are left out; the others are gzipped.  The header carries the region's bounds,
a centre and the zoom range; the metadata is TileJSON-like (``vector_layers`` as in
``/tiles/{layer}.json``), with the name and attribution in Chinese.
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer
from sqlalchemy import Engine, text

from gis.catalogue import REGION_LAYERS
from gis.errors import InvalidInput
from gis.query.regions import require_region
from gis.settings import Settings
from gis.store.versions import current_version, valid_at
from tiles.layers import EXTENT, LAYERS, get_layer
from tiles.service import MERCATOR_LAT, render_tile

REGION_SQL = text(
    "SELECT r.name, r.level, ST_XMin(r.geom::box2d), ST_YMin(r.geom::box2d), "
    "ST_XMax(r.geom::box2d), ST_YMax(r.geom::box2d) FROM regions r WHERE r.code = :code "
    f"AND {valid_at()}"
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote."""

    path: Path
    tiles: int
    """Non-empty tiles written."""
    candidates: int
    """Tiles looked at (the bounding box at every zoom)."""
    bytes: int
    version: int


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Column and row of the zoom-``z`` tile holding lon/lat (clamped to the pyramid)."""
    n = 2**z
    lat = max(-MERCATOR_LAT, min(MERCATOR_LAT, lat))
    x = (lon + 180) / 360 * n
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return min(n - 1, max(0, math.floor(x))), min(n - 1, max(0, math.floor(y)))


def covering_tiles(box: Box, minzoom: int, maxzoom: int) -> list[tuple[int, int, int]]:
    """z/x/y of the tiles covering a west/south/east/north box, in PMTiles tile-id order."""
    west, south, east, north = box
    out = []
    for z in range(minzoom, maxzoom + 1):
        x0, y0 = tile_xy(west, north, z)
        x1, y1 = tile_xy(east, south, z)
        out += [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return sorted(out, key=lambda t: zxy_to_tileid(*t))


def check_zooms(minzoom: int, maxzoom: int, settings: Settings) -> None:
    """0 ≤ minzoom ≤ maxzoom ≤ ``tile_max_zoom``, else ``invalid_zoom``."""
    top = settings.tile_max_zoom
    if not (0 <= minzoom <= maxzoom <= top):
        raise InvalidInput(
            f"缩放级别无效: minzoom {minzoom}, maxzoom {maxzoom} "
            f"(need 0 ≤ minzoom ≤ maxzoom ≤ {top})",
            code="invalid_zoom",
            details={"minzoom": minzoom, "maxzoom": maxzoom, "max_zoom": top},
        )


def parse_layers(names: Sequence[str] | str | None) -> list[str]:
    """Layer names (a comma-separated string or a list; None: every layer), checked."""
    if names is None:
        return list(LAYERS)
    if isinstance(names, str):
        names = names.split(",")
    chosen = [n.strip() for n in names if n.strip()]
    if not chosen:
        raise InvalidInput("--layers is empty", code="invalid_parameter")
    for name in chosen:
        get_layer(name)  # 404 layer_not_found, naming the layers there are
    return list(dict.fromkeys(chosen))


def export_pmtiles(
    engine: Engine,
    settings: Settings,
    region: str,
    output: Path,
    *,
    minzoom: int = 10,
    maxzoom: int = 16,
    layers: Sequence[str] | str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write the tiles of ``region`` (current boundary version) to the archive ``output``.

    ``progress(done, total)`` is called as tiles are made.  The archive appears only when it
    is complete (written beside it, then renamed).
    """
    check_zooms(minzoom, maxzoom, settings)
    names = parse_layers(layers)
    chosen = [LAYERS[n] for n in names]
    statements = {layer.name: layer.tile_sql(settings) for layer in chosen}
    with engine.connect() as conn:
        version = current_version(conn)
        require_region(conn, region, version)  # 404 region_not_found
        row = conn.execute(REGION_SQL, {"code": region, "v": version}).one()
        title, level, box = row[0], row[1], tuple(float(v) for v in row[2:])
        tiles = covering_tiles(box, minzoom, maxzoom)
        total = len(tiles)
        if progress:
            progress(0, total)

        def made() -> Iterator[tuple[int, bytes]]:
            for done, (z, x, y) in enumerate(tiles, 1):
                data = b"".join(
                    render_tile(conn, layer, z, x, y, version, settings, statements[layer.name])
                    for layer in chosen
                )
                if progress:
                    progress(done, total)
                if data:
                    yield zxy_to_tileid(z, x, y), gzip.compress(data, compresslevel=6, mtime=0)

        partial = output.with_name(output.name + ".part")
        written = 0
        try:
            with partial.open("wb") as f:
                writer = Writer(f)
                for tile_id, data in made():
                    writer.write_tile(tile_id, data)
                    written += 1
                if not written:
                    raise InvalidInput(
                        f"区域 {region} 在 {minzoom}–{maxzoom} 级没有要素 (no features of the "
                        f"layers {', '.join(names)} in region {region}'s tiles; nothing to write)",
                        code="nothing_to_export",
                        details={"region": region, "layers": names},
                    )
                writer.finalize(
                    _header(box, minzoom, maxzoom),
                    _metadata(region, title, level, version, names, minzoom, maxzoom),
                )
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    return ExportSummary(output, written, total, output.stat().st_size, version or 0)


def _header(box: Box, minzoom: int, maxzoom: int) -> dict[str, Any]:
    west, south, east, north = box
    e7 = 10_000_000
    return {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_zoom": minzoom,
        "max_zoom": maxzoom,
        "min_lon_e7": math.floor(west * e7),
        "min_lat_e7": math.floor(south * e7),
        "max_lon_e7": math.ceil(east * e7),
        "max_lat_e7": math.ceil(north * e7),
        "center_zoom": minzoom,
        "center_lon_e7": round((west + east) / 2 * e7),
        "center_lat_e7": round((south + north) / 2 * e7),
    }


def _metadata(
    code: str,
    title: str,
    level: str,
    version: int | None,
    names: list[str],
    minzoom: int,
    maxzoom: int,
) -> dict[str, Any]:
    return {
        "name": f"{title} 网格化治理地图",
        "description": f"{title}（{REGION_LAYERS[level].short_title}，编码 {code}）的矢量瓦片，"
        f"边界版本 {version}；图层：{'、'.join(LAYERS[n].title for n in names)}",
        "attribution": "gridmap 党建引领网格化治理",
        "version": "1.0.0",
        "type": "overlay",
        "format": "pbf",
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "vector_layers": [
            {
                "id": name,
                "description": LAYERS[name].title,
                "minzoom": minzoom,
                "maxzoom": maxzoom,
                "fields": LAYERS[name].tilejson_fields(),
            }
            for name in names
        ],
        "gridmap": {
            "region": code,
            "level": level,
            "version": version,
            "extent": EXTENT,
            "layers": names,
        },
    }
