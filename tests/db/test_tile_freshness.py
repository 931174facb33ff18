"""The tile cache is never stale: an upload, a REST write or any committed write (psql, say)
reaches the next tile, of every uvicorn worker; ``as_of`` still serves the old boundaries."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from tiles.layers import BUFFER, EXTENT, FACILITY_ZOOMS, tolerance_m

from support import (
    CITY,
    GRID_CODE,
    WORLD,
    clipped,
    features,
    get_tile,
    serve_app,
    tile_at,
    tile_box,
    to_mercator,
    upload,
    write_layer,
)


def _strip_moved(demo_grids: dict) -> tuple[list[dict[str, Any]], list[shapely.Geometry], str]:
    """The grids of 清泉里社区 with a strip of grid 001 given to a neighbour, 001 renamed."""
    siblings = [
        f for f in demo_grids["features"] if f["properties"]["parent_code"] == "130227001002"
    ]
    shapes = {f["properties"]["code"]: shape(f["geometry"]) for f in siblings}
    donor = shapes[GRID_CODE]
    neighbour = next(
        c for c, g in shapes.items() if c != GRID_CODE and donor.intersection(g).length > 1e-3
    )
    strip = donor.intersection(shapes[neighbour].buffer(0.0004))
    shapes[GRID_CODE] = donor.difference(strip)
    shapes[neighbour] = shapes[neighbour].union(strip)
    rows = [
        {
            "code": f["properties"]["code"],
            "name": f["properties"]["name"]
            + ("（已调整）" if f["properties"]["code"] == GRID_CODE else ""),
            "parent_code": "130227001002",
        }
        for f in siblings
    ]
    return rows, [shapes[r["code"]] for r in rows], neighbour


def _grid(data: bytes, code: str) -> dict[str, Any]:
    return next(f for f in features(data, "grids") if f["properties"]["code"] == code)


def test_as_of_serves_the_old_boundaries(
    fresh_client: TestClient, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    z, x, y = tile_at(
        *shape(
            next(
                f["geometry"]
                for f in demo_grids["features"]
                if f["properties"]["code"] == GRID_CODE
            )
        )
        .representative_point()
        .coords[0],
        15,
    )
    before = get_tile(fresh_client, "grids", z, x, y)
    rows, shapes, _ = _strip_moved(demo_grids)
    path = write_layer(tmp_path / "grids.geojson", rows, shapes)
    committed = upload(fresh_client, path, make_key("editor"), level="grid", dry_run=False)
    assert committed.status_code == 201, committed.json()
    after = get_tile(fresh_client, "grids", z, x, y)
    assert after.headers["x-boundary-version"] == "2"
    assert _grid(after.content, GRID_CODE)["properties"]["name"].endswith("（已调整）")
    assert after.headers["etag"] != before.headers["etag"]
    old = get_tile(fresh_client, "grids", z, x, y, as_of=1)
    assert old.headers["x-boundary-version"] == "1"
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert old.content == before.content and old.headers["etag"] == before.headers["etag"]
    assert get_tile(fresh_client, "grids", z, x, y, as_of=2).content == after.content
    communities = get_tile(fresh_client, "communities", z, x, y)
    assert communities.headers["x-boundary-version"] == "2"  # unchanged tile, new key, same tag
    assert (
        communities.headers["etag"]
        == get_tile(fresh_client, "communities", z, x, y, as_of=1).headers["etag"]
    )


def test_writes_to_centres_and_cameras_reach_the_next_tile(
    fresh_client: TestClient, make_key: Callable[[str], str]
) -> None:
    key = make_key("editor")
    auth = {"Authorization": f"Bearer {key}"}
    z, x, y = tile_at(*CITY, 14)
    before = features(get_tile(fresh_client, "centres", z, x, y).content, "centres")
    assert get_tile(fresh_client, "centres", z, x, y).headers["x-tile-cache"] == "hit"
    created = fresh_client.post(
        "/api/v1/centres",
        json={"type": "Feature",
              "geometry": {"type": "Point", "coordinates": [CITY[0] + 0.001, CITY[1]]},
              "properties": {"name": "新建党群服务站", "level": "station", "radius_m": 420}},
        headers=auth,
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    after = get_tile(fresh_client, "centres", z, x, y)
    assert after.headers["x-tile-cache"] == "miss"
    new = [
        f for f in features(after.content, "centres") if f["properties"]["name"] == "新建党群服务站"
    ]
    assert len(features(after.content, "centres")) == len(before) + 1
    assert new[0]["properties"]["radius_m"] == 420
    areas = features(get_tile(fresh_client, "centre_areas", z, x, y).content, "centre_areas")
    assert new[0]["id"] in {f["id"] for f in areas}

    sectors = features(
        get_tile(
            fresh_client, "camera_sectors", *tile_at(*CITY, FACILITY_ZOOMS["camera_sectors"])
        ).content,
        "camera_sectors",
    )
    camera = sectors[0]
    patched = fresh_client.patch(
        f"/api/v1/cameras/{camera['id']}",
        json={"properties": {"status": "offline"}},
        headers=auth,
    )
    assert patched.status_code == 200, patched.json()
    sectors = features(
        get_tile(
            fresh_client, "camera_sectors", *tile_at(*CITY, FACILITY_ZOOMS["camera_sectors"])
        ).content,
        "camera_sectors",
    )
    assert camera["id"] not in {f["id"] for f in sectors}


def test_any_committed_write_to_centres_or_cameras_changes_their_tiles(
    fresh_client: TestClient, fresh_engine: Engine
) -> None:
    """Writes not made through gridmap (psql, say) count too; rolled back ones do not."""
    z, x, y = tile_at(*CITY, 14)
    url = f"/tiles/centres/{z}/{x}/{y}.mvt"
    first = fresh_client.get(url)
    assert fresh_client.get(url).headers["x-tile-cache"] == "hit"
    rename = text("UPDATE centres SET name = '新名称' WHERE name = '栗乡街道党群服务中心'")
    with fresh_engine.connect() as conn:
        conn.execute(rename)
        conn.rollback()
    kept = fresh_client.get(url)
    assert kept.headers["x-tile-cache"] == "hit" and kept.content == first.content
    with fresh_engine.begin() as conn:
        conn.execute(rename)
    renamed = fresh_client.get(url)
    assert renamed.headers["x-tile-cache"] == "miss"
    assert "新名称" in {f["properties"]["name"] for f in features(renamed.content, "centres")}
    assert get_tile(fresh_client, "cameras", z, x, y).status_code == 200
    with fresh_engine.begin() as conn:
        conn.execute(text("TRUNCATE cameras"))
    assert get_tile(fresh_client, "cameras", z, x, y).status_code == 204
    assert get_tile(fresh_client, "camera_sectors", z, x, y).status_code == 204


def test_a_commit_changes_the_next_tile_of_every_worker(
    fresh_db_url: str, make_key: Callable[[str], str], demo_grids: dict, tmp_path: Path
) -> None:
    """Two uvicorn workers cache a grid tile; an upload moves a boundary and renames the grid:
    every following request, whichever worker answers, has the new geometry and name."""
    rows, shapes, _ = _strip_moved(demo_grids)
    donor = shapes[[r["code"] for r in rows].index(GRID_CODE)]
    z, x, y = tile_at(*donor.representative_point().coords[0], 14)
    url = f"/tiles/grids/{z}/{x}/{y}.mvt"
    with serve_app(fresh_db_url, tmp_path / "uvicorn.log", workers=2) as base:
        # a new connection per request, so both workers answer (and cache version 1)
        before = [httpx.get(base + url, timeout=60) for _ in range(40)]
        assert {(r.status_code, r.headers["x-boundary-version"]) for r in before} == {(200, "1")}
        assert {r.headers["x-tile-cache"] for r in before} == {"miss", "hit"}
        assert len({r.content for r in before}) == 1
        old = _grid(before[0].content, GRID_CODE)
        path = write_layer(tmp_path / "grids.geojson", rows, shapes)
        with httpx.Client(base_url=base, timeout=120) as client:
            committed = upload(client, path, make_key("editor"), level="grid", dry_run=False)
        assert committed.status_code == 201, committed.json()
        assert committed.json()["version"] == 2
        after = [httpx.get(base + url, timeout=60) for _ in range(40)]
        versions = [r.headers["x-boundary-version"] for r in after]
        assert set(versions) == {"2"}, versions
        assert len({r.content for r in after}) == 1
        new = _grid(after[0].content, GRID_CODE)
        assert new["properties"]["name"] == old["properties"]["name"] + "（已调整）"
        drawn = to_mercator(new["geometry"], z, x, y)
        clip = shapely.box(*tile_box(z, x, y, grow=BUFFER))
        expected = clipped(donor, clip)
        allowed = tolerance_m(z) + 2 * WORLD / 2**z / EXTENT
        assert shapely.hausdorff_distance(drawn, expected) <= allowed
        assert (
            shapely.hausdorff_distance(to_mercator(old["geometry"], z, x, y), expected)
            > 10 * allowed
        )
        # centres have no versions: their tiles are keyed by the table's data stamp
        centres = f"/tiles/centres/{z}/{x}/{y}.mvt"
        cached = [httpx.get(base + centres, timeout=60) for _ in range(20)]
        assert {r.headers["x-tile-cache"] for r in cached} == {"miss", "hit"}
        point = donor.representative_point()
        with httpx.Client(base_url=base, timeout=60) as client:
            created = client.post(
                "/api/v1/centres",
                json={"type": "Feature", "geometry": shapely.geometry.mapping(point),
                      "properties": {"name": "新建党群之家", "level": "home"}},
                headers={"Authorization": f"Bearer {make_key('editor')}"},
            )  # fmt: skip
        assert created.status_code == 201, created.json()
        names = [
            {f["properties"]["name"] for f in features(r.content, "centres")}
            for r in (httpx.get(base + centres, timeout=60) for _ in range(20))
        ]
        assert all("新建党群之家" in n for n in names)
