"""Loading the demo city (``data/boundaries``) into the database: its boundaries as a
version, and its address registry."""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gis.addresses import AddressRecord, write_addresses
from gis.demo import ADDRESS_FILE, read_addresses, read_features
from gis.versions import RegionRecord, VersionSummary, commit_regions, current_version

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


def load_demo(
    engine: Engine, demo_dir: Path, *, only_if_empty: bool = True
) -> VersionSummary | None:
    """Commit the demo city as a new version; by default only into an empty database.

    The demo address registry (if the directory has one) is written when the registry
    is empty.
    """
    with engine.begin() as conn:
        if (demo_dir / ADDRESS_FILE).exists() and not conn.scalar(
            text("SELECT EXISTS (SELECT 1 FROM addresses)")
        ):
            write_addresses(conn, demo_addresses(demo_dir))
        if only_if_empty and current_version(conn) is not None:
            return None
        return commit_regions(
            conn,
            demo_records(demo_dir),
            author=DEMO_AUTHOR,
            action="load",
            message=f"demo city from {demo_dir.name}/ (迁西县, 栗乡街道 grids)",
        )
