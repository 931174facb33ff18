"""Boundary uploads through the API: roles, dry runs, commits, reports, history, restore."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine

from gis.geo.crs import from_wgs84, parse_crs

from hierarchy import assert_sound
from support import state, upload, write_layer

COMMUNITY = "130227001001"
GEOD = Geod(ellps="WGS84")


def _community_grids(demo_grids: dict, community: str = COMMUNITY) -> tuple[list[dict], list]:
    features = [f for f in demo_grids["features"] if f["properties"]["parent_code"] == community]
    rows = [
        {
            "编码": f["properties"]["code"],
            "名称": f["properties"]["name"],
            "上级编码": f["properties"]["parent_code"],
            "户数": f["properties"]["households"],
            "网格员": f["properties"]["grid_worker"],
        }
        for f in features
    ]
    return rows, [shape(f["geometry"]) for f in features]


def _bite(a: shapely.Geometry, b: shapely.Geometry, area_m2: float) -> shapely.Polygon:
    """A triangle of about ``area_m2`` on a segment of the edge a shares with b, inside b.

    Its base is an existing segment, so adding it to a moves no other part of a's outline.
    """
    shared = shapely.line_merge(a.intersection(b))
    for p, q in sorted(
        zip(shared.coords[:-1], shared.coords[1:], strict=True),
        key=lambda s: GEOD.inv(*s[0], *s[1])[2],
    ):
        base_m = GEOD.inv(*p, *q)[2]
        depth = 2 * area_m2 / base_m / 111_000  # degrees, roughly; measured exactly later
        mid = ((p[0] + q[0]) / 2, (p[1] + q[1]) / 2)
        dx, dy = q[0] - p[0], q[1] - p[1]
        norm = (dx * dx + dy * dy) ** 0.5
        # towards b's centroid (the cells are convex), not a float-fragile covers() test
        c = b.centroid
        sign = 1 if dx * (c.y - p[1]) - dy * (c.x - p[0]) > 0 else -1
        apex = (mid[0] - sign * dy / norm * depth, mid[1] + sign * dx / norm * depth)
        triangle = shapely.Polygon([p, q, apex])
        if depth < 0.2 * norm and b.covers(triangle.centroid):
            return triangle
    raise AssertionError("no room for a bite")


def _geodesic_area(geom: shapely.Geometry) -> float:
    """Area on the ellipsoid of a polygon whose edges are straight in lon/lat, as in PostGIS.

    Densified first: a geodesic bows away from a long lon/lat-straight edge by millimetres,
    which is most of a sliver's area.
    """
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geom, 1e-6))[0])


def test_roles_guard_uploads(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    rows, geoms = _community_grids(demo_grids)
    path = write_layer(tmp_path / "grids.geojson", rows, geoms)
    no_key = upload(fresh_client, path, None, level="grid")
    assert (no_key.status_code, no_key.json()["code"]) == (401, "auth_required")
    bad_key = upload(fresh_client, path, "gm_not-a-key", level="grid")
    assert (bad_key.status_code, bad_key.json()["code"]) == (401, "invalid_api_key")
    viewer = upload(fresh_client, path, make_key("viewer"), level="grid")
    assert (viewer.status_code, viewer.json()["code"]) == (403, "insufficient_role")
    assert upload(fresh_client, path, make_key("editor"), level="grid").status_code == 200
    assert upload(fresh_client, path, make_key("admin"), level="grid").status_code == 200


def test_dry_run_reports_and_changes_nothing(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    rows, geoms = _community_grids(demo_grids)
    rows[0]["户数"] = 399
    path = write_layer(tmp_path / "grids.geojson", rows, geoms)
    before = state(fresh_engine)
    response = upload(fresh_client, path, make_key("editor"), level="grid")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "dry_run" and body["version"] is None
    report = body["report"]
    assert report["ok"] and report["problems"] == []
    assert report["summary"]["changes"] == {
        "added": [],
        "modified": [rows[0]["编码"]],
        "removed": [],
    }
    assert report["crs"] == {
        "crs": "EPSG:4326",
        "source": "file",
        "reason": report["crs"]["reason"],
        "doctor": None,
    }
    assert report["fields"]["mapped"] == {
        "code": "编码",
        "name": "名称",
        "parent_code": "上级编码",
        "households": "户数",
        "grid_worker": "网格员",
    }
    assert report["fields"]["unmapped"] == []
    assert report["encoding"]["encoding"].upper().replace("-", "") == "UTF8"
    version, regions, uploads = state(fresh_engine)
    assert (version, regions) == before[:2]
    assert uploads == before[2] + 1


def test_commit_makes_a_version_with_history(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    rows, geoms = _community_grids(demo_grids)
    code = rows[0]["编码"]
    rows[0]["户数"] = 399
    rows[0]["名称"] = "山庄里社区第一网格"
    for row in rows:
        row["备注"] = "测试"
    path = write_layer(tmp_path / "网格.geojson", rows, geoms)
    editor = make_key("editor")
    response = upload(fresh_client, path, editor, level="grid", dry_run=False)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["version"]) == ("committed", 2)
    grid = fresh_client.get(f"/api/v1/regions/{code}").json()
    assert grid["properties"]["households"] == 399
    assert grid["properties"]["name"] == "山庄里社区第一网格"
    assert grid["properties"]["attributes"]["备注"] == "测试"
    assert grid["properties"]["attributes"]["synthetic_geometry"] is True, "merged, not replaced"
    old = fresh_client.get(f"/api/v1/regions/{code}", params={"as_of": 1}).json()
    assert old["properties"]["name"] == "山庄里社区第1网格"

    history = fresh_client.get("/api/v1/uploads", headers={"Authorization": f"Bearer {editor}"})
    assert history.status_code == 200
    (item,) = history.json()["uploads"]
    assert (item["id"], item["status"], item["version"], item["filename"]) == (
        body["id"],
        "committed",
        2,
        "网格.geojson",
    )
    assert item["author"] == "test-editor"
    detail = fresh_client.get(
        f"/api/v1/uploads/{body['id']}", headers={"Authorization": f"Bearer {editor}"}
    ).json()
    assert detail["report"] == body["report"]
    assert detail["params"]["dry_run"] is False
    assert fresh_client.get("/api/v1/uploads").status_code == 401
    version = fresh_client.get("/api/v1/versions").json()["versions"][0]
    assert (version["action"], version["author"]) == ("upload", "test-editor")


def test_upload_replaces_the_children_of_its_parent(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    """Two grids merged into one: the merged set replaces the community's grids."""
    rows, geoms = _community_grids(demo_grids)
    merged = shapely.union_all(geoms[:2], grid_size=1e-7)
    rows = rows[1:]
    geoms = [merged, *geoms[2:]]
    path = write_layer(tmp_path / "merged.geojson", rows, geoms)
    response = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    assert response.status_code == 201, response.json()["report"]["problems"]
    changes = response.json()["report"]["summary"]["changes"]
    first = f"{COMMUNITY}001"
    assert changes["removed"] == [first]
    assert changes["modified"] == [f"{COMMUNITY}002"]
    children = fresh_client.get(f"/api/v1/regions/{COMMUNITY}/children").json()
    assert first not in [f["id"] for f in children["features"]]
    assert len(children["features"]) == len(rows)
    assert_sound(fresh_engine)


def test_one_overlap_and_one_gap_are_exactly_the_problems(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    demo_grids: dict,
    tmp_path: Path,
) -> None:
    rows, geoms = _community_grids(demo_grids)
    a, b, c = geoms[0], geoms[1], geoms[-1]
    bite = _bite(a, b, 2000)
    geoms[0] = shapely.union(a, bite)
    overlap_m2 = _geodesic_area(bite)
    # gap: a hole well inside c
    hole = c.representative_point().buffer(0.0003)
    assert c.contains(hole)
    geoms[-1] = c.difference(hole)
    gap_m2 = _geodesic_area(hole)
    assert 500 < overlap_m2 < 5000 and 500 < gap_m2 < 5000
    path = write_layer(tmp_path / "bad.geojson", rows, geoms)
    before = state(fresh_engine)

    response = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "validation_failed"
    report = body["details"]["report"]
    problems = sorted(report["problems"], key=lambda p: p["kind"])
    assert [(p["kind"], p["severity"]) for p in problems] == [
        ("gap", "error"),
        ("overlap", "error"),
    ]
    gap, overlap = problems
    assert gap["area_m2"] == pytest.approx(gap_m2, rel=0.01)
    assert overlap["area_m2"] == pytest.approx(overlap_m2, rel=0.01)
    assert {overlap["code"], overlap["other_code"]} == {rows[0]["编码"], rows[1]["编码"]}
    assert gap["parent_code"] == COMMUNITY
    assert shape(gap["geometry"]).buffer(1e-6).contains(hole.buffer(-1e-6))
    assert hole.contains(shapely.Point(gap["location"]))
    assert bite.buffer(1e-7).contains(shapely.Point(overlap["location"]))
    assert state(fresh_engine)[:2] == before[:2], "a rejected commit changes no boundaries"
    assert body["details"]["status"] == "rejected"


def test_repair_snaps_slivers_and_reports_each_change(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    rows, geoms = _community_grids(demo_grids)
    a, b = geoms[0], geoms[1]
    sliver = _bite(a, b, 0.5)
    geoms[0] = shapely.union(a, sliver)
    assert _geodesic_area(sliver) < 1
    path = write_layer(tmp_path / "sliver.gpkg", rows, geoms)  # exact doubles: mm matter
    editor = make_key("editor")

    plain = upload(fresh_client, path, editor, level="grid").json()["report"]
    assert [p["kind"] for p in plain["problems"]] == ["sliver_overlap"]
    assert plain["problems"][0]["severity"] == "warning" and plain["ok"]

    repaired = upload(fresh_client, path, editor, level="grid", repair=True).json()["report"]
    assert repaired["problems"] == []
    (fix,) = repaired["repairs"]
    assert fix["kind"] == "remove_overlap"
    assert fix["code"] == max(rows[0]["编码"], rows[1]["编码"])
    assert fix["area_m2"] == pytest.approx(_geodesic_area(sliver), rel=0.01)


def test_invalid_geometry_is_reported_with_its_reason_and_repaired(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    rows, geoms = _community_grids(demo_grids)
    grid = geoms[2]
    ring = list(grid.geoms[0].exterior.coords)[:-1]
    ring[0], ring[1] = ring[1], ring[0]  # crossing edges
    geoms[2] = shapely.MultiPolygon([shapely.Polygon(ring)])
    assert not geoms[2].is_valid
    path = write_layer(tmp_path / "invalid.geojson", rows, geoms)
    editor = make_key("editor")
    report = upload(fresh_client, path, editor, level="grid").json()["report"]
    invalid = [p for p in report["problems"] if p["kind"] == "invalid_geometry"]
    assert len(invalid) == 1 and invalid[0]["code"] == rows[2]["编码"]
    assert "Self-intersection" in invalid[0]["reason"]
    assert len(invalid[0]["location"]) == 2
    assert not report["ok"]
    repaired = upload(fresh_client, path, editor, level="grid", repair=True).json()["report"]
    assert [r["kind"] for r in repaired["repairs"]][:1] == ["make_valid"]
    assert not [p for p in repaired["problems"] if p["kind"] == "invalid_geometry"]


def test_gcj02_upload_lands_on_the_wgs84_geometry(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """A file traced on AMap (GCJ-02, ~500 m off) is converted back exactly."""
    rows, geoms = _community_grids(demo_grids)
    shifted = list(from_wgs84(geoms, parse_crs("gcj02")))
    offset_m = GEOD.inv(*geoms[0].centroid.coords[0], *shifted[0].centroid.coords[0])[2]
    assert 300 < offset_m < 800
    path = write_layer(tmp_path / "amap.geojson", rows, shifted)
    response = upload(fresh_client, path, make_key("editor"), level="grid", crs="gcj02")
    report = response.json()["report"]
    assert report["crs"]["crs"] == "GCJ-02" and report["crs"]["source"] == "parameter"
    assert report["ok"], report["problems"]
    # converted back within 1e-6°: no region moved further than that
    assert report["problems"] == []


def test_every_boundary_upload_records_its_features_for_the_review_map(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path, demo_grids: dict
) -> None:
    """A clean dry run keeps the file's regions with what the upload would do to each, so the
    review map can show them (added / modified / unchanged); errors leave ``change`` null."""
    key = make_key("editor")
    first = demo_grids["features"][0]
    moved = json.loads(json.dumps(demo_grids))
    moved["features"][0]["properties"]["name"] = "改名网格"
    path = tmp_path / "grids.geojson"
    path.write_text(json.dumps(moved, ensure_ascii=False), encoding="utf-8")
    response = upload(fresh_client, path, key, level="grid")
    assert response.status_code == 200, response.json()
    upload_id = response.json()["id"]
    stored = fresh_client.get(
        f"/api/v1/uploads/{upload_id}", headers={"Authorization": f"Bearer {key}"}
    ).json()
    features = stored["features"]["features"]
    assert len(features) == len(demo_grids["features"])
    changes = {f["properties"]["code"]: f["properties"]["change"] for f in features}
    assert changes[first["properties"]["code"]] == "modified"
    assert set(changes.values()) == {"modified", "unchanged"}
    assert (
        shape(features[1]["geometry"])
        .normalize()
        .equals_exact(shape(demo_grids["features"][1]["geometry"]).normalize(), 1e-6)
    )
