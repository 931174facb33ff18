"""Tiles, TileJSON and the catalogue: the cache in front of the PostGIS queries.

A cached tile is keyed by exactly what it was made from, so it is never stale:

- boundary layers (grids, communities, streets, counties, labels): (layer, z, x, y, version), the
  version being ``as_of`` or the current one that ``gis.store.watch.VersionWatch`` keeps from
  ``NOTIFY gridmap_versions`` — no database round trip; a committed version changes the key
  in every worker as soon as its notice arrives, i.e. in the very next request.  Rows of a
  version never change, so these tiles are immutable.
- centres, centre_areas, cameras, camera_sectors: (layer, z, x, y, data stamp of the table),
  the stamp being ``layer_stamps.changes``, which a trigger bumps inside every writing
  transaction (migration 0005).  Reading it is one indexed row per request — the price of
  being exact: it changes exactly when the data's change becomes visible, in every worker.
"""

from __future__ import annotations

import gzip
import hashlib
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from gis.errors import InvalidInput
from gis.settings import Settings
from gis.store.pool import ReadPool, ReadPools
from gis.store.versions import version_not_found
from gis.store.watch import VersionWatch
from tiles.cache import TileCache
from tiles.layers import EXTENT, LAYERS, Layer, get_layer, parse_tile, tolerance_m

STAMP_SQL = "SELECT changes FROM layer_stamps WHERE name = %(table)s"
VERSION_SQL = "SELECT 1 FROM boundary_versions WHERE number = %(number)s"
TILEJSON_VERSION = "3.0.0"
MERCATOR_LAT = 85.0511287798066
WORLD = (-180.0, -MERCATOR_LAT, 180.0, MERCATOR_LAT)
POOL_SIZE = 8
"""Most connections each worker's tile pool opens (besides its engine's and its watch's)."""


def tile_params(
    layer: Layer, z: int, x: int, y: int, version: int | None, settings: Settings
) -> dict[str, Any] | None:
    """The parameters of ``layer.tile_sql`` for tile z/x/y, boundary layers drawn at boundary
    ``version``; None when the tile is empty without asking (no boundaries yet, or a zoom
    below the layer's levels: ``gis.store.generalised.LEVEL_ZOOMS``)."""
    zoom = layer.zoom_params(z)
    if (layer.versioned and version is None) or zoom is None:
        return None
    return {
        **zoom,
        "z": z,
        "x": x,
        "y": y,
        "limit": settings.tile_max_features,
        "tolerance": tolerance_m(z),
        "version": version,
        **layer.params(settings),
    }


def render_tile(
    conn: Connection,
    layer: Layer,
    z: int,
    x: int,
    y: int,
    version: int | None,
    settings: Settings,
    statement: str | None = None,
) -> bytes:
    """The MVT bytes of tile z/x/y of ``layer`` (b"" when empty), uncached, on a synchronous
    connection; ``statement`` is ``layer.tile_sql(settings)``, if the caller keeps it."""
    params = tile_params(layer, z, x, y, version, settings)
    if params is None:
        return b""
    sql = statement or layer.tile_sql(settings)
    return bytes(conn.exec_driver_sql(sql, params).scalar() or b"")


@dataclass(frozen=True)
class Tile:
    """One tile's bytes, gzipped too, and its strong entity tag (hash of the bytes)."""

    data: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def of(cls, data: bytes) -> Tile:
        return cls(
            data,
            # level 1: ~3× faster than 6 for ~5 % more bytes — a cold tile is gzipped on the
            # event loop, at up to 100 KB of a low-zoom tile
            gzip.compress(data, compresslevel=1, mtime=0) if data else b"",
            hashlib.blake2b(data, digest_size=16).hexdigest(),
        )

    @property
    def size(self) -> int:
        return len(self.data) + len(self.gzipped) + 200  # with the entry's own overhead


@dataclass(frozen=True)
class TileAnswer:
    """A tile and what the HTTP answer needs to say about it."""

    tile: Tile
    layer: Layer
    version: int | None
    """The boundary version drawn (boundary layers)."""
    immutable: bool
    cache: str
    """``hit``, ``miss`` or ``off``."""


class TileService:
    """Vector tiles of the ``tiles.layers`` layers, made by PostGIS over asyncio connections
    (``gis.store.pool.ReadPool``, on a replica that has the version drawn when there are
    replicas): a cold tile is one query awaited in the event loop."""

    def __init__(self, url: str, versions: VersionWatch, settings: Settings) -> None:
        self.versions = versions
        self.settings = settings
        self.pool = ReadPools(
            ReadPool(url, size=POOL_SIZE, application_name="gridmap tiles"),
            [
                ReadPool(replica, size=POOL_SIZE, application_name="gridmap tiles")
                for replica in settings.replica_urls
            ],
        )
        self.cache: TileCache[Tile] = TileCache(settings.tile_cache_bytes, lambda t: t.size)
        self._bounds: TileCache[tuple[float, float, float, float] | None] = TileCache(
            100_000, lambda _: 100
        )
        self._sql = {name: layer.tile_sql(settings) for name, layer in LAYERS.items()}
        self._bounds_sql = {name: layer.bounds_sql(settings) for name, layer in LAYERS.items()}

    async def close(self) -> None:
        await self.pool.close()

    async def _state(self, layer: Layer, as_of: int | None) -> tuple[Hashable, int | None]:
        """What the layer's data is now: the boundary version (or a table's data stamp)."""
        if layer.versioned:
            if as_of is not None:
                return ("v", as_of), as_of
            version = await self.versions.current()
            return ("v", version or 0), version
        if as_of is not None:
            raise InvalidInput(
                f"图层 {layer.name} 没有历史版本 (the {layer.name} layer has no versions: "
                "as_of applies to grids, communities, streets and counties)",
                code="layer_not_versioned",
                details={"layer": layer.name},
            )
        row = await self.pool.fetchone(STAMP_SQL, {"table": layer.table})
        return ("s", (row[0] if row else None) or 0), None

    async def _check_version(self, as_of: int | None) -> None:
        """404 ``version_not_found`` unless boundary version ``as_of`` exists (None: the
        current, which does)."""
        if as_of is None:
            return
        if await self.pool.fetchone(VERSION_SQL, {"number": as_of}, version=as_of) is None:
            raise version_not_found(as_of)

    async def tile(
        self,
        name: str,
        z: str | int,
        x: str | int,
        y: str | int,
        *,
        as_of: int | None = None,
        use_cache: bool = True,
    ) -> TileAnswer:
        """Tile z/x/y of layer ``name`` (of boundary version ``as_of``, else the current)."""
        layer = get_layer(name)
        zi, xi, yi = parse_tile(str(z), str(x), str(y), self.settings.tile_max_zoom)
        state, version = await self._state(layer, as_of)

        async def make() -> Tile:
            await self._check_version(as_of)
            params = tile_params(layer, zi, xi, yi, version, self.settings)
            if params is None:
                return Tile.of(b"")
            row = await self.pool.fetchone(
                self._sql[layer.name], params, binary=True, version=version
            )
            return Tile.of(bytes(row[0] or b"") if row else b"")

        if use_cache and self.cache.max_bytes > 0:
            tile, hit = await self.cache.get_or_make((layer.name, zi, xi, yi, state), make)
            how = "hit" if hit else "miss"
        else:
            tile, how = await make(), "off"
        return TileAnswer(tile, layer, version, as_of is not None, how)

    async def bounds(
        self, name: str, as_of: int | None = None
    ) -> tuple[Layer, int | None, tuple[float, float, float, float] | None]:
        """The layer, the boundary version, and west/south/east/north of its data (None when
        it has none)."""
        layer = get_layer(name)
        state, version = await self._state(layer, as_of)

        async def make() -> tuple[float, float, float, float] | None:
            await self._check_version(as_of)
            if layer.versioned and version is None:
                return None
            params = {"version": version, **layer.params(self.settings)}
            row = await self.pool.fetchone(self._bounds_sql[layer.name], params, version=version)
            return None if row is None or row[0] is None else tuple(float(v) for v in row)

        found, _ = await self._bounds.get_or_make((layer.name, state), make)
        return layer, version, found

    async def tilejson(self, name: str, base_url: str, as_of: int | None = None) -> dict[str, Any]:
        """TileJSON 3.0.0 of one layer, tile URLs under ``base_url``."""
        layer, version, box = await self.bounds(name, as_of)
        max_zoom = self.settings.tile_max_zoom
        if box is None:
            bounds, center = list(WORLD), [0.0, 0.0, 0]
        else:
            west, south, east, north = box
            bounds = [west, max(south, -MERCATOR_LAT), east, min(north, MERCATOR_LAT)]
            span = max(east - west, (north - south) * 1.3, 1e-9)
            zoom = math.floor(math.log2(1000 * 360 / (512 * span)))
            center = [(west + east) / 2, (south + north) / 2, max(0, min(max_zoom, zoom))]
        query = "" if as_of is None else f"?as_of={as_of}"
        return {
            "tilejson": TILEJSON_VERSION,
            "name": f"gridmap {layer.name}",
            "description": f"{layer.title}: {layer.description}",
            "version": "1.0.0",
            "attribution": "gridmap",
            "scheme": "xyz",
            "tiles": [f"{base_url}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt{query}"],
            "minzoom": layer.min_zoom,
            "maxzoom": max_zoom,
            "bounds": bounds,
            "center": center,
            "vector_layers": [
                {
                    "id": layer.name,
                    "description": layer.title,
                    "minzoom": layer.min_zoom,
                    "maxzoom": max_zoom,
                    "fields": layer.tilejson_fields(),
                }
            ],
            "gridmap": {
                "geometry": layer.geometry,
                "versioned": layer.versioned,
                "version": version,
                "as_of": as_of,
                "extent": EXTENT,
                "fields": {f.name: f.about for f in layer.fields},
            },
        }

    def catalogue(self, base_url: str) -> dict[str, Any]:
        """Every layer with its TileJSON and tile URLs."""
        return {
            "tilejson": TILEJSON_VERSION,
            "crs": "EPSG:3857",
            "extent": EXTENT,
            "minzoom": 0,
            "maxzoom": self.settings.tile_max_zoom,
            "layers": [
                {
                    "id": layer.name,
                    "title": layer.title,
                    "description": layer.description,
                    "geometry": layer.geometry,
                    "versioned": layer.versioned,
                    "minzoom": layer.min_zoom,
                    "fields": layer.tilejson_fields(),
                    "tilejson": f"{base_url}/tiles/{layer.name}.json",
                    "tiles": f"{base_url}/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt",
                }
                for layer in LAYERS.values()
            ],
        }
