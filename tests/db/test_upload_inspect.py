"""POST /api/v1/uploads/inspect: what a file holds before validation, and GET
/api/v1/uploads/{id}/features: an upload's regions for the review map."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine
from test_upload_errors import CASES, LIMIT

from api.app import create_app
from gis.settings import Settings

from support import state, upload, write_layer
from upload_files import COMMUNITY, STATED_CRS, TRUE_CRS, community_grids, gbk_shapefile_wrong_prj

pytestmark = pytest.mark.db

READ_ERRORS = {
    "file_too_large",
    "unknown_format",
    "empty_layer",
    "wrong_geometry_type",
    "shapefile_incomplete",
    "unknown_crs",
}
"""Codes of files an upload refuses as it reads them: inspecting refuses them alike."""


def _inspect(client: TestClient, path: Path, key: str | None, **form: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with path.open("rb") as f:
        return client.post(
            "/api/v1/uploads/inspect",
            files={"file": (path.name, f)},
            data={k: v for k, v in form.items() if v is not None},
            headers=headers,
        )


def _rows(features: list[dict]) -> list[dict[str, Any]]:
    return [
        {"编码": f["properties"]["code"], "名称": f["properties"]["name"], "上级编码": COMMUNITY}
        for f in features
    ]


def _geoms(features: list[dict]) -> list[shapely.Geometry]:
    return [shape(f["geometry"]) for f in features]


def test_gbk_shapefile_with_a_wrong_prj(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """GBK attributes, Chinese field names, a .prj naming CGCS2000 over Beijing 1954
    coordinates: encoding GBK (declared by the .cpg), the stated CRS and the doctor's
    suggestion — the same the dry run then gives — the roles proposed from the Chinese names,
    level grid under the one community; a viewer may inspect, nothing is recorded."""
    archive = gbk_shapefile_wrong_prj(demo_grids, tmp_path / "file")
    before = state(fresh_engine)
    response = _inspect(fresh_client, archive, make_key("viewer"))
    assert response.status_code == 200, response.json()
    found = response.json()
    assert found["file"]["format"] == "ESRI Shapefile"
    assert found["layers"] == [{"name": "网格", "geometry_type": "Polygon", "features": 6}]
    assert found["features"] == 6 and found["geometry_types"] == ["Polygon"]
    assert found["encoding"]["encoding"] == "GBK"
    assert found["encoding"]["source"] == "cpg" and found["encoding"]["confidence"] == "declared"
    assert found["mapping"] == {
        "code": "网格编码",
        "name": "网格名称",
        "parent_code": "社区编码",
        "households": "户数",
    }
    names = [g["properties"]["name"] for g in community_grids(demo_grids)]
    by_name = {f["name"]: f for f in found["fields"]}
    assert by_name["网格名称"]["role"] == "name"
    assert by_name["网格名称"]["samples"] == names[:3], "Chinese values read as GBK"
    assert (found["level"], found["parent"], found["parents"]) == ("grid", COMMUNITY, [COMMUNITY])
    crs = found["crs"]
    assert (crs["crs"], crs["source"], crs["in_range"]) == (STATED_CRS, "file", True)
    assert crs["suggestion"]["crs"] == TRUE_CRS
    assert state(fresh_engine) == before, "inspecting records nothing"

    editor = make_key("editor")
    dry = upload(fresh_client, archive, editor, level="grid", parent=COMMUNITY).json()["report"]
    assert dry["encoding"]["encoding"] == found["encoding"]["encoding"]
    assert dry["fields"]["mapped"] == found["mapping"]
    assert dry["summary"]["errors"] > 0
    assert dry["crs"]["doctor"]["suggestion"]["crs"] == crs["suggestion"]["crs"]
    retry = upload(fresh_client, archive, editor, level="grid", parent=COMMUNITY, crs=TRUE_CRS)
    assert retry.json()["report"]["summary"]["errors"] == 0, retry.json()["report"]["problems"]
    again = _inspect(fresh_client, archive, editor, crs=TRUE_CRS).json()["crs"]
    assert (again["crs"], again["source"], again["suggestion"]) == (TRUE_CRS, "parameter", None)


def test_geojson_gpkg_kml_and_csv(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """Every text and binary format: format, count, mapping and level; a GPKG with two layers
    lists both and reads the first unless one is chosen."""
    key = make_key("viewer")
    grids = community_grids(demo_grids)
    rows, geoms = _rows(grids), _geoms(grids)
    geojson = write_layer(tmp_path / "网格.geojson", rows, geoms)
    gpkg = write_layer(tmp_path / "网格.gpkg", rows[:2], geoms[:2], driver="GPKG")
    from pyogrio.raw import write

    write(
        gpkg,
        geometry=np.array(shapely.to_wkb(geoms), dtype=object),
        field_data=[np.array([r["编码"] for r in rows], dtype=object)],
        fields=["编码"],
        layer="其他",
        driver="GPKG",
        crs="EPSG:4326",
        geometry_type="MultiPolygon",
        append=True,
    )
    kml = write_layer(
        tmp_path / "网格.kml", [{"Name": r["名称"], **r} for r in rows], geoms, driver="KML"
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["WKT", "编码", "名称", "上级编码"])
    for r, g in zip(rows, geoms, strict=True):
        writer.writerow([shapely.to_wkt(g), r["编码"], r["名称"], r["上级编码"]])
    table = tmp_path / "网格.csv"
    table.write_text(out.getvalue(), encoding="utf-8")
    expected = {geojson: "GeoJSON", gpkg: "GPKG", kml: "KML", table: "CSV"}
    for path, fmt in expected.items():
        response = _inspect(fresh_client, path, key)
        assert response.status_code == 200, (path.name, response.json())
        found = response.json()
        assert found["file"]["format"] == fmt
        assert found["features"] == (2 if path == gpkg else 6), path.name
        assert {found["mapping"][r] for r in ("code", "parent_code")} == {"编码", "上级编码"}
        assert found["level"] == "grid" and found["parent"] == COMMUNITY, path.name
        assert found["crs"]["in_range"] and found["crs"]["suggestion"] is None, found["crs"]
        x0, y0, x1, y1 = found["crs"]["bounds"]
        assert shapely.box(x0, y0, x1, y1).buffer(1e-6).contains(shapely.union_all(geoms[:2]))
    assert _inspect(fresh_client, table, key).json()["encoding"]["encoding"] == "UTF-8"
    layers = _inspect(fresh_client, gpkg, key).json()["layers"]
    assert [(la["name"], la["features"]) for la in layers] == [("网格", 2), ("其他", 6)]
    other = _inspect(fresh_client, gpkg, key, layer="其他").json()
    assert (other["layer"], other["features"], other["level"]) == ("其他", 6, "grid")


@pytest.fixture
def small_client(fresh_db_url: str) -> Iterator[TestClient]:
    """The app with the small size limits of tests/db/test_upload_errors.py."""
    settings = Settings(database_url=fresh_db_url, max_upload_bytes=LIMIT, max_unpacked_bytes=LIMIT)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_files_are_refused_as_uploads_refuse_them(
    name: str,
    small_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """Each bad file of the upload tests: a file the upload refuses while reading it gets the
    same status and code; one refused later (fields, coordinates) is still described."""
    path, form, status, code = CASES[name](tmp_path, demo_grids)
    before = state(fresh_engine)
    response = _inspect(small_client, path, make_key("viewer"), **form)
    body = response.json()
    if code in READ_ERRORS:
        assert (response.status_code, body["code"]) == (status, code), body
        assert body["message"]
    else:
        assert response.status_code in (200, status), body
        if response.status_code != 200:
            assert body["code"] == code
    assert state(fresh_engine) == before


def test_inspect_needs_a_caller(fresh_client: TestClient, tmp_path: Path, demo_grids: dict) -> None:
    grids = community_grids(demo_grids)
    path = write_layer(tmp_path / "g.geojson", _rows(grids), _geoms(grids))
    assert _inspect(fresh_client, path, None).status_code == 401


def test_review_features_of_a_dry_run(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """A file that merges the first grid into the second: its regions by change, the dropped grid
    as removed, the stored grids around as context (an unchanged one drawn once, a modified one
    also as it was) — as PostGIS stores them; the upload and its report with them."""
    grids = community_grids(demo_grids)
    geoms = _geoms(grids)
    geoms[1] = shapely.union(geoms[0], geoms[1])  # the first grid merged into the second
    path = write_layer(tmp_path / "g.geojson", _rows(grids)[1:], geoms[1:])
    key = make_key("editor")
    answer = upload(fresh_client, path, key, level="grid", parent=COMMUNITY).json()
    response = fresh_client.get(
        f"/api/v1/uploads/{answer['id']}/features",
        headers={"Authorization": f"Bearer {make_key('viewer')}"},
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    by_change: dict[str, set[str]] = {}
    for f in body["features"]:
        by_change.setdefault(f["properties"]["change"], set()).add(f["properties"]["code"])
    codes = [g["properties"]["code"] for g in grids]
    changes = answer["report"]["summary"]["changes"]
    assert by_change["removed"] == set(changes["removed"]) == {codes[0]}
    assert by_change["modified"] == set(changes["modified"]) == {codes[1]}
    assert by_change["unchanged"] == set(codes[2:])
    assert by_change["context"] & set(codes) == {codes[1]}, "the modified one's old outline"
    assert len(by_change["context"]) > 0, "the stored grids around are drawn too"
    assert body["upload"]["report"] == answer["report"] and body["upload"]["id"] == answer["id"]
    removed = next(f for f in body["features"] if f["properties"]["change"] == "removed")
    stored = fresh_client.get(f"/api/v1/regions/{codes[0]}").json()
    assert shape(removed["geometry"]).equals_exact(shape(stored["geometry"]), 1e-6)
    assert body["problem_kinds"]["outside_parent"] == "超出上级"
    assert (
        fresh_client.get(
            "/api/v1/uploads/999999/features", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 404
    )
