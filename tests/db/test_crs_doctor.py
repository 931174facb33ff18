"""The CRS doctor (gis/ingest/crs_doctor.py): which CRS makes a file fit what is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import mapping
from sqlalchemy import Engine

from gis.geo.crs import parse_crs, wgs84_to_gcj02
from gis.ingest.crs_doctor import References, candidates, diagnose

from hierarchy import assert_sound
from support import state, stored_geometry, upload


def _to(epsg: int, geom: shapely.Geometry) -> shapely.Geometry:
    forward = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
    return shapely.transform(geom, lambda xy: np.column_stack(forward.transform(*xy.T)))


def test_candidates_follow_the_form_of_the_eastings() -> None:
    """8-digit eastings: zone-prefixed codes of that zone and its neighbours; 6-digit: the
    central meridians near the stored data; degrees: the three lon/lat datums."""
    prefixed = {c.value for c in candidates(np.array([39.4e6, 4.4e6, 39.6e6, 4.5e6]), 118.3)}
    assert {"EPSG:4526", "EPSG:4527", "EPSG:4528"} <= prefixed  # CGCS2000 zones 38–40
    assert {"EPSG:2415", "EPSG:2363"} <= prefixed  # Beijing 1954 / Xian 1980 zone 39
    assert not any(v in prefixed for v in ("EPSG:4548", "gcj02"))
    central = {c.value for c in candidates(np.array([4.0e5, 4.4e6, 6.0e5, 4.5e6]), 118.3)}
    assert {"EPSG:4548", "EPSG:4549", "EPSG:2436", "EPSG:2384"} <= central  # CM 117E, 120E
    assert {c.value for c in candidates(np.array([118, 40, 118.6, 40.4]), 118.3)} == {
        "wgs84",
        "gcj02",
        "bd09",
    }
    swapped = {c.value for c in candidates(np.array([40, 118, 40.4, 118.6]), 118.3)}
    assert "latlon" in swapped


def test_beijing_1954_labelled_as_cgcs2000(engine: Engine) -> None:
    """Central-meridian Gauss-Krüger coordinates of Beijing 1954 read as CGCS2000: the
    ellipsoids differ, the county lands ~80 m off; the doctor names Beijing 1954 CM 117E."""
    county = stored_geometry(engine, "130227")
    raw = np.array([_to(2436, county)], dtype=object)
    found = diagnose(raw, parse_crs("EPSG:4548"), References({0: county}, {}))
    assert found is not None and found["suggestion"] is not None, found
    assert found["suggestion"]["crs"] == "EPSG:2436"
    assert found["suggestion"]["fit"] > 0.999 > 0.995 > found["fit"]
    assert "北京54" in found["suggestion"]["message"]


def test_the_doctor_is_silent_when_the_file_fits(engine: Engine) -> None:
    county = stored_geometry(engine, "130227")
    raw = np.array([_to(4527, county)], dtype=object)
    found = diagnose(raw, parse_crs("EPSG:4527"), References({0: county}, {}))
    assert found is not None and found["suggestion"] is None and found["fit"] > 0.9999
    assert diagnose(raw, parse_crs("EPSG:4527"), References({}, {})) is None


def test_projected_coordinates_labelled_as_wgs84_are_named_in_the_out_of_range_error(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Zone-39 eastings in a GeoJSON (which says CRS84): out of range — and the error says which
    CRS the numbers are in, measured against the stored county."""
    county = stored_geometry(fresh_engine, "130227")
    path = tmp_path / "county.geojson"
    feature = {
        "type": "Feature",
        "properties": {"名称": "迁西县", "编码": "130227"},
        "geometry": mapping(_to(4527, county)),
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    before = state(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="county", dry_run=False)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "coordinates_out_of_range"
    assert body["details"]["crs_doctor"]["suggestion"]["crs"] == "EPSG:4527"
    assert "crs=EPSG:4527" in body["message"]
    assert state(fresh_engine)[:2] == before[:2]


@pytest.mark.parametrize("crs", [None, "wgs84"])
def test_new_communities_in_gcj02_are_measured_against_their_stored_street(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    crs: str | None,
) -> None:
    """A town without communities gets its first two (the town cut in halves), in AMap
    coordinates: they stick out of the town; nothing of that code is stored, so the doctor
    measures how much lies inside the town read in each CRS and names GCJ-02."""
    key = make_key("editor")
    town = stored_geometry(fresh_engine, "130227100")
    x0, y0, x1, y1 = town.bounds
    mid = (x0 + x1) / 2
    halves = [
        town.intersection(shapely.box(x0, y0, mid, y1)),
        town.intersection(shapely.box(mid, y0, x1, y1)),
    ]
    gcj = [
        shapely.transform(h, lambda xy: np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])))
        for h in halves
    ]
    features = [
        {
            "type": "Feature",
            "properties": {"code": f"130227100{n:03d}", "name": f"测试村{n}"},
            "geometry": mapping(g),
        }
        for n, g in enumerate(gcj, start=1)
    ]
    path = tmp_path / "villages.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    response = upload(
        fresh_client, path, key, level="community", parent="130227100", dry_run=False, crs=crs
    )
    assert response.status_code == 422
    report = response.json()["details"]["report"]
    assert {p["kind"] for p in report["problems"] if p["severity"] == "error"} >= {"outside_parent"}
    doctor = report["crs"]["doctor"]
    assert doctor["measure"] == "inside_parent"
    assert doctor["suggestion"]["crs"] == "gcj02"
    retry = upload(
        fresh_client, path, key, level="community", parent="130227100", dry_run=False, crs="gcj02"
    )
    assert retry.status_code == 201, retry.json()
    assert_sound(fresh_engine)


def test_swapped_axes_are_named_and_crs_latlon_reads_them(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    """Latitude first (a spreadsheet turned into GeoJSON the wrong way round): out of range,
    the doctor says so, and crs=latlon reads the same file right."""
    county = stored_geometry(fresh_engine, "130227")
    swapped = shapely.transform(county, lambda xy: xy[:, ::-1])
    path = tmp_path / "county.geojson"
    feature = {
        "type": "Feature",
        "properties": {"名称": "迁西县", "编码": "130227"},
        "geometry": mapping(swapped),
    }
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    key = make_key("editor")
    response = upload(fresh_client, path, key, level="county", dry_run=False)
    assert response.status_code == 422
    assert response.json()["details"]["crs_doctor"]["suggestion"]["crs"] == "latlon"
    retry = upload(fresh_client, path, key, level="county", dry_run=False, crs="latlon")
    assert retry.status_code == 200 and retry.json()["status"] == "unchanged", retry.json()
