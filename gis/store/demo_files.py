"""The committed demo city files (``data/boundaries``): their names, columns and readers.

The runtime only reads these files (``gis.store.seed`` loads them); the generator that
writes them is build tooling beside them (``data/boundaries/demo_build``), and imports the
names and columns from here.  Formats: data/boundaries/README.md.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from gis.store.models import LEVELS

LEVEL_FILES = {
    "county": "county.geojson",
    "street": "streets.geojson",
    "community": "communities.geojson",
    "grid": "grids.geojson",
}
"""The GeoJSON file of each region level, from the top of the hierarchy down."""
assert tuple(LEVEL_FILES) == LEVELS

ROAD_FILE = "roads.geojson"
"""The roads (LineStrings with ``name`` and ``highway``), the walking network's source."""

ADDRESS_FILE = "addresses.csv"
ADDRESS_COLUMNS = (
    "code",
    "address",
    "road",
    "road_number",
    "compound",
    "building",
    "units",
    "floors",
    "households",
    "lon",
    "lat",
)
CENTRE_FILE = "centres.csv"
CENTRE_COLUMNS = (
    "name",
    "level",
    "address",
    "floor_area_m2",
    "opening_hours",
    "radius_m",
    "region_code",
    "lon",
    "lat",
)
CAMERA_FILE = "cameras.csv"
CAMERA_COLUMNS = (
    "device_id",
    "name",
    "azimuth_deg",
    "fov_deg",
    "range_m",
    "height_m",
    "type",
    "status",
    "region_code",
    "lon",
    "lat",
)
"""The CSV tables: file name and columns (lon/lat WGS84; an empty cell is no value)."""


def read_features(demo_dir: Path) -> list[dict[str, Any]]:
    """All features of the four GeoJSON files in hierarchy order (county, streets, ...)."""
    features: list[dict[str, Any]] = []
    for filename in LEVEL_FILES.values():
        collection = json.loads((demo_dir / filename).read_text(encoding="utf-8"))
        features.extend(collection["features"])
    return features


def read_roads(demo_dir: Path) -> list[dict[str, Any]]:
    """The features of the roads file."""
    return json.loads((demo_dir / ROAD_FILE).read_text(encoding="utf-8"))["features"]


def _rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table, all values as text ("" where empty)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_addresses(demo_dir: Path) -> list[dict[str, str]]:
    """The rows of the address registry (``addresses.csv``)."""
    return _rows(demo_dir / ADDRESS_FILE)


def read_centres(demo_dir: Path) -> list[dict[str, str]]:
    """The rows of the party-service centres (``centres.csv``)."""
    return _rows(demo_dir / CENTRE_FILE)


def read_cameras(demo_dir: Path) -> list[dict[str, str]]:
    """The rows of the cameras (``cameras.csv``)."""
    return _rows(demo_dir / CAMERA_FILE)
