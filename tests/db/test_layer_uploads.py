"""Bulk uploads of centres, cameras and roads through the upload path."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import pyrosm
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import Engine, text

from gis.geo.crs import gcj02_to_wgs84
from gis.settings import Settings
from gis.store.demo_files import read_roads

from support import upload

OSM_EXTRACT = Path(pyrosm.__file__).parent / "data" / "test.osm.pbf"
"""A real OpenStreetMap extract bundled in the pyrosm package."""

CENTRES_CSV = """名称,类别,地址,建筑面积,开放时间,服务半径,经度,纬度
东风里社区党群服务站,党群服务站,滦河路12号,420,周一至周五 8:30-17:30,,118.32411,40.15712
向阳小区党群之家,党群之家,滦河路113号阳光小区,90,每天 9:00-20:00,250,118.33301,40.16721
"""


def _rows(engine: Engine, sql: str) -> list:
    with engine.connect() as conn:
        return conn.execute(text(sql)).all()


def test_centres_from_a_gbk_csv_in_gcj02(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    key = make_key("editor")
    path = tmp_path / "党群阵地.csv"
    path.write_bytes(CENTRES_CSV.encode("gbk"))
    before = _rows(fresh_engine, "SELECT count(*) FROM centres")[0][0]

    dry = upload(fresh_client, path, key, kind="centres", crs="gcj02")
    assert dry.status_code == 200, dry.json()
    report = dry.json()["report"]
    assert report["summary"]["changes"] == {
        "added": ["东风里社区党群服务站", "向阳小区党群之家"],
        "modified": [],
    }
    assert report["encoding"]["encoding"].upper() in ("GBK", "GB18030")
    assert _rows(fresh_engine, "SELECT count(*) FROM centres")[0][0] == before

    done = upload(fresh_client, path, key, kind="centres", crs="gcj02", dry_run=False)
    assert done.status_code == 201, done.json()
    rows = _rows(
        fresh_engine,
        "SELECT name, level, radius_m, floor_area_m2, opening_hours, region_code, "
        "ST_X(geom), ST_Y(geom) FROM centres WHERE name IN "
        "('东风里社区党群服务站', '向阳小区党群之家') ORDER BY name",
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("东风里社区党群服务站", "station", None, 420.0),
        ("向阳小区党群之家", "home", 250.0, 90.0),
    ]
    assert rows[0][4] == "周一至周五 8:30-17:30"
    assert (rows[0][6], rows[0][7]) == pytest.approx(gcj02_to_wgs84(118.32411, 40.15712), abs=1e-9)
    grids = _rows(
        fresh_engine,
        "SELECT min(r.code) FROM centres c JOIN regions r ON r.level = 'grid' "
        "AND r.valid_to IS NULL AND ST_Covers(r.geom, c.geom) "
        "WHERE c.name = '东风里社区党群服务站'",
    )
    assert rows[0][5] == grids[0][0] is not None

    again = upload(fresh_client, path, key, kind="centres", crs="gcj02", dry_run=False)
    assert again.json()["report"]["summary"]["changes"]["modified"] == [
        "东风里社区党群服务站",
        "向阳小区党群之家",
    ]
    assert _rows(fresh_engine, "SELECT count(*) FROM centres")[0][0] == before + 2


def _cameras(tmp_path: Path, device_ids: list[str]) -> Path:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [118.32 + i * 1e-3, 40.155]},
            "properties": {
                "国标编码": device_id,
                "点位名称": f"测试点位{i}",
                "方位角": 45.0,
                "视场角": 90.0,
                "可视距离": 60.0,
                "状态": "在线" if i % 2 else "离线",
            },
        }
        for i, device_id in enumerate(device_ids)
    ]
    path = tmp_path / "cameras.geojson"
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def test_cameras_all_or_nothing(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    key = make_key("editor")
    before = _rows(fresh_engine, "SELECT count(*) FROM cameras")[0][0]
    good = ["13022700011320090001", "13022700011310090002"]
    bad = _cameras(tmp_path, [*good, "13022700011330090003", good[0]])
    refused = upload(fresh_client, bad, key, kind="cameras", dry_run=False)
    assert (refused.status_code, refused.json()["code"]) == (422, "validation_failed")
    problems = refused.json()["details"]["report"]["problems"]
    assert {(p["feature"], p["kind"]) for p in problems} == {
        (3, "invalid_device_id"),
        (1, "duplicate_device_id"),
        (4, "duplicate_device_id"),
    }
    assert _rows(fresh_engine, "SELECT count(*) FROM cameras")[0][0] == before

    done = upload(fresh_client, _cameras(tmp_path, good), key, kind="cameras", dry_run=False)
    assert done.status_code == 201, done.json()
    stored = _rows(
        fresh_engine,
        "SELECT device_id, status, name FROM cameras WHERE device_id LIKE '1302270001132009%' "
        "OR device_id LIKE '1302270001131009%' ORDER BY device_id",
    )
    assert stored == [
        ("13022700011310090002", "online", "测试点位1"),
        ("13022700011320090001", "offline", "测试点位0"),
    ]


def test_roads_from_a_real_openstreetmap_extract(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
) -> None:
    meta, _, wkb, fields = pyogrio.raw.read(OSM_EXTRACT, layer="lines")
    columns = dict(zip(meta["fields"], fields, strict=True))
    roads = np.array([h is not None for h in columns["highway"]])
    barriers = ~roads & np.array(
        [w in ("river", "canal") or r in ("rail", "light_rail", "narrow_gauge")
         for w, r in zip(columns["waterway"], columns["railway"], strict=True)]
    )  # fmt: skip
    lines = shapely.get_parts(shapely.from_wkb(wkb[roads]))
    kept = shapely.get_parts(shapely.from_wkb(wkb[roads | barriers]))
    names = {n for n in columns["name"][roads | barriers] if n}

    response = upload(
        fresh_client, OSM_EXTRACT, make_key("editor"), kind="roads", layer="lines", dry_run=False
    )
    assert response.status_code == 201, response.json()
    demo = len(read_roads(Settings().demo_dir))  # the demo city's roads, replaced
    assert response.json()["report"]["summary"]["changes"] == {"added": len(kept), "removed": demo}
    stored = _rows(
        fresh_engine, "SELECT name, highway, ST_Length(geom::geography), kind FROM roads"
    )
    assert len(stored) == len(kept) and barriers.sum() >= 1, "rivers and railways kept"
    assert {r[0] for r in stored if r[0]} == names
    assert all(bool(r[1]) == (r[3] == "road") for r in stored)
    total = sum(r[2] for r in stored if r[3] == "road")
    geod = Geod(ellps="WGS84")  # the same lines' geodesic length, by pyproj
    assert total == pytest.approx(sum(geod.geometry_length(line) for line in lines), rel=1e-6)


def _stamp(engine: Engine, table: str) -> int:
    return _rows(engine, f"SELECT changes FROM layer_stamps WHERE name = '{table}'")[0][0]


def test_a_commit_writes_its_rows_in_one_statement_each(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """New rows in one INSERT, changed ones in one UPDATE: the layer's stamp (a statement
    trigger) moves once per statement, not once per row — row-by-row writes of 500 000
    cameras in one transaction piled up versions of the stamp's row (quadratic: an upload of
    the province's cameras ran for over 25 minutes)."""
    key = make_key("editor")
    ids = [f"13022700011329{i:06d}" for i in range(60)]
    before = _stamp(fresh_engine, "cameras")
    done = upload(fresh_client, _cameras(tmp_path, ids[:40]), key, kind="cameras", dry_run=False)
    assert done.status_code == 201, done.json()
    assert _stamp(fresh_engine, "cameras") == before + 1  # one INSERT
    path = _cameras(tmp_path, ids[20:])  # 20 stored (moved, renamed), 20 new
    done = upload(fresh_client, path, key, kind="cameras", dry_run=False)
    assert done.status_code == 201, done.json()
    assert _stamp(fresh_engine, "cameras") == before + 3  # one INSERT, one UPDATE
    stored = _rows(
        fresh_engine,
        "SELECT device_id, name, ST_X(geom), ST_Y(geom), azimuth_deg, status FROM cameras "
        "WHERE device_id LIKE '13022700011329%' ORDER BY device_id",
    )
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    expected = [(ids[i], f"测试点位{i}", 118.32 + i * 1e-3, 40.155) for i in range(20)] + [
        (
            f["properties"]["国标编码"],
            f["properties"]["点位名称"],
            *f["geometry"]["coordinates"],
        )
        for f in features
    ]
    assert [r[:4] for r in stored] == expected  # coordinates to the last bit
    assert {r[4] for r in stored} == {45.0}
