"""Uploads in every supported format, each holding the 6 grids of one demo community.

The demo city is version 1, so a file that repeats its codes, names, parents and geometries
must preview no changes; a file that changes something must preview exactly that.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyogrio.raw import write
from pyproj import Transformer
from shapely.geometry import shape

from support import upload, write_layer, zip_dir

COMMUNITY = "130227001001"
NO_CHANGES: dict[str, list[str]] = {"added": [], "modified": [], "removed": []}
RENAMED = "山庄里社区第一网格（东区）"
"""A new name for the first grid: a commit then shows whether Chinese text came through."""
TO_GK39 = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)

Grid = dict[str, Any]
Editor = Callable[[str], str]


def _grids(demo_grids: dict) -> list[Grid]:
    """The community's grids in the demo data: code, name, parent and geometry."""
    grids = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"],
            "parent": f["properties"]["parent_code"],
            "geometry": shape(f["geometry"]),
        }
        for f in demo_grids["features"]
        if f["properties"]["parent_code"] == COMMUNITY
    ]
    assert len(grids) == 6
    return grids


def _rows(
    grids: list[Grid], code: str = "编码", name: str = "名称", parent: str = "上级编码"
) -> list[dict[str, Any]]:
    return [{code: g["code"], name: g["name"], parent: g["parent"]} for g in grids]


def _geometries(grids: list[Grid]) -> list[shapely.Geometry]:
    return [g["geometry"] for g in grids]


def _renamed(grids: list[Grid]) -> list[Grid]:
    """The grids with the first one renamed to :data:`RENAMED`."""
    return [{**grids[0], "name": RENAMED}, *grids[1:]]


def _report(client: TestClient, path: Path, key: str, **form: Any) -> dict[str, Any]:
    """The report of an accepted upload of grids (a dry run unless ``dry_run=False``)."""
    response = upload(client, path, key, level="grid", **form)
    expected = 201 if form.get("dry_run") is False else 200
    assert response.status_code == expected, response.json()
    report = response.json()["report"]
    assert report["ok"], report["problems"]
    assert report["problems"] == []
    assert report["summary"]["features"] == 6
    return report


def _error(client: TestClient, path: Path, key: str, **form: Any) -> dict[str, Any]:
    response = upload(client, path, key, level="grid", **form)
    assert response.status_code == 422, response.json()
    return response.json()


def _assert_reprojected_only(report: dict[str, Any]) -> None:
    """Changes of a file holding the grids in a projected CRS: the round trip through it
    moves vertices by ~1e-9°, far below the storage grid (1e-7°), so nothing changes."""
    assert report["summary"]["changes"] == {"added": [], "modified": [], "removed": []}


def _assert_stored(client: TestClient, grids: list[Grid]) -> None:
    """The current regions have the grids' names and parents, and their geometries."""
    for grid in grids:
        response = client.get(f"/api/v1/regions/{grid['code']}")
        assert response.status_code == 200, response.json()
        stored = response.json()
        assert stored["properties"]["name"] == grid["name"]
        assert stored["properties"]["parent_code"] == grid["parent"]
        moved = shapely.hausdorff_distance(shape(stored["geometry"]), grid["geometry"])
        assert moved < 1e-7, (grid["code"], moved)


def _gk39(geometries: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """WGS84 lon/lat → CGCS2000 3-degree Gauss-Krüger zone 39 (8-digit eastings)."""
    return [
        shapely.transform(g, lambda xy: np.column_stack(TO_GK39.transform(*xy.T)))
        for g in geometries
    ]


def _shapefile(
    directory: Path,
    stem: str,
    rows: list[dict[str, Any]],
    geometries: list[shapely.Geometry],
    *,
    crs: str | None = "EPSG:4326",
    encoding: str = "UTF-8",
) -> list[Path]:
    """Write a shapefile; return its parts (.shp .shx .dbf, plus .prj and .cpg if written)."""
    directory.mkdir(exist_ok=True)
    write_layer(
        directory / f"{stem}.shp",
        rows,
        geometries,
        driver="ESRI Shapefile",
        crs=crs,
        encoding=encoding,
    )
    return sorted(directory.glob(f"{stem}.*"))


def _kml(path: Path, grids: list[Grid], description: str | None = None) -> Path:
    """A KML written by GDAL: <name>, maybe <description>, 编码/上级编码 as SchemaData."""
    rows: list[dict[str, Any]] = [
        {
            "Name": g["name"],
            **({"description": description} if description is not None else {}),
            "编码": g["code"],
            "上级编码": g["parent"],
        }
        for g in grids
    ]
    write_layer(path, rows, _geometries(grids), driver="KML")
    text = path.read_text(encoding="utf-8")
    # GDAL keeps the attributes as ExtendedData/SchemaData with the Chinese field names
    assert '<SimpleField name="上级编码" type="string">' in text
    assert f'<SimpleData name="编码">{grids[0]["code"]}</SimpleData>' in text
    assert f"<name>{grids[0]['name']}</name>" in text
    return path


def _csv(grids: list[Grid]) -> str:
    """A CSV with a WKT column; exact coordinates (no rounding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["WKT", "编码", "名称", "上级编码"])
    for g in grids:
        wkt = shapely.to_wkt(g["geometry"], rounding_precision=-1)
        writer.writerow([wkt, g["code"], g["name"], g["parent"]])
    return out.getvalue()


# --------------------------------------------------------------------------- GeoPackage


def test_geopackage_with_two_layers_needs_the_layer_named(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _grids(demo_grids)
    path = tmp_path / "唐山.gpkg"
    rows = _rows(grids)
    for layer, geometries in (
        ("网格", _geometries(grids)),
        ("社区", [shapely.union_all(_geometries(grids))]),
    ):
        count = len(geometries)
        write(
            path,
            geometry=np.array(shapely.to_wkb(geometries), dtype=object),
            field_data=[np.array([r[f] for r in rows[:count]], dtype=object) for f in rows[0]],
            fields=list(rows[0]),
            layer=layer,
            driver="GPKG",
            crs="EPSG:4326",
            geometry_type="MultiPolygon",
        )
    key = make_key("editor")

    missing = _error(fresh_client, path, key)
    assert missing["code"] == "layer_required"
    assert sorted(missing["details"]["layers"]) == ["社区", "网格"]

    unknown = _error(fresh_client, path, key, layer="街道")
    assert unknown["code"] == "layer_not_found"
    assert unknown["details"]["layer"] == "街道"
    assert sorted(unknown["details"]["layers"]) == ["社区", "网格"]

    report = _report(fresh_client, path, key, layer="网格")
    assert report["file"] == {"source": "唐山.gpkg", "format": "GPKG", "layer": "网格"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "file")
    assert report["encoding"] is None
    assert report["summary"]["changes"] == NO_CHANGES


# --------------------------------------------------------------------------- KML / KMZ


def test_kml_written_by_gdal_keeps_names_and_extended_data(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _renamed(_grids(demo_grids))
    path = _kml(tmp_path / "网格.kml", grids, description="山庄里社区网格边界")
    key = make_key("editor")

    report = _report(fresh_client, path, key)
    assert report["file"] == {"source": "网格.kml", "format": "KML", "layer": "网格"}
    assert report["crs"]["crs"] == "EPSG:4326"
    assert report["crs"]["source"] == "file"
    assert report["encoding"]["encoding"] == "UTF-8"
    mapped = report["fields"]["mapped"]
    assert mapped == {"code": "编码", "name": "Name", "parent_code": "上级编码"}
    assert report["fields"]["detected"] == ["code", "name", "parent_code"]
    assert "description" in report["fields"]["unmapped"]
    # the description is a new attribute of every grid
    changes = report["summary"]["changes"]
    assert changes == {"added": [], "modified": sorted(g["code"] for g in grids), "removed": []}

    committed = _report(fresh_client, path, key, dry_run=False)
    assert committed["summary"]["changes"] == changes
    _assert_stored(fresh_client, grids)
    stored = fresh_client.get(f"/api/v1/regions/{grids[0]['code']}").json()
    assert stored["properties"]["attributes"]["description"] == "山庄里社区网格边界"


def test_kmz_is_the_zipped_kml(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _renamed(_grids(demo_grids))
    kml = _kml(tmp_path / "网格.kml", grids)
    kmz = tmp_path / "网格.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(kml, "doc.kml")
    key = make_key("editor")

    report = _report(fresh_client, kmz, key, dry_run=False)
    assert report["file"] == {"source": "doc.kml", "format": "KML", "layer": "网格"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "file")
    assert report["fields"]["mapped"] == {"code": "编码", "name": "Name", "parent_code": "上级编码"}
    assert grids[0]["code"] in report["summary"]["changes"]["modified"]
    _assert_stored(fresh_client, grids)


def test_kml_of_unchanged_grids_changes_nothing(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    path = _kml(tmp_path / "网格.kml", _grids(demo_grids))
    report = _report(fresh_client, path, make_key("editor"))
    assert report["summary"]["changes"] == NO_CHANGES


# --------------------------------------------------------------------------- FlatGeobuf


def test_kml_declared_in_gbk(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    """Expat reads no GBK: a KML whose XML header declares GBK is transcoded, names intact."""
    grids = _renamed(_grids(demo_grids))
    path = _kml(tmp_path / "网格.kml", grids)
    text = path.read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="utf-8" ?>')
    gbk = text.replace('encoding="utf-8"', 'encoding="GBK"', 1).encode("gbk")
    path.write_bytes(gbk)
    report = _report(fresh_client, path, make_key("editor"))
    assert report["encoding"]["source"] == "declared"
    assert report["encoding"]["encoding"] == "GBK"
    assert report["summary"]["changes"]["modified"] == [grids[0]["code"]]
    _report(fresh_client, path, make_key("editor"), dry_run=False)
    _assert_stored(fresh_client, grids)


def test_flatgeobuf(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _grids(demo_grids)
    path = write_layer(tmp_path / "网格.fgb", _rows(grids), _geometries(grids), driver="FlatGeobuf")
    report = _report(fresh_client, path, make_key("editor"))
    assert report["file"] == {"source": "网格.fgb", "format": "FlatGeobuf", "layer": "网格"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "file")
    assert report["encoding"] is None
    assert report["fields"]["mapped"] == {"code": "编码", "name": "名称", "parent_code": "上级编码"}
    assert report["summary"]["changes"] == NO_CHANGES


# --------------------------------------------------------------------------- CSV with WKT


def test_csv_with_wkt_in_utf8_infers_wgs84(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    path = tmp_path / "网格.csv"
    path.write_text(_csv(_grids(demo_grids)), encoding="utf-8")
    report = _report(fresh_client, path, make_key("editor"))
    assert report["file"] == {"source": "网格.csv", "format": "CSV", "layer": "网格"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "inferred")
    assert "EPSG:4326" in report["crs"]["reason"]
    assert (report["encoding"]["encoding"], report["encoding"]["source"]) == ("UTF-8", "utf-8")
    assert report["fields"]["mapped"] == {"code": "编码", "name": "名称", "parent_code": "上级编码"}
    assert report["fields"]["unmapped"] == []
    assert report["summary"]["changes"] == NO_CHANGES


def test_csv_in_gbk_is_detected_and_names_survive(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _renamed(_grids(demo_grids))
    path = tmp_path / "网格.csv"
    path.write_bytes(_csv(grids).encode("gbk"))
    key = make_key("editor")

    report = _report(fresh_client, path, key)
    assert report["encoding"]["encoding"] in ("GB18030", "GBK")
    assert report["encoding"]["source"] == "gb18030"
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "inferred")
    assert report["summary"]["changes"] == {
        "added": [],
        "modified": [grids[0]["code"]],
        "removed": [],
    }
    committed = _report(fresh_client, path, key, dry_run=False)
    assert committed["summary"]["changes"] == report["summary"]["changes"]
    _assert_stored(fresh_client, grids)


# --------------------------------------------------------------------------- Shapefile


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_in_gauss_kruger_crs_inferred_given_or_from_prj(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _grids(demo_grids)
    rows = _rows(grids, code="CODE", name="NAME", parent="PARENT")
    projected = _gk39(_geometries(grids))
    assert 39_000_000 < shapely.total_bounds(projected)[0] < 40_000_000
    bare = _shapefile(tmp_path / "bare", "网格", rows, projected, crs=None)
    assert [p.suffix for p in bare] == [".cpg", ".dbf", ".shp", ".shx"]
    no_prj = zip_dir(bare, tmp_path / "no_prj.zip")
    with_prj = zip_dir(
        _shapefile(tmp_path / "prj", "网格", rows, projected, crs="EPSG:4527"),
        tmp_path / "with_prj.zip",
    )
    key = make_key("editor")

    inferred = _report(fresh_client, no_prj, key)
    assert (inferred["crs"]["crs"], inferred["crs"]["source"]) == ("EPSG:4527", "inferred")
    assert "39" in inferred["crs"]["reason"]
    assert inferred["file"] == {"source": "网格.shp", "format": "ESRI Shapefile", "layer": "网格"}
    assert (inferred["encoding"]["encoding"], inferred["encoding"]["source"]) == ("UTF-8", "cpg")
    assert inferred["fields"]["mapped"] == {"code": "CODE", "name": "NAME", "parent_code": "PARENT"}
    _assert_reprojected_only(inferred)

    given = _report(fresh_client, no_prj, key, crs="EPSG:4527")
    assert (given["crs"]["crs"], given["crs"]["source"]) == ("EPSG:4527", "parameter")
    _assert_reprojected_only(given)

    from_file = _report(fresh_client, with_prj, key)
    assert (from_file["crs"]["crs"], from_file["crs"]["source"]) == ("EPSG:4527", "file")
    _assert_reprojected_only(from_file)

    # the projection round trip moves vertices by far less than 1e-7°: a commit is a no-op
    committed = upload(fresh_client, with_prj, key, level="grid", dry_run=False)
    assert (committed.status_code, committed.json()["status"]) == (200, "unchanged")
    _assert_stored(fresh_client, grids)


def test_gbk_shapefile_without_cpg_or_language_driver(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _renamed(_grids(demo_grids))
    parts = _shapefile(tmp_path, "网格", _rows(grids), _geometries(grids), encoding="GBK")
    tmp_path.joinpath("网格.cpg").unlink()
    dbf = tmp_path / "网格.dbf"
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0  # no language driver
    dbf.write_bytes(bytes(raw))
    assert RENAMED.encode("gbk") in raw and "上级编码".encode("gbk") in raw
    archive = zip_dir([p for p in parts if p.suffix != ".cpg"], tmp_path / "grids.zip")
    key = make_key("editor")

    report = _report(fresh_client, archive, key)
    assert report["encoding"]["encoding"] == "GB18030"
    assert report["encoding"]["source"] == "gb18030"
    assert report["fields"]["mapped"] == {"code": "编码", "name": "名称", "parent_code": "上级编码"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "file")
    assert report["summary"]["changes"] == {**NO_CHANGES, "modified": [grids[0]["code"]]}

    _report(fresh_client, archive, key, dry_run=False)
    _assert_stored(fresh_client, grids)


def test_zip_from_chinese_windows_with_gbk_entry_names(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _renamed(_grids(demo_grids))
    parts = _shapefile(tmp_path / "parts", "grid", _rows(grids), _geometries(grids), encoding="GBK")
    stem = "网格".encode("gbk")
    placeholder = b"_" * len(stem)
    archive = tmp_path / "网格.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for part in parts:  # ASCII names: no UTF-8 flag; then swap in the GBK bytes
            z.write(part, placeholder.decode("ascii") + part.suffix)
    data = archive.read_bytes()
    assert data.count(placeholder + b".") == 2 * len(parts)  # local header + central directory
    archive.write_bytes(data.replace(placeholder + b".", stem + b"."))
    with zipfile.ZipFile(archive) as z:
        infos = z.infolist()
    assert all(not i.flag_bits & 0x800 for i in infos)
    assert {i.filename for i in infos} == {
        "网格".encode("gbk").decode("cp437") + p.suffix for p in parts
    }
    key = make_key("editor")

    report = _report(fresh_client, archive, key)
    assert report["file"] == {"source": "网格.shp", "format": "ESRI Shapefile", "layer": "网格"}
    assert (report["encoding"]["encoding"], report["encoding"]["source"]) == ("GBK", "cpg")
    assert report["summary"]["changes"] == {**NO_CHANGES, "modified": [grids[0]["code"]]}

    _report(fresh_client, archive, key, dry_run=False)
    _assert_stored(fresh_client, grids)


def test_shapefile_of_unchanged_grids_changes_nothing(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _grids(demo_grids)
    parts = _shapefile(tmp_path, "grids", _rows(grids), _geometries(grids), encoding="GBK")
    report = _report(fresh_client, zip_dir(parts, tmp_path / "grids.zip"), make_key("editor"))
    assert report["summary"]["changes"] == NO_CHANGES


# --------------------------------------------------------------------------- field mapping


def test_explicit_field_mapping(
    fresh_client: TestClient, make_key: Editor, demo_grids: dict, tmp_path: Path
) -> None:
    grids = _grids(demo_grids)
    rows = _rows(grids, code="BM", name="MC", parent="SJBM")
    path = write_layer(tmp_path / "grids.geojson", rows, _geometries(grids))
    mapping = {"code": "BM", "name": "MC", "parent_code": "SJBM"}
    report = _report(fresh_client, path, make_key("editor"), fields=json.dumps(mapping))
    assert report["fields"] == {"mapped": mapping, "detected": [], "unmapped": []}
    assert report["file"] == {"source": "grids.geojson", "format": "GeoJSON", "layer": "grids"}
    assert (report["crs"]["crs"], report["crs"]["source"]) == ("EPSG:4326", "file")
    assert (report["encoding"]["encoding"], report["encoding"]["source"]) == ("UTF-8", "utf-8")
    assert report["summary"]["changes"] == NO_CHANGES
