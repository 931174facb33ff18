"""Coverage, grid standards and siting over HTTP on the demo city, each checked against a
brute-force geodesic computation from the demo's files (pyproj, shapely) — not against
``gis.analysis.coverage``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from shapely.geometry import shape
from sqlalchemy import Engine

from gis.access.auth import create_key
from gis.settings import Settings
from gis.store.demo_files import read_addresses, read_cameras, read_centres

from support import upload, write_layer

GEOD = Geod(ellps="WGS84")
SETTINGS = Settings()
STREET = "130227001"
BUILDINGS = [r for r in read_addresses(SETTINGS.demo_dir) if r["households"]]
CENTRES = read_centres(SETTINGS.demo_dir)
CAMERAS = read_cameras(SETTINGS.demo_dir)


@pytest.fixture(scope="module")
def viewer(engine: Engine) -> dict[str, str]:
    """Analyses need a viewer key: the Authorization header of one in the shared database."""
    with engine.begin() as conn:
        return {"Authorization": f"Bearer {create_key(conn, role='viewer', name='analyst')}"}


def _xy(rows: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([float(r["lon"]) for r in rows]), np.array([float(r["lat"]) for r in rows])


def _metres_and_azimuths(
    px: np.ndarray, py: np.ndarray, fx: np.ndarray, fy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(metres, forward azimuth facility → point) for every point × facility."""
    n, m = len(px), len(fx)
    azimuth, _, metres = GEOD.inv(
        np.tile(fx, n), np.tile(fy, n), np.repeat(px, m), np.repeat(py, m)
    )
    return metres.reshape(n, m), azimuth.reshape(n, m)


def _centre_reach(px: np.ndarray, py: np.ndarray, centres: list[dict[str, str]]) -> np.ndarray:
    fx, fy = _xy(centres)
    radius = np.array(
        [float(c["radius_m"] or SETTINGS.centre_radius_m[c["level"]]) for c in centres]
    )
    metres, _ = _metres_and_azimuths(px, py, fx, fy)
    return metres <= radius


def _camera_sight(px: np.ndarray, py: np.ndarray) -> np.ndarray:
    online = [c for c in CAMERAS if c["status"] == "online"]
    fx, fy = _xy(online)
    az = np.array([float(c["azimuth_deg"]) for c in online])
    fov = np.array([float(c["fov_deg"]) for c in online])
    rng = np.array([float(c["range_m"]) for c in online])
    metres, azimuth = _metres_and_azimuths(px, py, fx, fy)
    off = np.abs((azimuth - az + 180) % 360 - 180)
    return (metres <= rng) & ((off <= fov / 2) | (fov >= 360) | (metres == 0))


@pytest.fixture(scope="module")
def grids(client: TestClient, viewer: dict[str, str]) -> list[dict[str, Any]]:
    params = {"level": "grid", "limit": 1000}  # as a viewer: workers masked, not absent
    body = client.get("/api/v1/regions", params=params, headers=viewer).json()
    return sorted(body["features"], key=lambda f: f["properties"]["code"])


def _grid_of(grids: list[dict[str, Any]], px: np.ndarray, py: np.ndarray) -> list[str | None]:
    polygons = [shape(g["geometry"]) for g in grids]
    out = []
    for x, y in zip(px.tolist(), py.tolist(), strict=True):
        hits = [
            g["properties"]["code"]
            for g, p in zip(grids, polygons, strict=True)
            if p.covers(shapely.Point(x, y))
        ]
        out.append(min(hits) if hits else None)
    return out


@pytest.mark.parametrize("layer", ["centres", "cameras"])
def test_coverage_equals_brute_force(
    client: TestClient, viewer: dict[str, str], grids: list[dict[str, Any]], layer: str
) -> None:
    px, py = _xy(BUILDINGS)
    households = np.array([int(b["households"]) for b in BUILDINGS])
    grid = np.array(_grid_of(grids, px, py), dtype=object)
    inside = grid != None  # noqa: E711 — element-wise
    seen = (_centre_reach(px, py, CENTRES) if layer == "centres" else _camera_sight(px, py)).any(
        axis=1
    )
    body = client.get(
        "/api/v1/analysis/coverage", params={"region": STREET, "layer": layer}, headers=viewer
    )
    assert body.status_code == 200, body.json()
    report = body.json()
    totals = report["totals"]
    assert totals["buildings"] == inside.sum()
    assert totals["households"] == households[inside].sum()
    assert totals["covered_buildings"] == (seen & inside).sum()
    assert totals["covered_households"] == households[seen & inside].sum()
    assert 0 < totals["covered_households"] < totals["households"]
    uncovered = {u["code"] for u in report["uncovered"]}
    assert uncovered == {
        b["code"] for b, s, i in zip(BUILDINGS, seen, inside, strict=True) if i and not s
    }
    for row in report["grids"]:
        mine = grid == row["code"]
        assert row["covered_households"] == households[mine & seen].sum(), row["code"]
        assert row["buildings"] == mine.sum()
    if layer == "cameras":
        offline = {c["device_id"] for c in CAMERAS if c["status"] == "offline"}
        assert len(report["facilities_excluded"]) == len(offline) > 0
        in_grid = sum(r["facilities_in_grid"] for r in report["grids"])
        assert in_grid == report["totals"]["cameras_in_grids"]
    else:
        assert report["redundant_centres"] is not None
    assert report["crs"] == "EPSG:4326"


def test_grid_standards_equal_an_independent_check(
    client: TestClient, viewer: dict[str, str], grids: list[dict[str, Any]]
) -> None:
    body = client.get(
        "/api/v1/analysis/grid-standards", params={"region": STREET}, headers=viewer
    ).json()
    by_code = {g["code"]: set(g["problems"]) for g in body["grids"]}
    low, high = SETTINGS.grid_households_min, SETTINGS.grid_households_max
    fx, fy = _xy(CENTRES)
    radius = np.array(
        [float(c["radius_m"] or SETTINGS.centre_radius_m[c["level"]]) for c in CENTRES]
    )
    for g in grids:
        p, polygon = g["properties"], shape(g["geometry"])
        # a centre reaches a grid when it lies inside or within its radius of the outline
        # (the outline sampled every metre, geodesic distances)
        ring = shapely.segmentize(polygon.boundary, 1e-5)
        rx, ry = shapely.get_coordinates(ring).T
        metres, _ = _metres_and_azimuths(rx, ry, fx, fy)
        inside = shapely.contains_xy(polygon, fx, fy)
        reached = (inside | (metres.min(axis=0) <= radius)).any()
        expected = {
            "households_below_band": p["households"] is not None and p["households"] < low,
            "households_above_band": p["households"] is not None and p["households"] > high,
            "no_grid_worker": not p["grid_worker"],
            "no_party_branch": not p["party_branch"],
            "no_centre_in_reach": not reached,
        }
        got = by_code[p["code"]]
        for problem, failed in expected.items():
            assert (problem in got) == failed, (p["code"], problem)
    counts = {c["code"]: c for c in body["communities"]}
    for community in counts.values():
        mine = [g for g in body["grids"] if g["community_code"] == community["code"]]
        assert community["grids"] == len(mine)
        assert community.get("no_centre_in_reach", 0) == sum(
            "no_centre_in_reach" in g["problems"] for g in mine
        )
    assert any(body["communities"]) and body["household_band"] == [low, high]


def test_siting_gain_is_real(fresh_client: TestClient, make_key: Callable[[str], str]) -> None:
    viewer = {"Authorization": f"Bearer {make_key('viewer')}"}
    before = fresh_client.get(
        "/api/v1/analysis/coverage", params={"region": STREET}, headers=viewer
    ).json()
    plan = fresh_client.post(
        "/api/v1/analysis/siting", json={"region": STREET, "k": 2}, headers=viewer
    )
    assert plan.status_code == 200, plan.json()
    plan = plan.json()
    assert plan["households_covered_before"] == before["totals"]["covered_households"]
    assert plan["households_gained"] > 0
    assert plan["households_covered_after"] > plan["households_covered_before"]
    assert len(plan["sites"]) == 2 and plan["radius_m"] == 500

    key = {"Authorization": f"Bearer {make_key('editor')}"}
    for i, site in enumerate(plan["sites"]):
        created = fresh_client.post(
            "/api/v1/centres",
            json={
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [site["lon"], site["lat"]]},
                "properties": {"name": f"新建党群服务站{i + 1}", "level": "station"},
            },
            headers=key,
        )
        assert created.status_code == 201
    after = fresh_client.get(
        "/api/v1/analysis/coverage", params={"region": STREET}, headers=viewer
    ).json()
    assert after["totals"]["covered_households"] == plan["households_covered_after"]


def test_bad_analysis_requests(client: TestClient, viewer: dict[str, str]) -> None:
    unknown = client.get("/api/v1/analysis/coverage", params={"region": "999999"}, headers=viewer)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "region_not_found")
    layer = client.get(
        "/api/v1/analysis/coverage", params={"region": STREET, "layer": "x"}, headers=viewer
    )
    assert (layer.status_code, layer.json()["code"]) == (422, "invalid_parameter")
    for body in (
        {"region": STREET, "k": 0},
        {"region": STREET, "k": 2, "radius_m": -5},
        {"region": STREET, "k": 2, "radius_m": 1e7},
    ):
        bad = client.post("/api/v1/analysis/siting", json=body, headers=viewer)
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_parameter")
    cameras = client.post(
        "/api/v1/analysis/siting",
        json={"region": STREET, "k": 1, "layer": "cameras"},
        headers=viewer,
    )
    assert (cameras.status_code, cameras.json()["code"]) == (422, "invalid_radius")


def test_siting_too_large(db_url: str, viewer: dict[str, str]) -> None:
    from api.app import create_app

    small = Settings(database_url=db_url, siting_max_pairs=1000)
    with TestClient(create_app(small)) as client:
        too_large = client.post(
            "/api/v1/analysis/siting", json={"region": STREET, "k": 2}, headers=viewer
        )
    assert (too_large.status_code, too_large.json()["code"]) == (413, "siting_too_large")


def test_camera_coverage_of_imported_roads(
    fresh_client: TestClient, make_key: Callable[[str], str], tmp_path: Path
) -> None:
    online = [c for c in CAMERAS if c["status"] == "online"][:6]
    lines = []
    for c in online:  # a road through each camera, across its view
        x, y, az = float(c["lon"]), float(c["lat"]), float(c["azimuth_deg"])
        ends = GEOD.fwd([x, x], [y, y], [az + 30, az + 210], [250, 250])
        lines.append(shapely.LineString([(ends[0][0], ends[1][0]), (ends[0][1], ends[1][1])]))
    path = write_layer(
        tmp_path / "roads.geojson",
        [{"name": f"测试路{i}", "highway": "residential"} for i in range(len(lines))],
        lines,
    )
    done = upload(fresh_client, path, make_key("editor"), kind="roads", dry_run=False)
    assert done.status_code == 201, done.json()
    report = fresh_client.get(
        "/api/v1/analysis/coverage",
        params={"region": STREET, "layer": "cameras"},
        headers={"Authorization": f"Bearer {make_key('viewer')}"},
    ).json()["roads"]

    # brute force: the roads inside the street's grids, sampled every ~0.5 m
    street = shape(fresh_client.get(f"/api/v1/regions/{STREET}").json()["geometry"])
    total = seen = 0.0
    for line in lines:
        clipped = line.intersection(street)
        for part in getattr(clipped, "geoms", [clipped]):
            xs, ys = shapely.get_coordinates(shapely.segmentize(part, 5e-6)).T
            _, _, step = GEOD.inv(xs[:-1], ys[:-1], xs[1:], ys[1:])
            mid_x, mid_y = (xs[:-1] + xs[1:]) / 2, (ys[:-1] + ys[1:]) / 2
            sight = _camera_sight(mid_x, mid_y).any(axis=1)
            total += step.sum()
            seen += step[sight].sum()
    assert report["length_m"] == pytest.approx(total, rel=1e-4)
    assert report["covered_pct"] == pytest.approx(100 * seen / total, abs=0.5)
    assert 0 < report["covered_pct"] < 100


@pytest.mark.parametrize("level", ["county", "street", "community", "grid"])
def test_an_analysis_of_a_region_at_any_level_lists_exactly_the_grids_below_it(
    client: TestClient, viewer: dict[str, str], grids: list[dict[str, Any]], level: str
) -> None:
    """The walk down the hierarchy (regions that are not grids, then their grids) against
    the parent links of the regions list; a grid's own analysis is its row of its street's."""
    listed = client.get("/api/v1/regions", params={"limit": 1000}, headers=viewer).json()
    parent = {f["properties"]["code"]: f["properties"]["parent_code"] for f in listed["features"]}
    name = {f["properties"]["code"]: f["properties"]["name"] for f in listed["features"]}
    levels = {f["properties"]["code"]: f["properties"]["level"] for f in listed["features"]}

    def chain(code: str | None) -> list[str]:
        return [] if code is None else [code, *chain(parent.get(code))]

    grid = grids[len(grids) // 2]["properties"]["code"]
    region = next(c for c in chain(grid) if levels[c] == level)
    below = sorted(
        g["properties"]["code"] for g in grids if region in chain(g["properties"]["code"])
    )
    assert below and (level != "grid" or below == [region])
    params = {"region": region, "layer": "centres"}
    report = client.get("/api/v1/analysis/coverage", params=params, headers=viewer).json()
    standards = client.get(
        "/api/v1/analysis/grid-standards", params={"region": region}, headers=viewer
    ).json()
    for body in (report, standards):
        assert [g["code"] for g in body["grids"]] == below
        for row in body["grids"]:
            assert row["community_code"] == parent[row["code"]]
            assert row["community_name"] == name[parent[row["code"]]]
    street = client.get(
        "/api/v1/analysis/coverage", params={"region": STREET, "layer": "centres"}, headers=viewer
    ).json()
    rows = {g["code"]: g for g in street["grids"]}
    for row in report["grids"]:
        assert row == rows[row["code"]]
