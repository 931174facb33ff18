"""Loading the demo city (``data/boundaries``) into the database as a boundary version."""

from __future__ import annotations

from pathlib import Path

import shapely
from shapely.geometry import shape
from sqlalchemy import Engine

from gis.demo import read_features
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


def load_demo(
    engine: Engine, demo_dir: Path, *, only_if_empty: bool = True
) -> VersionSummary | None:
    """Commit the demo city as a new version; by default only into an empty database."""
    with engine.begin() as conn:
        if only_if_empty and current_version(conn) is not None:
            return None
        return commit_regions(
            conn,
            demo_records(demo_dir),
            author=DEMO_AUTHOR,
            action="load",
            message=f"demo city from {demo_dir.name}/ (迁西县, 栗乡街道 grids)",
        )
