"""Loading the demo city (``data/boundaries``) into the database: its boundaries as a
version, its address registry, party-service centres and cameras."""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry import shape
from sqlalchemy import Connection, Engine, TextClause, text

from gis.network.build import build_network
from gis.store.addresses import AddressRecord, write_addresses
from gis.store.demo_files import (
    ADDRESS_FILE,
    CAMERA_COLUMNS,
    CAMERA_FILE,
    CENTRE_COLUMNS,
    CENTRE_FILE,
    ROAD_FILE,
    read_addresses,
    read_cameras,
    read_centres,
    read_features,
    read_roads,
)
from gis.store.models import STORAGE_SRID
from gis.store.versions import (
    RegionRecord,
    VersionSummary,
    commit_and_publish,
    commit_regions,
    current_version,
)

DEMO_AUTHOR = "gridmap demo loader"


def demo_records(demo_dir: Path) -> list[RegionRecord]:
    """The demo city's regions, county first, ready to commit."""
    records = []
    for f in read_features(demo_dir):
        props = f["properties"]
        records.append(
            RegionRecord(
                wkb=shapely.to_wkb(shape(f["geometry"])),
                **{k: props[k] for k in RegionRecord.__dataclass_fields__ if k in props},
            )
        )
    return records


def demo_addresses(demo_dir: Path) -> list[AddressRecord]:
    """The demo city's address registry (``addresses.csv``), ready to write."""
    integers = ("units", "floors", "households")
    return [
        AddressRecord(
            **{k: v or None for k, v in row.items() if k not in (*integers, "lon", "lat")},
            **{k: int(row[k]) if row[k] else None for k in integers},
            lon=float(row["lon"]),
            lat=float(row["lat"]),
        )
        for row in read_addresses(demo_dir)
    ]


def _point_insert(table: str, columns: tuple[str, ...]) -> TextClause:
    """An insert of one row of a demo table: its columns, lon/lat as the point ``geom``."""
    names = [c for c in columns if c not in ("lon", "lat")]
    return text(
        f"INSERT INTO {table} ({', '.join(names)}, geom) "
        f"VALUES ({', '.join(f':{c}' for c in names)}, "
        f"ST_SetSRID(ST_MakePoint(:lon, :lat), {STORAGE_SRID}))"
    )


CENTRE_INSERT = _point_insert("centres", CENTRE_COLUMNS)
CAMERA_INSERT = _point_insert("cameras", CAMERA_COLUMNS)
"""Inserts of one centre or camera row (lon/lat in EPSG:4326), for bulk loads."""


ROAD_INSERT = text(
    "INSERT INTO roads (name, highway, kind, geom) "
    f"VALUES (:name, :highway, 'road', ST_GeomFromText(:wkt, {STORAGE_SRID}))"
)
"""Insert of one road line (lon/lat in EPSG:4326), for the demo's roads."""


def _number(value: str) -> float | None:
    return float(value) if value else None


def demo_centres(demo_dir: Path) -> list[dict[str, object]]:
    """The demo city's party-service centres (``centres.csv``) as insert parameters;
    ``radius_m`` is None where the level's default applies."""
    return [
        {
            **{k: row[k] or None for k in ("name", "level", "address", "opening_hours")},
            "region_code": row["region_code"] or None,
            "floor_area_m2": _number(row["floor_area_m2"]),
            "radius_m": _number(row["radius_m"]),
            "lon": float(row["lon"]),
            "lat": float(row["lat"]),
        }
        for row in read_centres(demo_dir)
    ]


def demo_cameras(demo_dir: Path) -> list[dict[str, object]]:
    """The demo city's cameras (``cameras.csv``) as insert parameters."""
    numbers = ("azimuth_deg", "fov_deg", "range_m", "height_m", "lon", "lat")
    return [
        {k: _number(v) if k in numbers else (v or None) for k, v in row.items()}
        for row in read_cameras(demo_dir)
    ]


def demo_roads(demo_dir: Path) -> list[dict[str, object]]:
    """The demo city's roads (``roads.geojson``) as insert parameters."""
    return [{**f["properties"], "wkt": shape(f["geometry"]).wkt} for f in read_roads(demo_dir)]


def _is_empty(conn: Connection, table: str, *, lock: bool = False) -> bool:
    """Whether ``table`` has no rows; with ``lock``, first lock it against other writers
    (until the transaction ends), so that two loaders cannot both find it empty."""
    if lock:
        conn.execute(text(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE"))
    return not conn.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table})"))


def load_demo(
    engine: Engine, demo_dir: Path, *, only_if_empty: bool = True
) -> VersionSummary | None:
    """Commit the demo city as a new version; by default only into an empty database.

    The demo address registry, party-service centres, cameras and roads (each if the
    directory has its file) are written when their table is empty, whether or not boundaries
    exist; roads with their walking network.
    """

    def write(conn: Connection) -> VersionSummary | None:
        if (demo_dir / ADDRESS_FILE).exists() and _is_empty(conn, "addresses"):
            write_addresses(conn, demo_addresses(demo_dir))
        if (demo_dir / CENTRE_FILE).exists() and _is_empty(conn, "centres", lock=True):
            conn.execute(CENTRE_INSERT, demo_centres(demo_dir))
        if (demo_dir / CAMERA_FILE).exists() and _is_empty(conn, "cameras", lock=True):
            conn.execute(CAMERA_INSERT, demo_cameras(demo_dir))
        if (demo_dir / ROAD_FILE).exists() and _is_empty(conn, "roads", lock=True):
            conn.execute(ROAD_INSERT, demo_roads(demo_dir))
            build_network(conn)
        if only_if_empty and current_version(conn) is not None:
            return None
        return commit_regions(
            conn,
            demo_records(demo_dir),
            author=DEMO_AUTHOR,
            action="load",
            message=f"demo city from {demo_dir.name}/ (迁西县, 栗乡街道 grids)",
        )

    return commit_and_publish(engine, write)
