"""Point lookup: the in-process index answers exactly what PostGIS ST_Covers answers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import numpy as np
import prcoords
import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import shape
from sqlalchemy import Engine, text

from support import GRIDMAP, serve_app, upload_renamed_grid

BBOX = (118.27, 40.125, 118.37, 40.18)  # 栗乡街道 and some way around it

ORACLE = """
    SELECT (SELECT r.code FROM regions r
            WHERE r.level = 'grid' AND r.valid_to IS NULL
              AND ST_Covers(r.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))
            ORDER BY r.code LIMIT 1)
    FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i)
    ORDER BY p.i
"""


def _postgis(engine: Engine, xs: list[float], ys: list[float]) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.scalars(text(ORACLE), {"xs": xs, "ys": ys}))


def _batch(client: TestClient, xs: list[float], ys: list[float], crs: str = "wgs84") -> list:
    points = [{"lon": x, "lat": y, "id": i} for i, (x, y) in enumerate(zip(xs, ys, strict=True))]
    response = client.post("/api/v1/lookup/batch", json={"crs": crs, "points": points})
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["id"] for r in results] == list(range(len(xs)))
    return results


def _codes(results: list) -> list[str | None]:
    return [r["grid"]["code"] if r["covered"] else None for r in results]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.floats(BBOX[0], BBOX[2], allow_nan=False),
            st.floats(BBOX[1], BBOX[3], allow_nan=False),
        ),
        min_size=1,
        max_size=200,
    )
)
def test_random_points_match_postgis(
    client: TestClient, engine: Engine, points: list[tuple[float, float]]
) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    assert _codes(_batch(client, xs, ys)) == _postgis(engine, xs, ys)


def _grid_geometries(client: TestClient) -> list[shapely.Geometry]:
    body = client.get("/api/v1/regions", params={"level": "grid", "limit": 1000}).json()
    return [shape(f["geometry"]) for f in body["features"]]


def test_vertices_and_edges_match_postgis_with_the_lowest_code_rule(
    client: TestClient, engine: Engine
) -> None:
    # the stored geometries themselves: vertices read back from 7-decimal GeoJSON text may
    # be a float's last bit away from the stored ones, i.e. just outside
    with engine.connect() as conn:
        wkb = conn.scalars(
            text("SELECT ST_AsBinary(geom) FROM regions WHERE level = 'grid' ORDER BY code")
        )
        grids = list(shapely.from_wkb([bytes(g) for g in wkb]))
    vertices = np.unique(shapely.get_coordinates(grids), axis=0)
    rings = [shapely.get_coordinates(g.geoms[0].exterior) for g in grids]
    midpoints = np.vstack([(r[:-1] + r[1:]) / 2 for r in rings])
    thirds = np.vstack([r[:-1] + (r[1:] - r[:-1]) / 3 for r in rings])
    points = np.vstack([vertices, midpoints, thirds])
    xs, ys = points[:, 0].tolist(), points[:, 1].tolist()
    results = _batch(client, xs, ys)
    assert _codes(results) == _postgis(engine, xs, ys)
    # every vertex of a grid is covered; shared ones go to the lowest covering code
    on_vertex = results[: len(vertices)]
    assert all(r["covered"] for r in on_vertex)
    with engine.connect() as conn:
        covering = conn.execute(
            text(
                "SELECT p.i, array_agg(r.code ORDER BY r.code) FROM unnest("
                "CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS p(x, y, i) "
                "JOIN regions r ON r.level = 'grid' AND r.valid_to IS NULL "
                "AND ST_Covers(r.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326)) "
                "GROUP BY p.i HAVING count(*) > 1 ORDER BY p.i"
            ),
            {"xs": xs[: len(vertices)], "ys": ys[: len(vertices)]},
        ).all()
    assert len(covering) > 100, "shared vertices exercise the tie rule"
    for i, codes in covering:
        assert on_vertex[i - 1]["grid"]["code"] == codes[0]


def test_single_lookup_answers_the_chain(client: TestClient) -> None:
    grid = client.get("/api/v1/regions/130227001003002").json()
    inside = shape(grid["geometry"]).representative_point()
    body = client.get("/api/v1/lookup", params={"lon": inside.x, "lat": inside.y}).json()
    assert body["covered"] is True
    assert body["grid"]["code"] == "130227001003002"
    assert body["grid"]["name"] == grid["properties"]["name"]
    assert body["grid"]["grid_worker"] == grid["properties"]["grid_worker"]
    assert body["grid"]["party_branch"] == grid["properties"]["party_branch"]
    assert body["community"] == {"code": "130227001003", "name": "水源里社区"}
    assert body["street"] == {"code": "130227001", "name": "栗乡街道"}
    assert body["county"] == {"code": "130227", "name": "迁西县"}
    assert (body["version"], body["crs"]) == (1, "EPSG:4326")


@pytest.mark.parametrize(
    ("crs", "forward"), [("gcj02", prcoords.wgs_gcj), ("bd09", prcoords.wgs_bd)]
)
def test_amap_and_baidu_coordinates(
    client: TestClient, crs: str, forward: Callable[..., tuple[float, float]]
) -> None:
    """Converted with an independent implementation (prcoords), the grid is the same."""
    for grid in _grid_geometries(client)[::7]:
        p = grid.representative_point()
        lat, lon = forward((p.y, p.x))
        body = client.get("/api/v1/lookup", params={"lon": lon, "lat": lat, "crs": crs}).json()
        direct = client.get("/api/v1/lookup", params={"lon": p.x, "lat": p.y}).json()
        assert body["grid"] == direct["grid"]
        assert abs(body["point"]["lon"] - p.x) < 1e-6 and abs(body["point"]["lat"] - p.y) < 1e-6


def test_outside_every_grid_gives_the_nearest_in_metres(client: TestClient) -> None:
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4527", always_xy=True)
    metric = [
        shapely.transform(g, lambda xy: np.column_stack(to_gk.transform(*xy.T)))
        for g in _grid_geometries(client)
    ]
    codes = [
        f["id"]
        for f in client.get("/api/v1/regions", params={"level": "grid", "limit": 1000}).json()[
            "features"
        ]
    ]
    for lon, lat in [(118.25, 40.15), (118.40, 40.12), (118.32, 40.20), (118.0, 40.0)]:
        body = client.get("/api/v1/lookup", params={"lon": lon, "lat": lat}).json()
        assert body["covered"] is False and body["grid"] is None
        point = shapely.Point(to_gk.transform(lon, lat))
        distances = [g.distance(point) for g in metric]
        best = int(np.argmin(distances))
        assert body["nearest"]["grid"]["code"] == codes[best]
        # Gauss-Krüger zone 39 scale near 118.3°E is within 0.02 % of true distance
        assert body["nearest"]["distance_m"] == pytest.approx(distances[best], rel=1e-3)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"lat": 40.1}, "invalid_parameter"),
        ({"lon": "abc", "lat": 40.1}, "invalid_parameter"),
        ({"lon": "nan", "lat": 40.1}, "invalid_coordinates"),
        ({"lon": "inf", "lat": 40.1}, "invalid_coordinates"),
        ({"lon": 40.1, "lat": 118.3}, "coordinates_out_of_range"),
        ({"lon": 118.3, "lat": 40.1, "crs": "mars"}, "unknown_crs"),
        ({"lon": 118.3, "lat": 40.1, "as_of": 9}, "version_not_found"),
    ],
)
def test_bad_lookups(client: TestClient, params: dict, code: str) -> None:
    response = client.get("/api/v1/lookup", params=params)
    assert response.json()["code"] == code
    assert response.status_code == (404 if code == "version_not_found" else 422)


def test_bad_batches(client: TestClient) -> None:
    too_many = {"points": [{"lon": 118.3, "lat": 40.15}] * 10_001}
    response = client.post("/api/v1/lookup/batch", json=too_many)
    assert (response.status_code, response.json()["code"]) == (413, "batch_too_large")
    malformed = client.post("/api/v1/lookup/batch", json={"points": [{"lon": 118.3}]})
    assert (malformed.status_code, malformed.json()["code"]) == (422, "invalid_parameter")
    not_json = client.post(
        "/api/v1/lookup/batch", content=b"lon,lat", headers={"content-type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["code"]) == (422, "invalid_parameter")


def test_a_commit_changes_answers_in_every_worker_at_once(
    fresh_db_url: str, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """Two uvicorn workers; an upload renames a grid, then the command line restores the old
    boundaries: both workers answer each new version in the very next request."""
    feature = next(
        f for f in demo_grids["features"] if f["properties"]["code"] == "130227001002001"
    )
    inside = shape(feature["geometry"]).representative_point()
    query = {"lon": inside.x, "lat": inside.y}
    env = {**os.environ, "GRIDMAP_DATABASE_URL": fresh_db_url}
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log", workers=2) as base:
        # a new connection per request, so both workers answer (and cache version 1)
        before = [httpx.get(f"{base}/api/v1/lookup", params=query).json() for _ in range(40)]
        assert {(b["version"], b["grid"]["code"]) for b in before} == {(1, "130227001002001")}
        upload_renamed_grid(base, demo_grids, feature, make_key("editor"), tmp_path)
        after = [httpx.get(f"{base}/api/v1/lookup", params=query).json() for _ in range(40)]
        assert {(a["version"], a["grid"]["name"]) for a in after} == {
            (2, "清泉里社区第1网格（已调整）")
        }
        # a commit by another process: the command line restores version 1 as version 3
        subprocess.run([GRIDMAP, "versions", "restore", "1"], env=env, check=True)
        restored = [httpx.get(f"{base}/api/v1/lookup", params=query).json() for _ in range(40)]
        assert {(r["version"], r["grid"]["name"]) for r in restored} == {
            (3, feature["properties"]["name"])
        }


def test_cli_streams_a_gbk_csv_of_points(
    db_url: str, client: TestClient, engine: Engine, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    xs = rng.uniform(BBOX[0], BBOX[2], 2500)
    ys = rng.uniform(BBOX[1], BBOX[3], 2500)
    source = tmp_path / "工单.csv"
    lines = ["工单号,地址,经度,纬度"] + [
        f"A{i},迁西县栗乡街道{i}号,{x!r},{y!r}"
        for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True))
    ]
    source.write_bytes("\n".join(lines).encode("gbk"))
    target = tmp_path / "out.csv"
    env = {**os.environ, "GRIDMAP_DATABASE_URL": db_url}
    args = [
        GRIDMAP,
        "lookup",
        str(source),
        "-o",
        str(target),
        "--lon-col",
        "经度",
        "--lat-col",
        "纬度",
        "--chunk",
        "1000",
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with target.open(encoding="utf-8", newline="") as f:
        out = list(csv.DictReader(f))
    assert len(out) == 2500
    assert out[0]["地址"] == "迁西县栗乡街道0号"
    codes = [r["grid_code"] or None for r in out]
    assert codes == _postgis(engine, xs.tolist(), ys.tolist())
    covered = [r for r in out if r["covered"] == "True"]
    assert covered and all(r["county_name"] == "迁西县" for r in covered)

    broken = tmp_path / "broken.csv"
    broken.write_text("lon,lat\n118.3,40.15\n118.3,北纬40度\n", encoding="utf-8")
    bad_target = tmp_path / "bad.csv"
    failed = subprocess.run(
        [GRIDMAP, "lookup", str(broken), "-o", str(bad_target)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 1 and "invalid_csv" in failed.stderr and "3" in failed.stderr
    assert not bad_target.exists(), "no partial output"


def test_batch_as_geojson_and_csv(client: TestClient, engine: Engine) -> None:
    rng = np.random.default_rng(5)
    xs = rng.uniform(BBOX[0], BBOX[2], 300).tolist()
    ys = rng.uniform(BBOX[1], BBOX[3], 300).tolist()
    expected = _postgis(engine, xs, ys)
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": f"工单{i}",
                "properties": {},
                "geometry": {"type": "Point", "coordinates": [x, y]},
            }
            for i, (x, y) in enumerate(zip(xs, ys, strict=True))
        ],
    }
    geo = client.post(
        "/api/v1/lookup/batch",
        content=json.dumps(collection),
        headers={"content-type": "application/geo+json"},
    ).json()["results"]
    assert _codes(geo) == expected and geo[7]["id"] == "工单7"
    table = "id,lon,lat\n" + "".join(
        f"单{i},{x!r},{y!r}\n" for i, (x, y) in enumerate(zip(xs, ys, strict=True))
    )
    rows = client.post(
        "/api/v1/lookup/batch",
        content=table.encode("gb18030"),
        headers={"content-type": "text/csv"},
    ).json()["results"]
    assert _codes(rows) == expected and rows[3]["id"] == "单3"


@pytest.mark.parametrize(
    ("content", "media", "status", "code"),
    [
        (b"lon,lat\n118.3,abc\n", "text/csv", 422, "invalid_csv"),
        (b"a,b\n118.3,40.1\n", "text/csv", 422, "invalid_csv"),
        (
            b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
            b'{"type": "LineString", "coordinates": [[118, 40], [118.1, 40]]}}]}',
            "application/geo+json",
            422,
            "invalid_geojson",
        ),
        (b"<points/>", "application/xml", 415, "unsupported_media_type"),
    ],
)
def test_malformed_batches(
    client: TestClient, content: bytes, media: str, status: int, code: str
) -> None:
    response = client.post("/api/v1/lookup/batch", content=content, headers={"content-type": media})
    assert (response.status_code, response.json()["code"]) == (status, code)
