"""Personal data (个人信息保护法) by role, across every surface: anonymous callers get none of
it, viewers get it masked (``138****5678``, ``李*英``), editors get it whole.  One
classification (``gis.access.privacy``) drives lookups, regions, OGC items, vector tiles, map pages
and exports; vector tiles carry none for anyone."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyogrio import read_dataframe
from sqlalchemy import Engine, text

from gis.access.privacy import attribute_kind, mask_name, mask_phone, redact, shown

from support import features, tile_at

GRID = "130227001002001"
COMMUNITY = "130227001002"
SECRETARY, SECRETARY_PHONE = "欧阳建国", "13900001111"
"""A branch secretary kept among the grid's free attributes (an upload's unmapped fields)."""


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0315-5612345") == "031*****2345"
    assert mask_phone("12345") == "*****"
    assert mask_name("李秀英") == "李*英"
    assert mask_name("王芳") == "王*"
    assert mask_name("欧阳建国") == "欧**国"
    assert mask_name("张") == "*"
    assert attribute_kind("书记电话") == "phone" and attribute_kind("楼长") == "name"
    assert attribute_kind("备注") is None and attribute_kind("households") is None
    assert shown("13812345678", "phone", None) is None
    assert shown("13812345678", "phone", "viewer") == "138****5678"
    assert shown("13812345678", "phone", "editor") == "13812345678"


def test_redact_copies_and_never_changes_the_answer() -> None:
    grid = {"code": "1", "grid_worker": "李秀英", "grid_worker_phone": "13812345678"}
    answer = {"grid": grid, "nearest": {**grid}, "attributes": {"书记": "王芳", "备注": "x"}}
    seen = redact(answer, "viewer")
    assert seen["grid"]["grid_worker"] == "李*英" and seen["nearest"]["grid_worker"] == "李*英"
    assert seen["attributes"] == {"书记": "王*", "备注": "x"}
    assert redact(answer, None)["attributes"] == {"备注": "x"}
    assert grid["grid_worker"] == "李秀英", "the cached original is untouched"
    assert redact(answer, "admin") is answer


@pytest.fixture
def people(fresh_engine: Engine) -> dict[str, Any]:
    """The grid's worker and phone, a secretary added to its attributes, a point inside it
    and an address of the registry inside it."""
    with fresh_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE regions SET attributes = attributes || CAST(:a AS jsonb) "
                "WHERE code = :c AND valid_to IS NULL"
            ),
            {
                "c": GRID,
                "a": json.dumps({"网格党支部书记": SECRETARY, "书记电话": SECRETARY_PHONE}),
            },
        )
        row = conn.execute(
            text(
                "SELECT grid_worker, grid_worker_phone, ST_X(ST_PointOnSurface(geom)) AS lon, "
                "ST_Y(ST_PointOnSurface(geom)) AS lat FROM regions "
                "WHERE code = :c AND valid_to IS NULL"
            ),
            {"c": GRID},
        ).one()
        address = conn.scalar(
            text(
                "SELECT a.address FROM addresses a JOIN regions r ON ST_Within(a.geom, r.geom) "
                "WHERE r.code = :c AND r.valid_to IS NULL ORDER BY a.code LIMIT 1"
            ),
            {"c": GRID},
        )
    assert row.grid_worker and row.grid_worker_phone and address
    return {
        "names": [row.grid_worker, SECRETARY],
        "phones": [row.grid_worker_phone, SECRETARY_PHONE],
        "lon": row.lon,
        "lat": row.lat,
        "address": address,
    }


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _surfaces(
    client: TestClient, headers: dict[str, str], p: dict[str, Any], tmp: Path
) -> dict[str, str]:
    """Every surface's answer about the grid, as text."""

    def get(url: str, **params: Any) -> str:
        response = client.get(url, params=params, headers=headers)
        assert response.status_code == 200, (url, response.text[:300])
        return response.text

    point = {"lon": p["lon"], "lat": p["lat"], "id": "a"}
    batch = client.post("/api/v1/lookup/batch", json={"points": [point]}, headers=headers)
    batch_csv = client.post(
        "/api/v1/lookup/batch", json={"points": [point]}, params={"format": "csv"}, headers=headers
    )
    z, x, y = tile_at(p["lon"], p["lat"], 15)
    tile = client.get(f"/tiles/grids/{z}/{x}/{y}.mvt", headers=headers)
    gpkg = client.get(
        "/api/v1/export",
        params={"level": "grid", "format": "gpkg", "parent": COMMUNITY},
        headers=headers,
    )
    (tmp / "grids.gpkg").write_bytes(gpkg.content)
    exported = read_dataframe(tmp / "grids.gpkg")
    tiled = features(tile.content, "grids")
    assert GRID in {f["properties"]["code"] for f in tiled}
    return {
        "lookup": get("/api/v1/lookup", lon=p["lon"], lat=p["lat"]),
        "lookup address": get("/api/v1/lookup", address=p["address"]),
        "lookup batch": batch.text,
        "lookup batch csv": batch_csv.content.decode("utf-8-sig"),
        "regions": get("/api/v1/regions", level="grid", parent=COMMUNITY),
        "region": get(f"/api/v1/regions/{GRID}"),
        "children": get(f"/api/v1/regions/{COMMUNITY}/children"),
        "ogc items": get("/ogc/collections/grids/items", code=GRID),
        "ogc item": get(f"/ogc/collections/grids/items/{GRID}"),
        "tile": json.dumps(tiled, ensure_ascii=False),
        "map page": get(f"/maps/region/{COMMUNITY}"),
        "export geojson": get("/api/v1/export", level="grid", format="geojson", parent=COMMUNITY),
        "export gpkg": exported.drop(columns="geometry").to_json(force_ascii=False),
    }


def test_personal_data_matrix(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    people: dict[str, Any],
    tmp_path: Path,
) -> None:
    names, phones = people["names"], people["phones"]
    whole = [*names, *phones]
    masked = [*map(mask_name, names), *map(mask_phone, phones)]
    keys = {role: make_key(role) for role in ("viewer", "editor")}

    anonymous = _surfaces(fresh_client, {}, people, tmp_path)
    for surface, body in anonymous.items():
        for value in whole + masked:
            assert value not in body, f"anonymous {surface} shows {value}"

    viewer = _surfaces(fresh_client, _bearer(keys["viewer"]), people, tmp_path)
    editor = _surfaces(fresh_client, _bearer(keys["editor"]), people, tmp_path)
    for surface in anonymous:
        for value in whole:
            assert value not in viewer[surface], f"viewer {surface} shows {value} whole"
        if surface == "tile":  # one public answer for everyone: nothing personal at all
            assert not any(v in editor[surface] for v in whole + masked)
            continue
        if surface.startswith("export"):  # files come back: no masked column to write back
            assert not any(v in viewer[surface] for v in masked), surface
            assert all(v in editor[surface] for v in whole), surface
            continue
        # what each surface carries: the CSV and map popups name the worker only
        carried = (
            [0]
            if surface in ("lookup batch csv", "map page")
            else [0, 2]
            if surface.startswith("lookup")
            else [0, 1, 2, 3]
        )
        for i in carried:
            assert masked[i] in viewer[surface], f"viewer {surface} lacks {masked[i]}"
            assert whole[i] in editor[surface], f"editor {surface} lacks {whole[i]}"


def test_personal_fields_are_not_queryables(client: TestClient) -> None:
    """A filter on a phone would confirm it, masked or not: personal fields are no filter."""
    queryables = client.get("/ogc/collections/grids/queryables").json()["properties"]
    assert "grid_worker" not in queryables and "grid_worker_phone" not in queryables
    refused = client.get(
        "/ogc/collections/grids/items", params={"grid_worker_phone": "13812345678"}
    )
    assert refused.status_code == 400
    tilejson = client.get("/tiles/grids.json").json()
    assert "grid_worker" not in tilejson["vector_layers"][0]["fields"]


def test_viewers_see_workers_masked_in_analyses(
    fresh_client: TestClient,
    make_key: Callable[[str], str],
    people: dict[str, Any],
) -> None:
    viewer, worker = _bearer(make_key("viewer")), people["names"][0]
    standards = fresh_client.get(
        "/api/v1/analysis/grid-standards", params={"region": COMMUNITY}, headers=viewer
    )
    assert standards.status_code == 200, standards.text
    assert worker not in standards.text and mask_name(worker) in standards.text
