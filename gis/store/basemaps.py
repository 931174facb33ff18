"""The registry of office base maps: MBTiles/PMTiles files copied under the data directory
(``<home>/basemaps``) and described in the ``basemaps`` table (migration 0009), so every
worker and node knows the same ones.  Reading the files is ``tiles.basemaps``.

A base map's tiles are served at ``/basemaps/{name}/{z}/{x}/{y}?v=<sha>``: the file's hash
in the URL lets browsers keep a tile for a year, and a new file under the same name is a
new URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from gis.errors import Conflict, InvalidInput, NotFound
from gis.settings import Settings

BUILT_IN = ("none", "osm", "tianditu", "amap")
"""Base map names a page knows without the registry (``gis.web.page``): reserved."""
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
TILE_URL = "/basemaps/{name}/{{z}}/{{x}}/{{y}}?v={version}"


@dataclass(frozen=True)
class Basemap:
    """One registered base map (a row of ``basemaps``)."""

    name: str
    title: str
    format: str
    """mbtiles or pmtiles"""
    tile_type: str
    """png, jpg, webp or pbf (vector)"""
    min_zoom: int
    max_zoom: int
    west: float
    south: float
    east: float
    north: float
    attribution: str
    vector_layers: list[str]
    """The layer names of a vector base map (its default style draws each)."""
    file: str
    """The file's name under ``basemap_dir``."""
    sha256: str
    bytes: int

    @property
    def raster(self) -> bool:
        return self.tile_type != "pbf"

    @property
    def bounds(self) -> list[float]:
        return [self.west, self.south, self.east, self.north]

    def tile_url(self, base: str = "") -> str:
        """The XYZ URL template of its tiles (``base``: the server's address, or none for a
        URL relative to the site)."""
        return base + TILE_URL.format(name=self.name, version=self.sha256[:16])

    def describe(self, base: str = "") -> dict[str, Any]:
        """What ``GET /api/v1/basemaps`` says of it."""
        return {
            "name": self.name,
            "title": self.title,
            "format": self.format,
            "tile_type": self.tile_type,
            "raster": self.raster,
            "minzoom": self.min_zoom,
            "maxzoom": self.max_zoom,
            "bounds": self.bounds,
            "attribution": self.attribution,
            "vector_layers": self.vector_layers,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "tiles": self.tile_url(base),
            "tilejson": f"{base}/basemaps/{self.name}.json",
        }


def basemap_dir(settings: Settings) -> Path:
    """Where the base map files are kept (under gridmap's data directory)."""
    return settings.home / "basemaps"


def check_name(name: str) -> None:
    """A name is 1–40 lower-case letters, digits, ``-`` or ``_``, starting with a letter,
    and not a built-in base map's (``BUILT_IN``): it is a URL segment and a page parameter."""
    if not NAME.match(name) or name in BUILT_IN:
        raise InvalidInput(
            f"底图名称无效: {name!r} (a base map name is 1–40 of a-z, 0-9, - and _, starting "
            f"with a letter, and not one of {', '.join(BUILT_IN)})",
            code="invalid_basemap_name",
            details={"name": name},
        )


_COLUMNS = ", ".join(Basemap.__dataclass_fields__)
_INSERT = text(
    f"INSERT INTO basemaps ({_COLUMNS}) VALUES ("
    + ", ".join(
        "CAST(:vector_layers AS jsonb)" if c == "vector_layers" else f":{c}"
        for c in Basemap.__dataclass_fields__
    )
    + ") ON CONFLICT (name) DO NOTHING"
)


def list_basemaps(conn: Connection) -> list[Basemap]:
    """Every registered base map, in the order they were added (the first is a page's
    default)."""
    rows = conn.execute(text(f"SELECT {_COLUMNS} FROM basemaps ORDER BY created_at, name"))
    return [Basemap(**row._mapping) for row in rows]


def get_basemap(conn: Connection, name: str) -> Basemap:
    """The base map ``name``; 404 ``basemap_not_found``."""
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM basemaps WHERE name = :name"), {"name": name}
    ).one_or_none()
    if row is None:
        raise NotFound(f"没有名为 {name} 的底图 (no base map {name!r})", code="basemap_not_found")
    return Basemap(**row._mapping)


def insert_basemap(conn: Connection, basemap: Basemap) -> None:
    """Register ``basemap``; 409 ``basemap_exists`` when its name is taken."""
    check_name(basemap.name)
    values = asdict(basemap) | {"vector_layers": json.dumps(basemap.vector_layers)}
    if conn.execute(_INSERT, values).rowcount == 0:
        raise _exists(basemap.name)


def require_free(conn: Connection, name: str) -> None:
    """409 ``basemap_exists`` when ``name`` is registered."""
    if conn.execute(text("SELECT 1 FROM basemaps WHERE name = :name"), {"name": name}).first():
        raise _exists(name)


def _exists(name: str) -> Conflict:
    return Conflict(
        f"底图 {name} 已存在，请先删除 (base map {name!r} exists; remove it first)",
        code="basemap_exists",
        details={"name": name},
    )


def delete_basemap(conn: Connection, name: str) -> Basemap:
    """Unregister ``name`` and return what it was; 404 ``basemap_not_found``."""
    basemap = get_basemap(conn, name)
    conn.execute(text("DELETE FROM basemaps WHERE name = :name"), {"name": name})
    return basemap
