"""Uploads to the address registry: GBK CSV in GCJ-02, shapefiles in Gauss-Krüger, dry runs,
bad files that write nothing, the validation report, points outside the grids, the point
column aliases, and the same through ``gridmap import``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gis.geo.crs import from_wgs84, gcj02_to_wgs84, parse_crs, wgs84_to_gcj02
from gis.query.addresses import match_address

from support import GRIDMAP, REGISTRY, SUNNY, upload, write_layer, zip_dir

GRID_POINTS = [(float(r["lon"]), float(r["lat"])) for r in REGISTRY[1:4]]
"""Three WGS84 points inside demo grids."""


def _registry(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT code, address, normalized, households, ST_AsText(geom), updated_at "
                "FROM addresses ORDER BY code"
            )
        ).all()


def _write_csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str) -> Path:
    lines = [",".join(header), *(",".join(str(v) for v in row) for row in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _gcj_rows() -> list[list[Any]]:
    rows = []
    for i, (lon, lat) in enumerate(GRID_POINTS, start=1):
        glon, glat = wgs84_to_gcj02(lon, lat)
        rows.append(
            [f"T{i:04d}", f"迁西县测试路{i}号栗乡花园{i}号楼", f"{glon:.9f}", f"{glat:.9f}", 40]
        )
    return rows


def test_gbk_csv_in_gcj02_round_trips(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    rows = _gcj_rows()
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", "经度", "纬度", "户数"], rows, "gbk"
    )
    editor = make_key("editor")
    before = _registry(fresh_engine)
    response = upload(fresh_client, path, editor, kind="addresses", crs="gcj02", dry_run=False)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"]) == ("committed", None)
    report = body["report"]
    assert report["ok"] and report["problems"] == []
    assert report["summary"]["changes"] == {"added": 3, "modified": 0}
    assert report["encoding"]["encoding"].lower() in ("gb18030", "gbk")
    assert report["crs"] == {
        "crs": "GCJ-02",
        "source": "parameter",
        "reason": "由上传参数指定 (given)",
    }
    assert report["fields"]["mapped"] == {
        "code": "地址编码",
        "address": "地址",
        "lon": "经度",
        "lat": "纬度",
        "households": "户数",
    }
    after = {r[0]: r for r in _registry(fresh_engine)}
    assert len(after) == len(before) + 3
    with fresh_engine.connect() as conn:
        for code, address, glon, glat, _ in rows:
            stored = conn.execute(
                text(
                    "SELECT address, compound, building, households, ST_X(geom), ST_Y(geom) "
                    "FROM addresses WHERE code = :c"
                ),
                {"c": code},
            ).one()
            expected = gcj02_to_wgs84(float(glon), float(glat))
            assert stored[:4] == (address, "栗乡花园", code[-1], 40), "parsed from the text"
            assert stored[4:] == pytest.approx(expected, abs=1e-9)
            match = match_address(conn, address)
            assert (match.row.code, match.confidence) == (code, 1.0)
    history = fresh_client.get("/api/v1/uploads", headers={"Authorization": f"Bearer {editor}"})
    (item,) = history.json()["uploads"]
    assert (item["kind"], item["level"], item["status"]) == ("addresses", None, "committed")

    again = upload(fresh_client, path, editor, kind="addresses", crs="gcj02", dry_run=False)
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert {r[0]: r for r in _registry(fresh_engine)} == after


def _sunny_and(tmp_path: Path, row: list[Any]) -> Path:
    """A UTF-8 CSV of 阳光小区 5号楼, now with 7 households, and ``row``."""
    return _write_csv(
        tmp_path / "a.csv",
        ["code", "address", "lon", "lat", "households"],
        [[SUNNY["code"], SUNNY["address"], SUNNY["lon"], SUNNY["lat"], 7], row],
        "utf-8",
    )


def test_dry_run_writes_nothing(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    path = _sunny_and(tmp_path, ["NEW1", "兴安街1号", *GRID_POINTS[0], ""])
    before = _registry(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), kind="addresses")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "dry_run"
    assert body["report"]["summary"]["changes"] == {"added": 1, "modified": 1}
    assert body["report"]["crs"]["source"] == "inferred"
    assert _registry(fresh_engine) == before


def _bad_values(tmp_path: Path) -> Path:
    return _write_csv(
        tmp_path / "bad.csv",
        ["code", "address", "lon", "lat", "floors"],
        [
            ["B1", "兴安街1号", *GRID_POINTS[0], 6],
            ["B1", "兴安街2号", *GRID_POINTS[1], 6],
            ["", "兴安街3号", *GRID_POINTS[2], 6],
            ["B4", "", *GRID_POINTS[2], 6],
            ["B5", "兴安街5号", "东经118度", GRID_POINTS[2][1], 6],
            ["B6", "兴安街6号", *GRID_POINTS[2], "六层"],
        ],
        "utf-8",
    )


def _polygons(tmp_path: Path) -> Path:
    return write_layer(
        tmp_path / "a.geojson",
        [{"code": "P1", "address": "兴安街1号"}],
        [shapely.box(118.3, 40.1, 118.31, 40.11)],
    )


def _no_coordinates(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "a.csv", ["code", "address"], [["N1", "兴安街1号"]], "utf-8")


def _swapped(tmp_path: Path) -> Path:
    lon, lat = GRID_POINTS[0]
    return _write_csv(
        tmp_path / "a.csv",
        ["code", "address", "lon", "lat"],
        [["S1", "兴安街1号", lat, lon]],
        "utf-8",
    )


@pytest.mark.parametrize(
    ("make", "form", "status", "code"),
    [
        (_bad_values, {}, 422, "validation_failed"),
        (_polygons, {}, 422, "wrong_geometry_type"),
        (_no_coordinates, {}, 422, "required_field_missing"),
        (_swapped, {"crs": "wgs84"}, 422, "coordinates_out_of_range"),
        (_no_coordinates, {"kind": "boundaries"}, 422, "invalid_parameter"),
        (_no_coordinates, {"kind": "streets"}, 422, "invalid_parameter"),
    ],
)
def test_a_bad_file_writes_nothing(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
    make: Callable[[Path], Path],
    form: dict[str, str],
    status: int,
    code: str,
) -> None:
    before = _registry(fresh_engine)
    response = upload(
        fresh_client,
        make(tmp_path),
        make_key("editor"),
        **{"kind": "addresses", **form, "dry_run": False},
    )
    assert (response.status_code, response.json()["code"]) == (status, code), response.json()
    assert _registry(fresh_engine) == before


def test_validation_report_names_each_problem(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    response = upload(fresh_client, _bad_values(tmp_path), make_key("editor"), kind="addresses")
    report = response.json()["report"]
    assert response.json()["status"] == "dry_run" and not report["ok"]
    found = {(p["kind"], p["feature"], p["severity"]) for p in report["problems"]}
    assert found == {
        ("duplicate_code", 1, "error"),
        ("duplicate_code", 2, "error"),
        ("missing_code", 3, "error"),
        ("missing_address", 4, "error"),
        ("invalid_coordinates", 5, "error"),
        ("invalid_number", 6, "error"),
    }
    assert report["summary"]["changes"] is None


def test_points_outside_grids_are_warnings_and_codes_update(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    path = _sunny_and(tmp_path, ["FAR1", "迁西县远郊路1号", 118.5, 40.3, ""])
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 201, response.json()
    report = response.json()["report"]
    assert [(p["kind"], p["severity"], p["code"], p["location"]) for p in report["problems"]] == [
        ("outside_grids", "warning", "FAR1", [118.5, 40.3])
    ]
    assert report["summary"]["changes"] == {"added": 1, "modified": 1}
    with fresh_engine.connect() as conn:
        assert match_address(conn, SUNNY["address"]).row.households == 7
        assert conn.scalar(text("SELECT count(*) FROM addresses")) == len(REGISTRY) + 1


def test_gbk_shapefile_of_points_in_gauss_kruger(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    gk = parse_crs("EPSG:4527")
    points = from_wgs84(shapely.points(GRID_POINTS), gk)
    rows = [
        {"编码": f"G{i}", "地址": f"喜峰路{i}号", "楼栋": "", "层数": 6} for i in range(len(points))
    ]
    write_layer(
        tmp_path / "地址点.shp",
        rows,
        list(points),
        driver="ESRI Shapefile",
        crs="EPSG:4527",
        encoding="GBK",
        geometry_type="Point",
    )
    archive = zip_dir(sorted(tmp_path.glob("地址点.*")), tmp_path / "points.zip")
    viewer = upload(fresh_client, archive, make_key("viewer"), kind="addresses")
    assert (viewer.status_code, viewer.json()["code"]) == (403, "insufficient_role")
    response = upload(fresh_client, archive, make_key("editor"), kind="addresses", dry_run=False)
    assert response.status_code == 201, response.json()
    assert response.json()["report"]["crs"]["crs"] == "EPSG:4527"
    with fresh_engine.connect() as conn:
        stored = conn.execute(
            text(
                "SELECT code, address, building, floors, ST_X(geom), ST_Y(geom) FROM addresses "
                "WHERE code LIKE 'G%' ORDER BY code"
            )
        ).all()
    assert [s[:4] for s in stored] == [(f"G{i}", f"喜峰路{i}号", None, 6) for i in range(3)]
    for s, (lon, lat) in zip(stored, GRID_POINTS, strict=True):
        assert s[4:] == pytest.approx((lon, lat), abs=1e-8)


def test_cli_import_of_addresses(fresh_db_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", "经度", "纬度"], _gcj_rows(), "gbk"
    )
    args = [GRIDMAP, "import", str(path), "--kind", "addresses", "--crs", "gcj02"]
    dry = subprocess.run(args, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "dry_run" in dry.stdout and "encoding GB18030" in dry.stdout
    done = subprocess.run([*args, "--commit"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "changes: +3 ~0" in done.stdout and "committed" in done.stdout
    no_level = subprocess.run(
        [GRIDMAP, "import", str(path)], env=env, capture_output=True, text=True
    )
    assert no_level.returncode == 1 and "invalid_parameter" in no_level.stderr


@pytest.mark.parametrize(
    ("lon", "lat"),
    [("东经", "北纬"), ("ｌｎｇ", "ＬＡＴ"), ("Longitude", "Latitude"), ("X坐标", "Y坐标")],
)
def test_address_upload_takes_the_point_column_aliases(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    tmp_path: Path,
    lon: str,
    lat: str,
) -> None:
    """The one alias table (gis.ingest.fields.POINT_COLUMNS) serves uploads as it serves lookups."""
    path = _write_csv(
        tmp_path / "地址.csv", ["地址编码", "地址", lon, lat], [r[:4] for r in _gcj_rows()], "utf-8"
    )
    response = upload(fresh_client, path, make_key("editor"), kind="addresses", crs="gcj02")
    assert response.status_code == 200, response.json()
    report = response.json()["report"]
    assert report["ok"], report["problems"]
    assert (report["fields"]["mapped"]["lon"], report["fields"]["mapped"]["lat"]) == (lon, lat)
