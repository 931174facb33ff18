"""Writing the demo city files from the committed source extracts alone.

The build is deterministic (seeded streams, no time, no hash order; every output sorted),
so building twice gives byte-identical files.  Names, columns and readers of the files are
the runtime's (``gis.store.demo_files``); formats: data/boundaries/README.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from shapely.geometry import LineString, MultiPolygon

from gis.store.demo_files import (
    ADDRESS_COLUMNS,
    ADDRESS_FILE,
    CAMERA_COLUMNS,
    CAMERA_FILE,
    CENTRE_COLUMNS,
    CENTRE_FILE,
    LEVEL_FILES,
    ROAD_FILE,
)

from demo_build.addresses import generate_addresses
from demo_build.cameras import generate_cameras
from demo_build.centres import generate_centres
from demo_build.regions import generate
from demo_build.roads import generate_roads
from demo_build.sources import read_sources


def _coords(line: Any) -> str:
    return "[" + ",".join(f"[{x:.7f},{y:.7f}]" for x, y in line.coords) + "]"


def _geometry_json(geom: MultiPolygon | LineString) -> str:
    if isinstance(geom, LineString):
        return '{"type":"LineString","coordinates":' + _coords(geom) + "}"
    polygons = (
        "[" + ",".join(_coords(r) for r in (p.exterior, *p.interiors)) + "]" for p in geom.geoms
    )
    return '{"type":"MultiPolygon","coordinates":[' + ",".join(polygons) + "]}"


def _collection_text(name: str, features: Sequence[dict[str, Any]]) -> str:
    """A FeatureCollection named ``name``, one feature per line, 7-decimal coordinates."""
    lines = []
    for feat in features:
        props = json.dumps(feat["properties"], ensure_ascii=False, separators=(",", ":"))
        geometry = _geometry_json(feat["geometry"])
        lines.append(f'{{"type":"Feature","properties":{props},"geometry":{geometry}}}')
    head = json.dumps({"type": "FeatureCollection", "name": name}, separators=(",", ":"))
    return head[:-1] + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def build(sources_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Generate the four GeoJSON files of the regions, the roads' and the CSVs of the address
    registry, the centres and the cameras in ``out_dir``, from ``sources_dir`` only; returns
    the paths by level (and ``"roads"``, ``"addresses"``, ``"centres"``, ``"cameras"``).  A
    collection is named after its file (``county``, ``streets``, ...)."""
    county, divisions = read_sources(sources_dir)
    features = generate(county, divisions)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for level, filename in LEVEL_FILES.items():
        path = out_dir / filename
        text = _collection_text(Path(filename).stem, features[level])
        path.write_bytes(text.encode("utf-8"))
        paths[level] = path
    paths["roads"] = out_dir / ROAD_FILE
    roads = _collection_text(Path(ROAD_FILE).stem, generate_roads(features))
    paths["roads"].write_bytes(roads.encode("utf-8"))
    addresses = generate_addresses(features["grid"])
    tables = (
        ("addresses", ADDRESS_FILE, ADDRESS_COLUMNS, addresses),
        ("centres", CENTRE_FILE, CENTRE_COLUMNS, generate_centres(features, addresses)),
        ("cameras", CAMERA_FILE, CAMERA_COLUMNS, generate_cameras(features, addresses)),
    )
    for key, filename, columns, rows in tables:
        paths[key] = out_dir / filename
        with paths[key].open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    return paths
